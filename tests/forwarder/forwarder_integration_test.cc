// The forwarder (ocpv-dr-forward, and once `ocpv-dr forward`) as a process against kube-sim and a
// real HTTP receiver (the EDA-like tests/support/webhook_receiver): every change arrives in order
// per object; the receiver going down, failing or refusing the token loses nothing; SIGKILL and
// restart re-sends nothing that did not change; a watch cut and a forced 410 still forward the
// deletions of the gap; a malformed object from the API is skipped; the bodies carry what the EDA
// rules read; SIGTERM persists.
//
// "The server's sequence" of an object is read back from kube-sim's own history (a watch from the
// start resourceVersion, which replays every committed event), not from what the test believes it
// wrote.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "forwarder_process.h"
#include "support/kube_sim_process.h"
#include "support/temp_dir.h"
#include "support/tinyproxy_process.h"
#include "support/webhook_receiver.h"

namespace ocpvdr::testing {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

constexpr const char* kToken = "webhook-token-1";
constexpr const char* kHmac = "hmac-secret-1";
constexpr const char* kSnapBase = "/apis/snapshot.storage.k8s.io/v1";

// ---- cluster writes (plain REST on kube-sim)

Json pvBody(const std::string& name, const std::string& sc) {
  return {{"apiVersion", "v1"},
          {"kind", "PersistentVolume"},
          {"metadata", {{"name", name}, {"labels", {{"gen", "0"}}}}},
          {"spec",
           {{"capacity", {{"storage", "10Gi"}}},
            {"accessModes", {"ReadWriteMany"}},
            {"persistentVolumeReclaimPolicy", "Delete"},
            {"storageClassName", sc},
            {"nfs", {{"server", "nfs-primary.example.com"}, {"path", "/exports/ocp/" + name}}}}}};
}

Json snapBody(const std::string& ns, const std::string& name) {
  return {{"apiVersion", "snapshot.storage.k8s.io/v1"},
          {"kind", "VolumeSnapshot"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec",
           {{"volumeSnapshotClassName", "csi-nfs-snapclass"},
            {"source", {{"persistentVolumeClaimName", "pvc-" + name}}}}}};
}

void expectStatus(const KubeSimResponse& r, int want, const std::string& what) {
  ASSERT_EQ(r.status, want) << what << ": " << r.body << r.error;
}

void createPv(KubeSimProcess& sim, const std::string& name, const std::string& sc = "nfs-dynamic") {
  expectStatus(sim.send("POST", "/api/v1/persistentvolumes", pvBody(name, sc).dump()), 201,
               "create " + name);
}

void modifyPv(KubeSimProcess& sim, const std::string& name, int gen) {
  expectStatus(sim.send("PATCH", "/api/v1/persistentvolumes/" + name,
                        Json{{"metadata", {{"labels", {{"gen", std::to_string(gen)}}}}}}.dump(),
                        "application/merge-patch+json"),
               200, "modify " + name);
}

void deletePv(KubeSimProcess& sim, const std::string& name) {
  expectStatus(sim.send("DELETE", "/api/v1/persistentvolumes/" + name), 200, "delete " + name);
}

void createNamespace(KubeSimProcess& sim, const std::string& ns) {
  expectStatus(sim.send("POST", "/api/v1/namespaces", Json{{"metadata", {{"name", ns}}}}.dump()),
               201, "namespace " + ns);
}

std::string snapPath(const std::string& ns, const std::string& name = "") {
  return std::string(kSnapBase) + "/namespaces/" + ns + "/volumesnapshots" +
         (name.empty() ? "" : "/" + name);
}

void createSnap(KubeSimProcess& sim, const std::string& ns, const std::string& name) {
  expectStatus(sim.send("POST", snapPath(ns), snapBody(ns, name).dump()), 201, "snap " + name);
}

void setSnapReady(KubeSimProcess& sim, const std::string& ns, const std::string& name, bool ready) {
  Json status = {{"status",
                  {{"readyToUse", ready},
                   {"boundVolumeSnapshotContentName", "snapcontent-" + name},
                   {"restoreSize", "1Gi"}}}};
  expectStatus(sim.send("PATCH", snapPath(ns, name) + "/status", status.dump(),
                        "application/merge-patch+json"),
               200, "snap status " + name);
}

void deleteSnap(KubeSimProcess& sim, const std::string& ns, const std::string& name) {
  expectStatus(sim.send("DELETE", snapPath(ns, name)), 200, "delete snap " + name);
}

std::string currentRv(KubeSimProcess& sim) {
  return sim.admin("GET", "/admin/stats").value("resourceVersion", std::string());
}

// Runs `work(i)` for i in [0, n) on `threads` threads, each taking a contiguous slice.
void parallel(int n, int threads, const std::function<void(int)>& work) {
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = t; i < n; i += threads) work(i);
    });
  }
  for (auto& t : ts) t.join();
}

// ---- what happened: server history and receiver view

struct Ev {
  std::string type, rv, id, uid;
  bool initial = false;
  std::string body;
  Json resource;
};

std::string keyOf(const std::string& kind, const Json& obj) {
  const Json& m = obj["metadata"];
  return kind + "/" + (m.contains("namespace") ? m["namespace"].get<std::string>() + "/" : "") +
         m["name"].get<std::string>();
}

// Every committed event after `fromRv`, per object, from kube-sim's history.
std::map<std::string, std::vector<Ev>> serverHistory(KubeSimProcess& sim,
                                                     const std::string& fromRv) {
  std::map<std::string, std::vector<Ev>> out;
  const std::pair<const char*, std::string> sources[] = {
      {"PersistentVolume", "/api/v1/persistentvolumes"},
      {"VolumeSnapshot", std::string(kSnapBase) + "/volumesnapshots"}};
  for (const auto& [kind, path] : sources) {
    auto r = sim.send("GET", path + "?watch=true&timeoutSeconds=1&resourceVersion=" + fromRv);
    EXPECT_EQ(r.status, 200) << r.body;
    std::istringstream in(r.body);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      Json e = Json::parse(line);
      if (e["type"] == "BOOKMARK") continue;
      Ev ev;
      ev.type = e["type"];
      ev.rv = e["object"]["metadata"]["resourceVersion"];
      ev.uid = e["object"]["metadata"]["uid"];
      out[keyOf(kind, e["object"])].push_back(ev);
    }
  }
  return out;
}

