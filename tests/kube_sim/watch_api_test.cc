// kube-sim watches over HTTP: stream shape against the recorded watch, resume from a
// resourceVersion, synthetic ADDED, bookmarks, 410 as an ERROR event, timeoutSeconds, selector
// transitions and fifty concurrent watchers.
#include <gtest/gtest.h>

#include <atomic>

#include "sim_test_util.h"

namespace kubesim_test {
namespace {

using ocpvdr::testing::KubeSimOptions;

TEST(KubeSimWatch, StreamMatchesTheRecordedWatchShape) {
  KubeSimProcess sim(KubeSimOptions{.extraArgs = {"--bookmark-interval", "1"}});
  const auto rv0 = sim.request("GET", "/api/v1/persistentvolumes")["metadata"]["resourceVersion"]
                       .get<std::string>();
  WatchClient w(
      sim, "/api/v1/persistentvolumes?watch=true&allowWatchBookmarks=true&resourceVersion=" + rv0);
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("pv-1").dump()).status, 201);
  ASSERT_EQ(sim.send("PATCH", "/api/v1/persistentvolumes/pv-1",
                     R"({"metadata":{"labels":{"tier":"gold"}}})", "application/merge-patch+json")
                .status,
            200);
  ASSERT_EQ(sim.send("DELETE", "/api/v1/persistentvolumes/pv-1").status, 200);

  const auto recorded = fixtureLines("kube-api/watch_pv.ndjson");
  std::map<std::string, json> recordedByType;
  for (const auto& e : recorded) recordedByType[e["type"]] = e;  // the last of each type
  std::vector<json> got;
  bool sawBookmark = false;
  std::uint64_t lastRv = std::stoull(rv0);
  while (got.size() < 3 || !sawBookmark) {
    auto e = w.next(4000ms);
    ASSERT_TRUE(e) << "stream stalled after " << got.size() << " events";
    EXPECT_EQ(topKeys(*e), topKeys(recorded[1]));  // {"type","object"}
    const std::string type = (*e)["type"];
    ASSERT_TRUE(recordedByType.count(type)) << type;
    if (type == "BOOKMARK") {
      // Same key set as the recorded bookmark (the one without initial-events annotations).
      EXPECT_EQ(keySet((*e)["object"]), keySet(recordedByType["BOOKMARK"]["object"]));
      EXPECT_GE(rvOf((*e)["object"]), lastRv);
      sawBookmark = true;
      continue;
    }
    EXPECT_EQ(topKeys((*e)["object"]), topKeys(recordedByType[type]["object"]));
    EXPECT_GT(rvOf((*e)["object"]), lastRv);  // strictly increasing
    lastRv = rvOf((*e)["object"]);
    got.push_back(*e);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0]["type"], "ADDED");
  EXPECT_EQ(got[1]["type"], "MODIFIED");
  EXPECT_EQ(got[1]["object"]["metadata"]["labels"]["tier"], "gold");
  EXPECT_EQ(got[2]["type"], "DELETED");
  // DELETED carries the last state with a new resourceVersion.
  EXPECT_EQ(got[2]["object"]["metadata"]["labels"]["tier"], "gold");
  EXPECT_GT(rvOf(got[2]["object"]), rvOf(got[1]["object"]));
  EXPECT_EQ(w.status(), 200);
  EXPECT_EQ(w.header("Transfer-Encoding"), "chunked");
}

TEST(KubeSimWatch, ResumesFromAResourceVersionWithoutReplayingOlderEvents) {
  KubeSimProcess sim;
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("a").dump()).status, 201);
  json b = sim.request("POST", "/api/v1/persistentvolumes", pv("b").dump());
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("c").dump()).status, 201);
  ASSERT_EQ(sim.send("DELETE", "/api/v1/persistentvolumes/a").status, 200);

  WatchClient w(sim, "/api/v1/persistentvolumes?watch=true&resourceVersion=" +
                         b["metadata"]["resourceVersion"].get<std::string>());
  auto e1 = w.next();
  ASSERT_TRUE(e1);
  EXPECT_EQ((*e1)["type"], "ADDED");
  EXPECT_EQ((*e1)["object"]["metadata"]["name"], "c");
  auto e2 = w.next();
  ASSERT_TRUE(e2);
  EXPECT_EQ((*e2)["type"], "DELETED");
  EXPECT_EQ((*e2)["object"]["metadata"]["name"], "a");
  EXPECT_FALSE(w.next(300ms));  // nothing older comes

  // Then live.
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("d").dump()).status, 201);
  auto e3 = w.next();
  ASSERT_TRUE(e3);
  EXPECT_EQ((*e3)["object"]["metadata"]["name"], "d");
}

