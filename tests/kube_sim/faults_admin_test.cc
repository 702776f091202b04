// kube-sim fault injection and admin endpoints over HTTP: 429 with Retry-After, error rates,
// exact error counts, path filters, latency, watches cut after N events, state dump/load/reset,
// --load at start and token-file rotation.
#include <gtest/gtest.h>

#include <fstream>

#include "sim_test_util.h"

namespace kubesim_test {
namespace {

using ocpvdr::testing::KubeSimOptions;
using ocpvdr::testing::TempDir;

TEST(KubeSimFaults, TooManyRequestsCarriesRetryAfterAndAStatus) {
  KubeSimProcess sim;
  sim.setFaults({{"errorCount", 2}, {"errorCode", 429}, {"retryAfterSeconds", 7}});
  auto r1 = sim.send("GET", "/api/v1/persistentvolumes");
  EXPECT_EQ(r1.status, 429);
  EXPECT_EQ(r1.header("Retry-After"), "7");
  json s = r1.json();
  EXPECT_EQ(s["kind"], "Status");
  EXPECT_EQ(s["reason"], "TooManyRequests");
  EXPECT_EQ(s["code"], 429);
  EXPECT_EQ(s["details"]["retryAfterSeconds"], 7);
  EXPECT_EQ(sim.send("GET", "/api/v1/persistentvolumes").status, 429);
  EXPECT_EQ(sim.send("GET", "/api/v1/persistentvolumes").status, 200);  // exactly two
  // Admin, health and discovery are never faulted.
  sim.setFaults({{"errorRate", 1.0}, {"errorCode", 503}});
  EXPECT_EQ(sim.send("GET", "/api/v1/persistentvolumes").status, 503);
  EXPECT_EQ(sim.send("GET", "/healthz").status, 200);
  EXPECT_EQ(sim.send("GET", "/api/v1").status, 200);
  EXPECT_EQ(sim.send("GET", "/admin/stats").status, 200);
  sim.setFaults({});
  EXPECT_EQ(sim.send("GET", "/api/v1/persistentvolumes").status, 200);
}

TEST(KubeSimFaults, ErrorRateIsHonouredAndFiltersByPath) {
  KubeSimProcess sim;
  sim.setFaults({{"errorRate", 0.5},
                 {"errorCode", 500},
                 {"seed", 42},
                 {"pathPrefix", "/api/v1/persistentvolumes"}});
  int failures = 0;
  const int n = 200;
  for (int i = 0; i < n; ++i) {
    auto r = sim.send("GET", "/api/v1/persistentvolumes");
    if (r.status == 500) {
      ++failures;
      EXPECT_EQ(r.json()["reason"], "InternalError");
    } else {
      EXPECT_EQ(r.status, 200);
    }
    EXPECT_EQ(sim.send("GET", "/api/v1/namespaces").status, 200);  // outside the prefix
  }
  EXPECT_GT(failures, n * 3 / 10);
  EXPECT_LT(failures, n * 7 / 10);

  sim.setFaults({{"latencyMs", 300}});
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(sim.send("GET", "/api/v1/namespaces").status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 290ms);
  sim.setFaults({});
  auto bad = sim.send("POST", "/admin/faults", R"({"errorRate": 3})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(sim.send("POST", "/admin/faults", R"({"surprise": 1})").status, 400);
}

TEST(KubeSimFaults, WatchesAreCutAfterNEvents) {
  KubeSimProcess sim(KubeSimOptions{.extraArgs = {"--fault-close-watches-after-events", "3"}});
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(
        sim.send("POST", "/api/v1/persistentvolumes", pv("p" + std::to_string(i)).dump()).status,
        201);
  }
  WatchClient w(sim, "/api/v1/persistentvolumes?watch=true");
  std::string lastRv;
  for (int i = 0; i < 3; ++i) {
    auto e = w.next();
    ASSERT_TRUE(e) << i;
    lastRv = (*e)["object"]["metadata"]["resourceVersion"];
  }
  ASSERT_TRUE(w.waitEnd(3000ms));
  EXPECT_TRUE(w.cleanEnd());
  EXPECT_FALSE(w.next(100ms));
  // Resuming from the last RV seen gets exactly the rest (the client's contract after a cut).
  sim.setFaults({});
  WatchClient rest(sim, "/api/v1/persistentvolumes?watch=true&resourceVersion=" + lastRv);
  std::vector<std::string> names;
  while (auto e = rest.next(500ms)) names.push_back((*e)["object"]["metadata"]["name"]);
  EXPECT_EQ(names, (std::vector<std::string>{"p3", "p4"}));
}

TEST(KubeSimAdmin, StateDumpResetAndLoad) {
  KubeSimProcess sim;
  ASSERT_EQ(createNamespace(sim, "demo")["kind"], "Namespace");
  ASSERT_EQ(sim.send("POST", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines",
                     vm("demo", "v").dump())
                .status,
            201);
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("p").dump()).status, 201);
  json state = sim.admin("GET", "/admin/state");
  const auto rvBefore = std::stoull(state["resourceVersion"].get<std::string>());
  EXPECT_GE(state["objects"].size(), 3u);