std::map<std::string, std::vector<Ev>> received(const std::vector<ReceivedRequest>& reqs) {
  std::map<std::string, std::vector<Ev>> out;
  for (const auto& r : reqs) {
    const Json& b = r.json;
    Ev ev;
    ev.type = b["type"];
    ev.id = b["id"];
    ev.initial = b["initial"];
    ev.rv = b["resource"]["metadata"]["resourceVersion"];
    ev.uid = b["resource"]["metadata"]["uid"];
    ev.body = r.body;
    ev.resource = b["resource"];
    out[keyOf(b["kind"], b["resource"])].push_back(ev);
  }
  return out;
}

// What a receiver that drops ids it has already seen keeps.
std::vector<Ev> firstOfEachId(const std::vector<Ev>& evs) {
  std::set<std::string> seen;
  std::vector<Ev> out;
  for (const auto& e : evs) {
    if (seen.insert(e.id).second) out.push_back(e);
  }
  return out;
}

std::string describe(const std::vector<Ev>& evs) {
  std::string s;
  for (const auto& e : evs) s += e.type + "@" + e.rv + (e.initial ? "(i) " : " ");
  return s;
}

// Duplicates are allowed only as exact re-sends: same id → byte-identical body.
void expectDuplicatesAreResends(const std::vector<ReceivedRequest>& reqs) {
  std::map<std::string, std::string> bodyById;
  std::map<std::string, std::string> idByState;  // key@rv:type → id
  for (const auto& r : reqs) {
    const std::string id = r.json["id"];
    auto [it, fresh] = bodyById.emplace(id, r.body);
    if (!fresh) {
      EXPECT_EQ(it->second, r.body) << "two different bodies under id " << id;
    }
    const std::string state = keyOf(r.json["kind"], r.json["resource"]) + "@" +
                              r.json["resource"]["metadata"]["resourceVersion"].get<std::string>() +
                              ":" + r.json["type"].get<std::string>();
    auto [s, sfresh] = idByState.emplace(state, id);
    if (!sfresh) {
      EXPECT_EQ(s->second, id) << "one state sent under two ids";
    }
  }
}

// True when every object's newest received state is the server's newest. A deletion found by a
// re-list diff carries the last version the forwarder knew (the deletion's own version was never
// seen), so for deletions the type is what must match.
bool converged(const std::map<std::string, std::vector<Ev>>& server, const WebhookReceiver& rx,
               std::string* why = nullptr) {
  auto got = received(rx.accepted());
  for (const auto& [key, evs] : server) {
    auto it = got.find(key);
    const bool deleted = evs.back().type == "DELETED";
    if (it == got.end() || it->second.back().type != evs.back().type ||
        (!deleted && it->second.back().rv != evs.back().rv) ||
        (deleted && it->second.back().rv != evs.back().rv && !it->second.back().initial)) {
      if (why) {
        *why = key + " server " + describe(evs) + " received " +
               (it == got.end() ? std::string("nothing") : describe(it->second));
      }
      return false;
    }
  }
  return true;
}

bool waitConverged(const std::map<std::string, std::vector<Ev>>& server, const WebhookReceiver& rx,
                   std::chrono::milliseconds timeout, std::string* why) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (converged(server, rx)) return true;
    std::this_thread::sleep_for(300ms);
  }
  return converged(server, rx, why);
}

// ---- fixture: kube-sim, receiver, config, forwarder launcher

class ForwarderIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    WebhookReceiver::Options o;
    o.token = kToken;
    o.hmacSecret = kHmac;
    rx_ = std::make_unique<WebhookReceiver>(o);
    rx_->start();
    cfg_.kubeconfig = sim_.writeKubeconfig((dir_ / "kubeconfig").string());
    cfg_.webhookUrl = rx_->url();
    cfg_.tokenFile = dir_.write("secrets/token", std::string(kToken) + "\n").string();
    cfg_.hmacSecretFile = dir_.write("secrets/hmac", kHmac).string();
    cfg_.spoolDir = (dir_ / "spool").string();
    cfg_.clusterName = "site-a";
  }

  std::unique_ptr<ForwarderProcess> startForwarder(
      bool waitReady = true, ForwarderProcess::Program program = ForwarderProcess::Program::Image,
      std::map<std::string, std::string> env = {}) {
    const std::string cfgPath = dir_.write("config.yaml", forwarderConfigYaml(cfg_)).string();
    auto p = std::make_unique<ForwarderProcess>(cfgPath, (dir_ / "forwarder.log").string(),
                                                std::chrono::seconds(30), std::move(env), program);
    if (waitReady) {
      bool ready = false;
      for (int i = 0; i < 300 && !ready; ++i) {
        ready = p->get("/readyz").first == 200;
        if (!ready) std::this_thread::sleep_for(50ms);
      }
      EXPECT_TRUE(ready) << p->get("/readyz").second << p->logText();
    }
    return p;
  }

  TempDir dir_{"forwarder-it"};
  KubeSimProcess sim_;
  std::unique_ptr<WebhookReceiver> rx_;
  ForwarderConfig cfg_;
};

std::string pvName(int i) {
  return "pv-" + std::to_string(i);
}