TEST(KubeSimWatch, WithoutResourceVersionStartsWithSyntheticAdded) {
  KubeSimProcess sim;
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("x").dump()).status, 201);
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("y").dump()).status, 201);
  WatchClient w(sim, "/api/v1/persistentvolumes?watch=true");
  auto a = w.next();
  auto b = w.next();
  ASSERT_TRUE(a && b);
  EXPECT_EQ((*a)["type"], "ADDED");
  EXPECT_EQ((*b)["type"], "ADDED");
  EXPECT_EQ((*a)["object"]["metadata"]["name"], "x");
  EXPECT_EQ((*b)["object"]["metadata"]["name"], "y");
  ASSERT_EQ(sim.send("DELETE", "/api/v1/persistentvolumes/x").status, 200);
  auto c = w.next();
  ASSERT_TRUE(c);
  EXPECT_EQ((*c)["type"], "DELETED");

  // sendInitialEvents=true ends the initial burst with an annotated bookmark (watch-list).
  WatchClient wl(
      sim,
      "/api/v1/persistentvolumes?watch=true&sendInitialEvents=true&allowWatchBookmarks=true"
      "&resourceVersionMatch=NotOlderThan");
  auto first = wl.next();
  ASSERT_TRUE(first);
  EXPECT_EQ((*first)["type"], "ADDED");
  auto end = wl.next();
  ASSERT_TRUE(end);
  EXPECT_EQ((*end)["type"], "BOOKMARK");
  EXPECT_EQ((*end)["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
  const auto recorded = fixtureLines("kube-api/watch_pv.ndjson");
  EXPECT_EQ(keySet((*end)["object"]), keySet(recorded[0]["object"]));
}

TEST(KubeSimWatch, BookmarksArePeriodicAndOnRequest) {
  {
    KubeSimProcess sim(KubeSimOptions{.extraArgs = {"--bookmark-interval", "1"}});
    WatchClient w(sim, "/api/v1/persistentvolumes?watch=true&allowWatchBookmarks=true");
    const auto t0 = std::chrono::steady_clock::now();
    auto b1 = w.next(3000ms);
    auto b2 = w.next(3000ms);
    ASSERT_TRUE(b1 && b2);
    EXPECT_EQ((*b1)["type"], "BOOKMARK");
    EXPECT_EQ((*b2)["type"], "BOOKMARK");
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 1500ms);  // paced, not a burst
    // Bookmarks carry the current resourceVersion (the namespaces created at start).
    EXPECT_EQ((*b2)["object"]["metadata"]["resourceVersion"],
              sim.request("GET", "/api/v1/namespaces")["metadata"]["resourceVersion"]);
    // Without allowWatchBookmarks, none.
    WatchClient quiet(sim, "/api/v1/persistentvolumes?watch=true");
    EXPECT_FALSE(quiet.next(1500ms));
  }
  KubeSimProcess sim;  // default interval: 60 s
  WatchClient w(sim, "/api/v1/persistentvolumes?watch=true&allowWatchBookmarks=true");
  ASSERT_TRUE(waitForWatchers(sim, 1));
  ASSERT_EQ(sim.send("POST", "/api/v1/namespaces",
                     R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"moves-rv"}})")
                .status,
            201);
  EXPECT_FALSE(w.next(300ms));  // namespace events are not PV events
  json r = sim.admin("POST", "/admin/bookmark");
  EXPECT_EQ(r["watchers"], 1);
  auto b = w.next(2000ms);
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)["type"], "BOOKMARK");
  EXPECT_EQ((*b)["object"]["metadata"]["resourceVersion"],
            sim.request("GET", "/api/v1/namespaces/moves-rv")["metadata"]["resourceVersion"]);
}