  WatchClient w(sim, "/api/v1/persistentvolumes?watch=true&resourceVersion=" +
                         state["resourceVersion"].get<std::string>());
  ASSERT_TRUE(waitForWatchers(sim, 1));
  json reset = sim.admin("POST", "/admin/reset");
  EXPECT_TRUE(w.waitEnd(2000ms));  // watches end on reset
  EXPECT_EQ(sim.send("GET", "/api/v1/persistentvolumes/p").status, 404);
  EXPECT_EQ(sim.send("GET", "/api/v1/namespaces/default").status, 200);  // defaults recreated
  EXPECT_GT(std::stoull(reset["resourceVersion"].get<std::string>()), rvBefore);  // never back

  json loaded = sim.admin("POST", "/admin/state", state);
  EXPECT_GE(std::stoull(loaded["resourceVersion"].get<std::string>()), rvBefore);
  json p = sim.request("GET", "/api/v1/persistentvolumes/p");
  json dumped;
  for (const auto& o : state["objects"]) {
    if (o["kind"] == "PersistentVolume" && o["metadata"]["name"] == "p") dumped = o;
  }
  ASSERT_TRUE(dumped.is_object());
  EXPECT_EQ(p, dumped);  // identical, uid and resourceVersion included
  EXPECT_EQ(sim.request("GET", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines/v")["kind"],
            "VirtualMachine");
  // A watch from before the load is expired: clients must re-list.
  WatchClient old(
      sim, "/api/v1/persistentvolumes?watch=true&resourceVersion=" + std::to_string(rvBefore - 1));
  auto e = old.next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ERROR");

  auto bad = sim.send("POST", "/admin/state",
                      R"({"objects":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.json()["message"].get<std::string>().find("objects[0]"), std::string::npos);
}

TEST(KubeSimAdmin, LoadFileAtStartAndTokenFileRotation) {
  TempDir dir;
  json state = {{"objects", {pv("from-file"), vm("preloaded", "vm-a")}}};
  const auto stateFile = dir.write("state.json", state.dump());
  const auto tokenFile = dir.write("token", "first-token\n");
  KubeSimProcess sim(KubeSimOptions{.token = "static-token",
                                    .extraArgs = {"--token-file", tokenFile.string()},
                                    .loadFile = stateFile.string()});
  EXPECT_EQ(sim.request("GET", "/api/v1/persistentvolumes/from-file")["metadata"]["name"],
            "from-file");
  // The VM's namespace did not exist in the file: it was created.
  EXPECT_EQ(sim.send("GET", "/api/v1/namespaces/preloaded").status, 200);

  auto with = [&](const std::string& token) {
    return sim.send("GET", "/api/v1/namespaces", "", "", {{"Authorization", "Bearer " + token}})
        .status;
  };
  EXPECT_EQ(with("first-token"), 200);
  EXPECT_EQ(with("static-token"), 200);
  // Rotate: the new token works, the old one stops working.
  std::this_thread::sleep_for(20ms);  // a distinct mtime
  {
    std::ofstream f(tokenFile);
    f << "second-token\n";
  }
  EXPECT_EQ(with("second-token"), 200);
  EXPECT_EQ(with("first-token"), 401);
}

TEST(KubeSimAdmin, UnknownControllerIsRefusedByName) {
  try {
    KubeSimProcess sim(KubeSimOptions{.extraArgs = {"--controller", "no-such-controller"}});
    ADD_FAILURE() << "kube-sim started with an unknown controller";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown controller \"no-such-controller\""),
              std::string::npos)
        << e.what();
  }
}

TEST(KubeSimAdmin, BadCommandLineFailsTheStartWithStderr) {
  try {
    KubeSimProcess sim(KubeSimOptions{.extraArgs = {"--compaction-window", "lots"}});
    ADD_FAILURE() << "kube-sim started with a bad flag";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("compaction-window"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kubesim_test