// 500 PVs and 200 VolumeSnapshots created, modified and partly deleted while the forwarder runs;
// objects outside the filter (another StorageClass, another namespace) must not arrive.
TEST_F(ForwarderIntegration, EveryChangeArrivesInOrderPerObject) {
  for (const char* ns : {"vms-a", "vms-b", "other"}) createNamespace(sim_, ns);
  cfg_.namespaces = {"vms-a", "vms-b"};
  auto fwd = startForwarder();
  EXPECT_EQ(fwd->get("/healthz").first, 200);
  const std::string startRv = currentRv(sim_);

  parallel(500, 4, [&](int i) {
    createPv(sim_, pvName(i));
    modifyPv(sim_, pvName(i), 1);
    modifyPv(sim_, pvName(i), 2);
    if (i % 5 == 0) deletePv(sim_, pvName(i));
  });
  parallel(20, 2, [&](int i) {
    createPv(sim_, "gp3-" + std::to_string(i), "gp3");
    modifyPv(sim_, "gp3-" + std::to_string(i), 1);
  });
  parallel(200, 4, [&](int i) {
    const std::string ns = i % 2 == 0 ? "vms-a" : "vms-b";
    const std::string name = "snap-" + std::to_string(i);
    createSnap(sim_, ns, name);
    setSnapReady(sim_, ns, name, false);
    setSnapReady(sim_, ns, name, true);
    if (i % 4 == 0) deleteSnap(sim_, ns, name);
  });
  for (int i = 0; i < 10; ++i) createSnap(sim_, "other", "snap-x" + std::to_string(i));

  auto server = serverHistory(sim_, startRv);
  std::map<std::string, std::vector<Ev>> wanted;
  std::size_t wantedEvents = 0;
  for (auto& [key, evs] : server) {
    if (key.rfind("PersistentVolume/gp3-", 0) == 0 || key.rfind("VolumeSnapshot/other/", 0) == 0) {
      continue;
    }
    wantedEvents += evs.size();
    wanted[key] = evs;
  }
  ASSERT_EQ(wanted.size(), 700u);
  ASSERT_EQ(wantedEvents, 500u * 3 + 100 + 200u * 3 + 50);

  std::string why;
  ASSERT_TRUE(waitConverged(wanted, *rx_, 120s, &why)) << why;
  const auto reqs = rx_->accepted();
  auto got = received(reqs);
  for (const auto& [key, evs] : wanted) {
    auto it = got.find(key);
    ASSERT_NE(it, got.end()) << key;
    const auto kept = firstOfEachId(it->second);
    ASSERT_EQ(kept.size(), evs.size())
        << key << ": server " << describe(evs) << " received " << describe(it->second);
    for (std::size_t i = 0; i < evs.size(); ++i) {
      EXPECT_EQ(kept[i].rv, evs[i].rv) << key;
      EXPECT_EQ(kept[i].type, evs[i].type) << key;
      EXPECT_EQ(kept[i].id, evs[i].uid + ":" + evs[i].rv + ":" + evs[i].type) << key;
      EXPECT_FALSE(kept[i].initial) << key << ": a live change is not initial";
    }
  }
  for (const auto& [key, evs] : got) {
    EXPECT_TRUE(wanted.count(key)) << "filtered object forwarded: " << key;
  }
  expectDuplicatesAreResends(reqs);
  for (const auto& r : reqs) {
    EXPECT_EQ(r.json["cluster"], "site-a");
    EXPECT_EQ(r.headers.at("x-hub-signature-256"), "sha256=" + hmacSha256HexForTest(kHmac, r.body));
  }
  EXPECT_EQ(fwd->metric("ocpvdr_forwarder_events_observed_total",
                        {{"kind", "PersistentVolume"}, {"type", "DELETED"}}),
            100);
  EXPECT_GE(fwd->metric("ocpvdr_forwarder_events_forwarded_total",
                        {{"kind", "VolumeSnapshot"}, {"type", "MODIFIED"}}),
            400);
  EXPECT_GT(fwd->metric("ocpvdr_forwarder_last_forward_timestamp_seconds"), 1.7e9);
  EXPECT_EQ(fwd->signal(SIGTERM), 0) << fwd->logText().substr(0, 2000);
}

// The receiver answers 503 for a while, then goes away (connection refused), then comes back.
TEST_F(ForwarderIntegration, ReceiverDownThenBackLosesNothing) {
  auto fwd = startForwarder();
  const std::string startRv = currentRv(sim_);
  for (int i = 0; i < 100; ++i) createPv(sim_, pvName(i));
  ASSERT_TRUE(rx_->waitFor([&] { return rx_->acceptedCount() >= 100; }, 30s));

  rx_->failWith(503, -1, 1);
  for (int i = 0; i < 100; ++i) modifyPv(sim_, pvName(i), 1);
  ASSERT_TRUE(rx_->waitFor([&] { return rx_->answers()[503] >= 2; }, 30s));
  rx_->down();
  rx_->failWith(0);
  for (int i = 0; i < 100; ++i) modifyPv(sim_, pvName(i), 2);
  for (int i = 0; i < 20; ++i) deletePv(sim_, pvName(i));
  std::this_thread::sleep_for(1500ms);
  EXPECT_GE(fwd->metric("ocpvdr_forwarder_spool_depth"), 100) << "the backlog waits in the spool";
  EXPECT_GE(fwd->metric("ocpvdr_forwarder_send_errors_total", {{"code", "503"}}), 1);
  EXPECT_GE(fwd->metric("ocpvdr_forwarder_send_errors_total", {{"code", "connection"}}), 1);
  rx_->up();

  auto server = serverHistory(sim_, startRv);
  std::string why;
  ASSERT_TRUE(waitConverged(server, *rx_, 90s, &why)) << why;
  const auto reqs = rx_->accepted();
  auto got = received(reqs);
  for (const auto& [key, evs] : server) {
    const auto kept = firstOfEachId(got[key]);
    ASSERT_EQ(kept.size(), evs.size())
        << key << ": server " << describe(evs) << " received " << describe(got[key]);
    for (std::size_t i = 0; i < evs.size(); ++i) EXPECT_EQ(kept[i].rv, evs[i].rv) << key;
  }
  expectDuplicatesAreResends(reqs);
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
}