TEST(KubeSimWatch, ExpiredResourceVersionIsAnErrorEventInA200Stream) {
  KubeSimProcess sim(KubeSimOptions{.compactionWindow = 2});
  json first = sim.request("POST", "/api/v1/persistentvolumes", pv("p1").dump());
  for (const char* n : {"p2", "p3", "p4"}) {
    ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv(n).dump()).status, 201);
  }
  WatchClient w(sim, "/api/v1/persistentvolumes?watch=true&resourceVersion=" +
                         first["metadata"]["resourceVersion"].get<std::string>());
  auto e = w.next();
  ASSERT_TRUE(e);
  const auto recorded = fixtureLines("kube-api/watch_410_expired.ndjson");
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(*e, recorded[0]);  // the very event the real server sends
  EXPECT_TRUE(w.waitEnd(2000ms));
  EXPECT_EQ(w.status(), 200);
  EXPECT_FALSE(w.next(100ms));

  // Forced compaction expires everything before the current RV, too.
  json last = sim.request("GET", "/api/v1/persistentvolumes/p4");
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("p5").dump()).status, 201);
  sim.compact();
  WatchClient w2(sim, "/api/v1/persistentvolumes?watch=true&resourceVersion=" +
                          last["metadata"]["resourceVersion"].get<std::string>());
  auto e2 = w2.next();
  ASSERT_TRUE(e2);
  EXPECT_EQ((*e2)["type"], "ERROR");
  EXPECT_EQ((*e2)["object"]["code"], 410);
}

TEST(KubeSimWatch, TimeoutSecondsEndsTheStreamCleanly) {
  KubeSimProcess sim;
  const auto t0 = std::chrono::steady_clock::now();
  WatchClient w(sim, "/api/v1/persistentvolumes?watch=true&timeoutSeconds=1");
  ASSERT_TRUE(w.waitEnd(15000ms));
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, 900ms);
  // The default watch lives 30 minutes: anything near the 1 s asked for is the timeout working
  // (a loose bound, so a loaded 2-core CI machine cannot fail it).
  EXPECT_LT(took, 10s);
  EXPECT_TRUE(w.cleanEnd());
  EXPECT_EQ(w.status(), 200);
}

TEST(KubeSimWatch, SelectorsTurnTransitionsIntoAddedAndDeleted) {
  KubeSimProcess sim;
  const std::string rv =
      sim.request("GET", "/api/v1/persistentvolumes")["metadata"]["resourceVersion"];
  WatchClient w(
      sim, "/api/v1/persistentvolumes?watch=true&labelSelector=tier%3Dgold&resourceVersion=" + rv);
  WatchClient byName(
      sim,
      "/api/v1/persistentvolumes?watch=true&fieldSelector=metadata.name%3Dother&resourceVersion=" +
          rv);
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("p").dump()).status, 201);
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("other").dump()).status, 201);
  auto label = [&](const char* tier) {
    json patch = {{"metadata", {{"labels", {{"tier", tier ? json(tier) : json(nullptr)}}}}}};
    ASSERT_EQ(sim.send("PATCH", "/api/v1/persistentvolumes/p", patch.dump(),
                       "application/merge-patch+json")
                  .status,
              200);
  };
  label("gold");
  label("gold");  // no-op: no event at all
  ASSERT_EQ(sim.send("PATCH", "/api/v1/persistentvolumes/p",
                     R"({"spec":{"persistentVolumeReclaimPolicy":"Delete"}})",
                     "application/merge-patch+json")
                .status,
            200);
  label(nullptr);

  std::vector<std::string> types;
  for (int i = 0; i < 3; ++i) {
    auto e = w.next();
    ASSERT_TRUE(e) << i;
    EXPECT_EQ((*e)["object"]["metadata"]["name"], "p");
    types.push_back((*e)["type"]);
  }
  EXPECT_EQ(types, (std::vector<std::string>{"ADDED", "MODIFIED", "DELETED"}));
  EXPECT_FALSE(w.next(300ms));
  auto o = byName.next();
  ASSERT_TRUE(o);
  EXPECT_EQ((*o)["object"]["metadata"]["name"], "other");
  EXPECT_FALSE(byName.next(300ms));
}