// SIGKILL while a backlog is spooled; while it is down some objects change, some vanish and some
// appear; after the restart everything converges and objects that did not change get no POST.
TEST_F(ForwarderIntegration, SigkillAndRestartResendsOnlyWhatChanged) {
  auto fwd = startForwarder();
  const std::string startRv = currentRv(sim_);
  parallel(300, 4, [&](int i) { createPv(sim_, pvName(i)); });
  ASSERT_TRUE(rx_->waitFor([&] { return rx_->acceptedCount() >= 300; }, 60s));

  // A backlog: the receiver fails while PVs 0..149 change twice.
  rx_->failWith(500);
  parallel(150, 3, [&](int i) {
    modifyPv(sim_, pvName(i), 1);
    modifyPv(sim_, pvName(i), 2);
  });
  ASSERT_TRUE(rx_->waitFor([&] { return rx_->answers()[500] >= 1; }, 30s));
  for (int i = 0; i < 100 && fwd->metric("ocpvdr_forwarder_spool_depth") < 250; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  rx_->setLatency(20ms);  // a slow receiver keeps the stream going for a while
  rx_->failWith(0);       // deliveries resume mid-stream ...
  ASSERT_TRUE(rx_->waitFor([&] { return rx_->acceptedCount() >= 310; }, 30s));
  const double depthAtKill = fwd->metric("ocpvdr_forwarder_spool_depth");
  EXPECT_EQ(fwd->signal(SIGKILL), 128 + SIGKILL);  // ... and the forwarder dies mid-stream
  EXPECT_GT(depthAtKill, 50) << "the kill was meant to land with a backlog in the spool";
  const std::size_t beforeRestart = rx_->all().size();
  const std::string killRv = currentRv(sim_);
  rx_->setLatency(0ms);
  EXPECT_LT(rx_->acceptedCount(), 600u) << "the kill was meant to land mid-stream";

  // While it is down.
  for (int i = 150; i < 200; ++i) modifyPv(sim_, pvName(i), 7);
  for (int i = 200; i < 220; ++i) deletePv(sim_, pvName(i));
  for (int i = 300; i < 320; ++i) createPv(sim_, pvName(i));

  fwd = startForwarder(false);
  auto server = serverHistory(sim_, startRv);
  std::string why;
  ASSERT_TRUE(waitConverged(server, *rx_, 90s, &why)) << why;
  std::this_thread::sleep_for(1s);  // anything else it would send arrives now

  const auto all = rx_->all();
  std::vector<ReceivedRequest> after(all.begin() + static_cast<std::ptrdiff_t>(beforeRestart),
                                     all.end());
  auto got = received(rx_->accepted());
  auto afterByKey = received(after);

  for (const auto& [key, evs] : server) {
    const auto kept = firstOfEachId(got[key]);
    // In order: what a receiver keeps after dropping repeated ids has rising resourceVersions
    // (equal only for a deletion found by the re-list, which carries the last version known).
    for (std::size_t i = 1; i < kept.size(); ++i) {
      const bool relistDelete = kept[i].type == "DELETED" && kept[i].initial;
      if (relistDelete) {
        EXPECT_LE(std::stoll(kept[i - 1].rv), std::stoll(kept[i].rv)) << key;
      } else {
        EXPECT_LT(std::stoll(kept[i - 1].rv), std::stoll(kept[i].rv))
            << key << ": " << describe(kept);
      }
    }
    const bool changedWhileDown = std::stoll(evs.back().rv) > std::stoll(killRv);
    if (changedWhileDown) continue;
    // Untouched while down: anything sent after the restart must be a re-send of a spooled event
    // with its original id — an id of one of the object's real pre-kill changes — never a new
    // "initial" copy of a state the receiver already had.
    std::set<std::string> realIds;
    for (const auto& e : evs) realIds.insert(e.uid + ":" + e.rv + ":" + e.type);
    for (const auto& e : afterByKey[key]) {
      EXPECT_TRUE(realIds.count(e.id))
          << key << ": unexpected " << e.id << " (initial " << e.initial << ")";
    }
  }
  std::size_t resends = 0;
  for (int i = 0; i < 150; ++i) resends += afterByKey["PersistentVolume/" + pvName(i)].size();
  EXPECT_GT(resends, 0u) << "the spooled backlog is sent after the restart";
  ::testing::Test::RecordProperty("spool_depth_at_kill", std::to_string(depthAtKill));
  ::testing::Test::RecordProperty("posts_after_restart_for_objects_untouched_while_down",
                                  std::to_string(resends));
  // PVs created at the start and never touched again: nothing at all after the restart.
  for (int i = 220; i < 300; ++i) {
    EXPECT_TRUE(afterByKey["PersistentVolume/" + pvName(i)].empty())
        << pvName(i) << ": " << describe(afterByKey["PersistentVolume/" + pvName(i)]);
  }
  // Changed while down: found by the restart's list diff, marked initial, full objects.
  for (int i = 150; i < 200; ++i) {
    const auto& evs = afterByKey["PersistentVolume/" + pvName(i)];
    ASSERT_FALSE(evs.empty()) << pvName(i);
    EXPECT_EQ(evs.back().type, "MODIFIED");
    EXPECT_TRUE(evs.back().initial);
    EXPECT_EQ(evs.back().resource["metadata"]["labels"]["gen"], "7");
  }
  for (int i = 200; i < 220; ++i) {
    const auto& evs = afterByKey["PersistentVolume/" + pvName(i)];
    ASSERT_EQ(evs.size(), 1u) << pvName(i);
    EXPECT_EQ(evs[0].type, "DELETED");
    EXPECT_TRUE(evs[0].initial);
    EXPECT_EQ(evs[0].resource["spec"]["storageClassName"], "nfs-dynamic")
        << "the deletion carries the object's last state from the checkpoint";
  }
  for (int i = 300; i < 320; ++i) {
    const auto& evs = afterByKey["PersistentVolume/" + pvName(i)];
    ASSERT_EQ(evs.size(), 1u) << pvName(i);
    EXPECT_EQ(evs[0].type, "ADDED");
    EXPECT_TRUE(evs[0].initial);
  }
  expectDuplicatesAreResends(rx_->accepted());
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
}

// Watch cuts in the middle of a stream of changes (re-watch from the last resourceVersion: no
// loss, no duplicate), then a gap: with the forwarder frozen (SIGSTOP) its watches are closed,
// PVs are deleted, modified and created, and the history is compacted. On SIGCONT the re-watch
// gets 410, the forwarder re-lists, and the changes of the gap — deletions included, with each
// object's last state — are forwarded as initial events.
TEST_F(ForwarderIntegration, WatchCutAndCompactionForwardDeletionsOfTheGap) {
  auto fwd = startForwarder();
  const std::string startRv = currentRv(sim_);
  for (int i = 0; i < 100; ++i) createPv(sim_, pvName(i));
  ASSERT_TRUE(rx_->waitFor([&] { return rx_->acceptedCount() >= 100; }, 30s));

  std::thread writer([&] {
    for (int round = 1; round <= 3; ++round) {
      for (int i = 0; i < 100; ++i) modifyPv(sim_, pvName(i), round);
    }
  });
  for (int cut = 0; cut < 4; ++cut) {
    std::this_thread::sleep_for(150ms);
    sim_.closeWatches();
  }
  writer.join();
  auto live = serverHistory(sim_, startRv);
  std::string why;
  ASSERT_TRUE(waitConverged(live, *rx_, 60s, &why)) << why;
  {
    auto got = received(rx_->accepted());
    for (const auto& [key, evs] : live) {
      const auto kept = firstOfEachId(got[key]);
      ASSERT_EQ(kept.size(), evs.size()) << key << ": " << describe(got[key]);
      for (const auto& e : kept) EXPECT_FALSE(e.initial) << key << " needed no re-list";
    }
  }
  EXPECT_GE(fwd->metric("ocpvdr_forwarder_watch_restarts_total", {{"watch", "persistentvolumes"}}),
            1);
  const std::size_t beforeGap = rx_->all().size();

  ASSERT_EQ(::kill(fwd->pid(), SIGSTOP), 0);
  sim_.closeWatches();
  for (int i = 0; i < 30; ++i) deletePv(sim_, pvName(i));
  for (int i = 30; i < 50; ++i) modifyPv(sim_, pvName(i), 9);
  for (int i = 100; i < 110; ++i) createPv(sim_, pvName(i));
  sim_.compact();
  ASSERT_EQ(::kill(fwd->pid(), SIGCONT), 0);

  auto server = serverHistory(sim_, currentRv(sim_));  // nothing after "now"; rebuild below
  server.clear();
  for (int i = 0; i < 110; ++i) {
    auto r = sim_.send("GET", "/api/v1/persistentvolumes/" + pvName(i));
    Ev last;
    if (r.status == 404) {
      last.type = "DELETED";
    } else {
      last.type = i < 100 ? "MODIFIED" : "ADDED";
      last.rv = Json::parse(r.body)["metadata"]["resourceVersion"];
    }
    server["PersistentVolume/" + pvName(i)] = {last};
  }
  // Deleted objects: converged when the last thing received is a DELETED (its version is the
  // last one known, which the test does not know independently).
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  auto done = [&] {
    auto got = received(rx_->accepted());
    for (const auto& [key, evs] : server) {
      auto it = got.find(key);
      if (it == got.end() || it->second.back().type != evs.back().type) return false;
      if (!evs.back().rv.empty() && it->second.back().rv != evs.back().rv) return false;
    }
    return true;
  };
  while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(done()) << fwd->logText().substr(0, 3000);

  const auto all = rx_->all();
  auto gap = received(std::vector<ReceivedRequest>(
      all.begin() + static_cast<std::ptrdiff_t>(beforeGap), all.end()));
  for (int i = 0; i < 30; ++i) {
    const auto& evs = gap["PersistentVolume/" + pvName(i)];
    ASSERT_EQ(evs.size(), 1u) << pvName(i) << ": " << describe(evs);
    EXPECT_EQ(evs[0].type, "DELETED");
    EXPECT_TRUE(evs[0].initial) << "found by the re-list diff";
    EXPECT_EQ(evs[0].resource["spec"]["storageClassName"], "nfs-dynamic");
    EXPECT_EQ(evs[0].resource["metadata"]["labels"]["gen"], "3") << "the last state known";
  }
  for (int i = 30; i < 50; ++i) {
    const auto& evs = gap["PersistentVolume/" + pvName(i)];
    ASSERT_EQ(evs.size(), 1u) << pvName(i);
    EXPECT_EQ(evs[0].type, "MODIFIED");
    EXPECT_TRUE(evs[0].initial);
  }
  for (int i = 50; i < 100; ++i) {
    EXPECT_TRUE(gap["PersistentVolume/" + pvName(i)].empty()) << "unchanged " << pvName(i);
  }
  for (int i = 100; i < 110; ++i) {
    const auto& evs = gap["PersistentVolume/" + pvName(i)];
    ASSERT_EQ(evs.size(), 1u) << pvName(i);
    EXPECT_EQ(evs[0].type, "ADDED");
  }
  double relists = -1;
  for (int i = 0; i < 40 && relists < 1; ++i) {
    relists = fwd->metric("ocpvdr_forwarder_relists_total", {{"watch", "persistentvolumes"}});
    if (relists < 1) std::this_thread::sleep_for(100ms);
  }
  EXPECT_GE(relists, 1) << "the 410 led to a re-list";
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
}

// The receiver expects another token: nothing is dropped, the 401 counter rises, and rewriting the
// token file (as a rotated Secret would) resumes delivery without a restart.
TEST_F(ForwarderIntegration, WrongTokenHoldsEventsUntilTheTokenFileIsFixed) {
  dir_.write("secrets/token", "an-old-token\n");
  auto fwd = startForwarder();
  for (int i = 0; i < 40; ++i) createPv(sim_, pvName(i));
  ASSERT_TRUE(rx_->waitFor([&] { return rx_->answers()[401] >= 1; }, 30s));
  double first = -1;
  for (int i = 0; i < 30 && first < 1; ++i) {
    first = fwd->metric("ocpvdr_forwarder_send_errors_total", {{"code", "401"}});
    if (first < 1) std::this_thread::sleep_for(100ms);
  }
  EXPECT_GE(first, 1);
  EXPECT_EQ(rx_->acceptedCount(), 0u);
  double depth = -1;
  for (int i = 0; i < 50 && depth != 40; ++i) {
    depth = fwd->metric("ocpvdr_forwarder_spool_depth");
    if (depth != 40) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(depth, 40) << "nothing dropped";
  EXPECT_NE(fwd->logText().find("refused the request (status 401)"), std::string::npos);
  // Retried slowly, not hammered: the first answers (one per sender at most) and then a pause of
  // about 10 s ...
  const std::size_t refused = rx_->answers()[401];
  EXPECT_LE(refused, 4u);
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(rx_->answers()[401], refused);
  // ... and a rotated token is used at once.
  dir_.write("secrets/token", std::string(kToken) + "\n");
  const auto fixedAt = std::chrono::steady_clock::now();
  ASSERT_TRUE(rx_->waitFor([&] { return rx_->acceptedCount() >= 40; }, 30s));
  EXPECT_LT(std::chrono::steady_clock::now() - fixedAt, 8s) << "did not wait out the backoff";
  std::set<std::string> names;
  for (const auto& r : rx_->accepted()) names.insert(r.json["resource"]["metadata"]["name"]);
  EXPECT_EQ(names.size(), 40u);
  EXPECT_FALSE(std::filesystem::exists(cfg_.spoolDir + "/dead-letter.ndjson"));
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
}

// Objects from the API without usable metadata are logged and skipped. kube-sim cannot serve one
// (it requires metadata.name on every write and always assigns uid and resourceVersion), so this
// test points the forwarder at a tiny fake API endpoint that lists one good PV and one without
// metadata, then streams a watch with an object without metadata, one without a uid, and a good
// one.
TEST_F(ForwarderIntegration, ObjectWithoutMetadataIsSkippedAndTheForwarderGoesOn) {
  httplib::Server api;
  std::atomic<bool> stop{false};
  std::atomic<int> watches{0};
  auto pv = [](const std::string& name, const std::string& uid, const std::string& rv) {
    Json o = pvBody(name, "nfs-dynamic");
    o["metadata"]["resourceVersion"] = rv;
    if (!uid.empty()) o["metadata"]["uid"] = uid;
    return o;
  };
  api.Get("/api/v1/persistentvolumes", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.get_param_value("watch") != "true") {
      Json noMeta = pvBody("x", "nfs-dynamic");
      noMeta.erase("metadata");
      Json list = {{"kind", "PersistentVolumeList"},
                   {"apiVersion", "v1"},
                   {"metadata", {{"resourceVersion", "10"}}},
                   {"items", {pv("pv-good-1", "uid-1", "5"), noMeta}}};
      res.set_content(list.dump(), "application/json");
      return;
    }
    const bool first = watches++ == 0;
    res.set_chunked_content_provider(
        "application/json", [&, first, sent = false](size_t, httplib::DataSink& sink) mutable {
          if (first && !sent) {
            Json noMeta = pvBody("y", "nfs-dynamic");
            noMeta.erase("metadata");
            std::string lines =
                Json{{"type", "ADDED"}, {"object", noMeta}}.dump() + "\n" +
                Json{{"type", "ADDED"}, {"object", pv("pv-no-uid", "", "11")}}.dump() + "\n" +
                Json{{"type", "ADDED"}, {"object", pv("pv-good-2", "uid-2", "12")}}.dump() + "\n";
            sink.write(lines.data(), lines.size());
            sent = true;
          }
          if (stop || !sink.is_writable()) {
            sink.done();
            return true;
          }
          std::this_thread::sleep_for(50ms);
          return true;
        });
  });
  const int port = api.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { api.listen_after_bind(); });
  const std::string kubeconfig =
      dir_.write("fake-kubeconfig",
                 "apiVersion: v1\nkind: Config\nclusters:\n- name: f\n  cluster:\n    server: "
                 "http://127.0.0.1:" +
                     std::to_string(port) +
                     "\nusers:\n- name: f\n  user:\n    token: t\ncontexts:\n- name: f\n  "
                     "context:\n    "
                     "cluster: f\n    user: f\ncurrent-context: f\n")
          .string();
  cfg_.kubeconfig = kubeconfig;
  cfg_.watchSnapshots = false;
  {
    auto fwd = startForwarder();
    ASSERT_TRUE(rx_->waitFor([&] { return rx_->acceptedCount() >= 2; }, 30s));
    std::this_thread::sleep_for(1500ms);
    std::set<std::string> names;
    for (const auto& r : rx_->accepted()) names.insert(r.json["resource"]["metadata"]["name"]);
    EXPECT_EQ(names, (std::set<std::string>{"pv-good-1", "pv-good-2"}));
    EXPECT_TRUE(fwd->running());
    EXPECT_EQ(fwd->get("/readyz").first, 200);
    EXPECT_GE(
        fwd->metric("ocpvdr_forwarder_objects_skipped_total", {{"watch", "persistentvolumes"}}), 3)
        << "one in the list, two in the watch";
    const std::string log = fwd->logText();
    EXPECT_NE(log.find("object without usable metadata skipped"), std::string::npos);
    EXPECT_NE(log.find("metadata.uid"), std::string::npos) << "the log names the missing field";
    stop = true;
    EXPECT_EQ(fwd->signal(SIGTERM), 0);
  }
  api.stop();
  serving.join();
}

// What ansible.eda.webhook makes of our POSTs — {payload: body, meta: {endpoint, headers}} — and
// the fields the rulebook's conditions read, with the types the conditions compare against.
TEST_F(ForwarderIntegration, BodiesCarryWhatTheEdaRulesRead) {
  createNamespace(sim_, "vms");
  auto fwd = startForwarder();
  for (int i = 0; i < 3; ++i) createPv(sim_, pvName(i));
  createSnap(sim_, "vms", "snap-ready");
  setSnapReady(sim_, "vms", "snap-ready", true);
  createSnap(sim_, "vms", "snap-new");
  deletePv(sim_, pvName(0));
  ASSERT_TRUE(rx_->waitFor([&] { return rx_->acceptedCount() >= 7; }, 30s));

  int pvSyncRule = 0, pvDeleteRule = 0, snapReadyRule = 0;
  const std::vector<std::string> storageClasses = {"nfs-dynamic"};
  for (const auto& r : rx_->accepted()) {
    Json headers = Json::object();
    for (const auto& [k, v] : r.headers) headers[k] = v;
    const Json event = {{"payload", r.json}, {"meta", {{"endpoint", "/"}, {"headers", headers}}}};
    const Json& p = event["payload"];
    ASSERT_TRUE(p["kind"].is_string());
    ASSERT_TRUE(p["type"].is_string());
    ASSERT_TRUE(p["id"].is_string());
    ASSERT_TRUE(p["initial"].is_boolean());
    ASSERT_TRUE(p["resource"].is_object());
    ASSERT_TRUE(p["resource"]["metadata"]["name"].is_string());
    ASSERT_TRUE(p["resource"]["metadata"]["uid"].is_string());
    const std::string type = p["type"];
    EXPECT_TRUE(type == "ADDED" || type == "MODIFIED" || type == "DELETED") << type;
    EXPECT_EQ(event["meta"]["headers"]["authorization"], std::string("Bearer ") + kToken);
    if (p["kind"] == "PersistentVolume") {
      ASSERT_TRUE(p["resource"]["spec"]["storageClassName"].is_string()) << p.dump();
      const bool inClasses =
          std::find(storageClasses.begin(), storageClasses.end(),
                    p["resource"]["spec"]["storageClassName"]) != storageClasses.end();
      if ((type == "ADDED" || type == "MODIFIED") && inClasses) ++pvSyncRule;
      if (type == "DELETED" && inClasses) ++pvDeleteRule;
    } else {
      ASSERT_EQ(p["kind"], "VolumeSnapshot");
      EXPECT_EQ(p["apiVersion"], "snapshot.storage.k8s.io/v1");
      const Json& status = p["resource"].value("status", Json::object());
      if (status.contains("readyToUse")) {
        ASSERT_TRUE(status["readyToUse"].is_boolean()) << status.dump();
        if ((type == "ADDED" || type == "MODIFIED") && status["readyToUse"] == true) {
          ++snapReadyRule;
        }
      }
    }
  }
  EXPECT_EQ(pvSyncRule, 3);
  EXPECT_EQ(pvDeleteRule, 1);
  EXPECT_EQ(snapReadyRule, 1);
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
}