TEST(KubeSimWatch, NamespacedWatchSeesOnlyItsNamespace) {
  KubeSimProcess sim;
  ASSERT_EQ(createNamespace(sim, "a")["kind"], "Namespace");
  ASSERT_EQ(createNamespace(sim, "b")["kind"], "Namespace");
  WatchClient w(sim, "/apis/kubevirt.io/v1/namespaces/b/virtualmachines?watch=true");
  ASSERT_TRUE(waitForWatchers(sim, 1));
  ASSERT_EQ(
      sim.send("POST", "/apis/kubevirt.io/v1/namespaces/a/virtualmachines", vm("a", "v").dump())
          .status,
      201);
  ASSERT_EQ(
      sim.send("POST", "/apis/kubevirt.io/v1/namespaces/b/virtualmachines", vm("b", "v").dump())
          .status,
      201);
  auto e = w.next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["object"]["metadata"]["namespace"], "b");
  EXPECT_FALSE(w.next(300ms));
}

TEST(KubeSimWatch, FiftyConcurrentWatchersAllSeeEveryEventAndRequestsStayFast) {
  KubeSimProcess sim;
  const std::string rv =
      sim.request("GET", "/api/v1/persistentvolumes")["metadata"]["resourceVersion"];
  std::vector<std::unique_ptr<WatchClient>> watchers;
  for (int i = 0; i < 50; ++i) {
    watchers.push_back(std::make_unique<WatchClient>(
        sim,
        "/api/v1/persistentvolumes?watch=true&allowWatchBookmarks=true&resourceVersion=" + rv));
  }
  ASSERT_TRUE(waitForWatchers(sim, 50, 10000ms));
  // Ordinary requests are not starved by fifty open watches.
  for (int i = 0; i < 20; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(
        sim.send("POST", "/api/v1/persistentvolumes", pv("pv-" + std::to_string(i)).dump()).status,
        201);
    // A starved pool would block the request until a watch ends (never); seconds of scheduling
    // delay on a loaded machine are not starvation.
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  }
  for (std::size_t i = 0; i < watchers.size(); ++i) {
    for (int k = 0; k < 20; ++k) {
      auto e = watchers[i]->nextNonBookmark(5000ms);
      ASSERT_TRUE(e) << "watcher " << i << " event " << k;
      ASSERT_EQ((*e)["type"], "ADDED");
    }
  }
  EXPECT_EQ(sim.admin("GET", "/admin/stats")["watchers"], 50);
  json closed = sim.admin("POST", "/admin/close-watches");
  EXPECT_EQ(closed["closed"], 50);
  for (auto& w : watchers) EXPECT_TRUE(w->waitEnd(3000ms));
  EXPECT_TRUE(waitForWatchers(sim, 0));
}

TEST(KubeSimWatch, ClientDisconnectUnregistersTheWatcher) {
  KubeSimProcess sim;
  {
    WatchClient w(sim, "/api/v1/persistentvolumes?watch=true");
    ASSERT_TRUE(waitForWatchers(sim, 1));
    w.stop();
  }
  // The server notices on its next liveness check (every 2 s while idle).
  EXPECT_TRUE(waitForWatchers(sim, 0, 6000ms));
}

TEST(KubeSimWatch, SingleObjectWatchByName) {
  KubeSimProcess sim;
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("one").dump()).status, 201);
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("two").dump()).status, 201);
  WatchClient w(sim, "/api/v1/persistentvolumes/two?watch=true");
  auto e = w.next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["object"]["metadata"]["name"], "two");
  EXPECT_FALSE(w.next(300ms));
}

}  // namespace
}  // namespace kubesim_test