// A ready, bound VolumeSnapshot's body carries its VolumeSnapshotContent (the handle the DR
// handler needs to find csi-driver-nfs's archive); a snapshot not yet ready carries none; the
// snapshots Velero makes for a backup (label velero.io/backup-name) are not forwarded at all.
TEST_F(ForwarderIntegration, ReadySnapshotsCarryTheirContentAndVelerosOwnAreNotForwarded) {
  createNamespace(sim_, "vms");
  Json vsc = {{"apiVersion", "snapshot.storage.k8s.io/v1"},
              {"kind", "VolumeSnapshotContent"},
              {"metadata", {{"name", "snapcontent-snap-a"}}},
              {"spec",
               {{"driver", "nfs.csi.k8s.io"},
                {"deletionPolicy", "Delete"},
                {"source", {{"volumeHandle", "nfs#exports/ocp#vol#pvc-a#"}}},
                {"volumeSnapshotRef", {{"namespace", "vms"}, {"name", "snap-a"}}}}}};
  expectStatus(sim_.send("POST", std::string(kSnapBase) + "/volumesnapshotcontents", vsc.dump()),
               201, "content");
  Json vscStatus = {
      {"status",
       {{"readyToUse", true}, {"snapshotHandle", "nfs#exports/ocp#snapshot-a#snapshot-a#pvc-a"}}}};
  expectStatus(
      sim_.send("PATCH",
                std::string(kSnapBase) + "/volumesnapshotcontents/snapcontent-snap-a/status",
                vscStatus.dump(), "application/merge-patch+json"),
      200, "content status");
  auto fwd = startForwarder();
  createSnap(sim_, "vms", "snap-a");
  setSnapReady(sim_, "vms", "snap-a", true);
  Json velero = snapBody("vms", "velero-snap");
  velero["metadata"]["labels"] = {{"velero.io/backup-name", "nightly-1"}};
  expectStatus(sim_.send("POST", snapPath("vms"), velero.dump()), 201, "velero snapshot");
  setSnapReady(sim_, "vms", "velero-snap", true);
  deleteSnap(sim_, "vms", "velero-snap");
  // A marker on the same watch, after the Velero snapshot's events: the spool keeps a watch's
  // order, so once the marker and snap-a's ready state have arrived, a forwarded Velero snapshot
  // would have too. (A PV on the other watch is no marker: the two watches are not ordered.)
  createSnap(sim_, "vms", "snap-marker");
  ASSERT_TRUE(rx_->waitFor(
      [&] {
        bool marker = false, readyA = false;
        for (const auto& r : rx_->accepted()) {
          const Json& p = r.json;
          if (p["kind"] != "VolumeSnapshot") continue;
          const auto name = p["resource"]["metadata"].value("name", "");
          if (name == "snap-marker") marker = true;
          if (name == "snap-a" && p["resource"].value("/status/readyToUse"_json_pointer, false))
            readyA = true;
        }
        return marker && readyA;
      },
      30s));
  int ready = 0, pending = 0;
  for (const auto& r : rx_->accepted()) {
    const Json& p = r.json;
    if (p["kind"] != "VolumeSnapshot") continue;
    EXPECT_NE(p["resource"]["metadata"]["name"], "velero-snap") << p.dump();
    const bool isReady = p["resource"].value("/status/readyToUse"_json_pointer, false);
    if (p["resource"]["metadata"]["name"] == "snap-marker") continue;
    if (isReady) {
      ++ready;
      ASSERT_TRUE(p.contains("content")) << p.dump();
      EXPECT_EQ(p["content"]["metadata"]["name"], "snapcontent-snap-a");
      EXPECT_EQ(p["content"]["status"]["snapshotHandle"],
                "nfs#exports/ocp#snapshot-a#snapshot-a#pvc-a");
    } else {
      ++pending;
      EXPECT_FALSE(p.contains("content")) << p.dump();
    }
  }
  EXPECT_EQ(ready, 1);
  EXPECT_GE(pending, 1);
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
}

// The tests above run ocpv-dr-forward (the container image's program); `ocpv-dr forward` is the
// same process inside the full binary: it delivers, and a SIGTERM stops it cleanly.
TEST_F(ForwarderIntegration, OcpvDrForwardSubcommandRunsTheSameForwarder) {
  auto fwd = startForwarder(true, ForwarderProcess::Program::Subcommand);
  for (int i = 0; i < 5; ++i) createPv(sim_, pvName(i));
  ASSERT_TRUE(rx_->waitFor([&] { return rx_->acceptedCount() >= 5; }, 30s));
  std::set<std::string> names;
  for (const auto& r : rx_->accepted()) names.insert(r.json["resource"]["metadata"]["name"]);
  EXPECT_EQ(names.size(), 5u);
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
}

// Behind an egress proxy: with the proxy variables set (NO_PROXY empty) the API server's list and
// watches and the webhook POSTs all go through a real proxy (tinyproxy), and every event arrives.
TEST_F(ForwarderIntegration, ApiAndWebhookTrafficGoThroughTheEnvironmentsProxy) {
  TinyproxyProcess proxy(dir_);
  const std::map<std::string, std::string> env = {
      {"http_proxy", proxy.url()}, {"HTTP_PROXY", proxy.url()}, {"no_proxy", ""}, {"NO_PROXY", ""}};
  auto fwd = startForwarder(true, ForwarderProcess::Program::Image, env);
  for (int i = 0; i < 5; ++i) createPv(sim_, pvName(i));
  ASSERT_TRUE(rx_->waitFor([&] { return rx_->acceptedCount() >= 5; }, 30s));
  const std::string log = proxy.log();
  EXPECT_NE(log.find("GET " + sim_.url() + "/api/v1/persistentvolumes"), std::string::npos) << log;
  EXPECT_NE(log.find("watch=true"), std::string::npos) << log;
  EXPECT_NE(log.find("POST " + rx_->url()), std::string::npos) << log;
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
}

// A proxy setting that cannot work stops the start with exit 2 and names the variable.
TEST_F(ForwarderIntegration, AnUnusableProxySettingStopsTheStartNamingTheVariable) {
  try {
    auto fwd = startForwarder(false, ForwarderProcess::Program::Image,
                              {{"https_proxy", "https://proxy.corp.example:3128"}});
    ADD_FAILURE() << "the forwarder started with an https:// proxy";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("status 2"), std::string::npos) << what;
    EXPECT_NE(what.find("https_proxy/HTTPS_PROXY"), std::string::npos) << what;
  }
}

// SIGTERM with undelivered events: exit 0, and the next start sends them from the spool with
// their original ids (live events, so not marked initial) — not re-discovered by a list diff.
TEST_F(ForwarderIntegration, SigtermPersistsTheSpool) {
  auto fwd = startForwarder();
  rx_->failWith(500);
  for (int i = 0; i < 20; ++i) createPv(sim_, pvName(i));
  for (int i = 0; i < 100 && fwd->metric("ocpvdr_forwarder_spool_depth") < 20; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(fwd->metric("ocpvdr_forwarder_spool_depth"), 20);
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
  EXPECT_NE(fwd->logText().find("forwarder: stopped"), std::string::npos);
  rx_->failWith(0);
  fwd = startForwarder();
  ASSERT_TRUE(rx_->waitFor([&] { return rx_->acceptedCount() >= 20; }, 30s));
  std::set<std::string> names;
  for (const auto& r : rx_->accepted()) {
    EXPECT_FALSE(r.json["initial"].get<bool>()) << "sent from the spool, not found again";
    EXPECT_EQ(r.json["type"], "ADDED");
    names.insert(r.json["resource"]["metadata"]["name"]);
  }
  EXPECT_EQ(names.size(), 20u);
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
}

void labelPv(KubeSimProcess& sim, const std::string& name, const Json& labels) {
  expectStatus(
      sim.send("PATCH", "/api/v1/persistentvolumes/" + name,
               Json{{"metadata", {{"labels", labels}}}}.dump(), "application/merge-patch+json"),
      200, "label " + name);
}

// The types the receiver got for PV `name`, in arrival order.
std::vector<std::string> typesFor(const WebhookReceiver& rx, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& r : rx.accepted())
    if (r.json.is_object() && r.json["kind"] == "PersistentVolume" &&
        r.json["resource"]["metadata"]["name"] == name)
      out.push_back(r.json["type"]);
  return out;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// A PV that leaves the label selection — relabelled while the forwarder runs, or left out by a
// narrower selector across a restart — still exists: it goes out as LEFT_SELECTION, never as
// DELETED (DR keeps its data). A real deletion is still DELETED.
TEST_F(ForwarderIntegration, APvLeavingTheLabelSelectionIsNeverForwardedAsDeleted) {
  for (const char* n : {"pv-gold", "pv-silver", "pv-relabelled"}) createPv(sim_, n);
  labelPv(sim_, "pv-gold", {{"dr", "on"}, {"tier", "gold"}});
  labelPv(sim_, "pv-silver", {{"dr", "on"}, {"tier", "silver"}});
  labelPv(sim_, "pv-relabelled", {{"dr", "on"}, {"tier", "gold"}});
  cfg_.labelSelector = "dr=on";
  auto fwd = startForwarder();
  ASSERT_TRUE(rx_->waitFor([&] { return rx_->acceptedCount() >= 3; }, 30s));

  // Live: the watch reports the relabelled PV as DELETED (it no longer matches).
  labelPv(sim_, "pv-relabelled", {{"dr", "off"}});
  ASSERT_TRUE(
      rx_->waitFor([&] { return has(typesFor(*rx_, "pv-relabelled"), "LEFT_SELECTION"); }, 30s))
      << fwd->logText();

  // Restart with a narrower selector: pv-silver is in the checkpoint but not in the new list.
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
  cfg_.labelSelector = "dr=on,tier=gold";
  fwd = startForwarder();
  ASSERT_TRUE(rx_->waitFor([&] { return has(typesFor(*rx_, "pv-silver"), "LEFT_SELECTION"); }, 30s))
      << fwd->logText();

  // A real deletion of a selected PV is still a DELETED.
  deletePv(sim_, "pv-gold");
  ASSERT_TRUE(rx_->waitFor([&] { return has(typesFor(*rx_, "pv-gold"), "DELETED"); }, 30s));
  for (const char* n : {"pv-silver", "pv-relabelled"})
    EXPECT_FALSE(has(typesFor(*rx_, n), "DELETED")) << n;
  EXPECT_EQ(fwd->metric("ocpvdr_forwarder_events_observed_total",
                        {{"kind", "PersistentVolume"}, {"type", "LEFT_SELECTION"}}),
            1);  // this run: pv-silver
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
}

// A PV DELETED whose confirming GET fails goes out marked "unconfirmed": true, never looking like
// a confirmed one; a DELETED the GET confirms (404) carries no such mark.
TEST_F(ForwarderIntegration, ADeletedTheForwarderCannotConfirmIsMarkedUnconfirmed) {
  for (const char* n : {"pv-doubt", "pv-gone"}) createPv(sim_, n);
  auto fwd = startForwarder();
  ASSERT_TRUE(rx_->waitFor([&] { return rx_->acceptedCount() >= 2; }, 30s));
  // Every request for pv-doubt by name fails (the forwarder's GET); the watch does not.
  sim_.setFaults({{"errorCount", 1000},
                  {"errorCode", 500},
                  {"pathPrefix", "/api/v1/persistentvolumes/pv-doubt"}});
  // Deleted through the collection path, which the fault does not cover.
  expectStatus(
      sim_.send("DELETE", "/api/v1/persistentvolumes?fieldSelector=metadata.name%3Dpv-doubt"), 200,
      "delete pv-doubt");
  deletePv(sim_, "pv-gone");
  auto deletedBody = [&](const std::string& name) -> Json {
    for (const auto& r : rx_->accepted())
      if (r.json.is_object() && r.json["type"] == "DELETED" &&
          r.json["resource"]["metadata"]["name"] == name)
        return r.json;
    return nullptr;
  };
  ASSERT_TRUE(rx_->waitFor(
      [&] { return !deletedBody("pv-doubt").is_null() && !deletedBody("pv-gone").is_null(); }, 60s))
      << fwd->logText();
  EXPECT_EQ(deletedBody("pv-doubt").value("unconfirmed", false), true)
      << deletedBody("pv-doubt").dump();
  EXPECT_FALSE(deletedBody("pv-gone").contains("unconfirmed")) << deletedBody("pv-gone").dump();
  EXPECT_NE(fwd->logText().find("forwarding it as DELETED marked unconfirmed"), std::string::npos)
      << fwd->logText();
  sim_.setFaults(Json::object());
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
}

// At its size limit the spool keeps the newest state of each object and counts what it folded.
TEST_F(ForwarderIntegration, SpoolLimitFoldsToTheNewestStatePerObject) {
  cfg_.spoolMaxEvents = 30;
  auto fwd = startForwarder();
  rx_->down();
  for (int i = 0; i < 20; ++i) createPv(sim_, pvName(i));
  for (int gen = 1; gen <= 5; ++gen) {
    for (int i = 0; i < 20; ++i) modifyPv(sim_, pvName(i), gen);
  }
  double folded = -1;
  for (int i = 0; i < 60 && folded < 70; ++i) {
    folded = fwd->metric("ocpvdr_forwarder_spool_folded_total", {{"reason", "limit"}});
    if (folded < 70) std::this_thread::sleep_for(100ms);
  }
  EXPECT_GE(folded, 70) << "120 changes of 20 objects into 30 slots";
  EXPECT_LE(fwd->metric("ocpvdr_forwarder_spool_depth"), 31) << "the limit, plus at most one "
                                                                "event behind one being sent";
  rx_->up();
  ASSERT_TRUE(rx_->waitFor(
      [&] {
        auto got = received(rx_->accepted());
        if (got.size() < 20) return false;
        for (const auto& [k, evs] : got) {
          if (evs.back().resource["metadata"]["labels"]["gen"] != "5") return false;
        }
        return true;
      },
      30s));
  EXPECT_LE(rx_->acceptedCount(), 40u) << "folded, not replayed change by change";
  EXPECT_EQ(fwd->signal(SIGTERM), 0);
}

}  // namespace
}  // namespace ocpvdr::testing
