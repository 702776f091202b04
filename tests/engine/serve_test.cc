// The serve engine in-process over real HTTP, real rsync (local transport), a real catalog and an
// in-memory primary: bad requests to /v1/events (each a 4xx with a message, the server keeps
// serving), a valid event synced, duplicate ids dropped, DELETED tombstones, /v1/status and the
// standard endpoints, retry with backoff until a failing PV recovers, non-retryable errors, and
// shutdown: 503 while draining, running syncs stopped after the grace period, unfinished keys
// persisted and resumed.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "core/crypto.h"
#include "core/curl_http.h"
#include "engine/fake_primary.h"
#include "events/signature.h"
#include "replication/test_util.h"
#include "support/eventually.h"
#include "support/temp_dir.h"

namespace ocpvdr::engine {
namespace {

namespace fs = std::filesystem;
using testing::localEngineDeps;
using testing::localEngineOptions;
using namespace std::chrono_literals;
using testing::FakePrimary;
using testing::inTreePv;
using testing::localSitesConfig;
using testing::treeDigest;

// support/eventually.h with this suite's limit (20s) and poll interval (5ms).
template <class P>
bool eventually(P pred, std::chrono::milliseconds limit = 20s) {
  return testing::eventually(pred, limit, 5ms);
}

// Real processes; rsync runs can be held (until released or stopped) to keep a sync in flight.
class HoldingRunner final : public ProcessRunner {
 public:
  Result<ProcessResult> run(const ProcessSpec& spec, std::stop_token stop) override {
    const bool rsync = spec.argv.size() > 2 && spec.argv[0].find("rsync") != std::string::npos;
    if (rsync) {
      ++rsyncs;
      std::unique_lock l(mu_);
      ++holding_;
      cv_.wait(l, stop, [&] { return !hold_; });
      --holding_;
      if (stop.stop_requested()) {
        ProcessResult r;
        r.stopped = r.signaled = true;
        r.termSignal = 15;
        return r;
      }
    }
    return inner_.run(spec, stop);
  }
  void hold(bool h) {
    {
      std::lock_guard l(mu_);
      hold_ = h;
    }
    cv_.notify_all();
  }
  int holding() {
    std::lock_guard l(mu_);
    return holding_;
  }
  std::atomic<int> rsyncs{0};

 private:
  RealProcessRunner inner_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  bool hold_ = false;
  int holding_ = 0;
};

class ServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { initHttpGlobal(); }

  void SetUp() override {
    base = fs::canonical(tmp.path());
    cfg = localSitesConfig(base);
    primaryRoot = cfg.primary.exportRoots.front().hostPath;
    drRoot = cfg.dr.exportRoots.front().hostPath;
    cfg.server.tokenFile = tmp.write("token", "t0ken-for-tests\n").string();
    cfg.server.maxBodyBytes = 1 << 20;
    auto c = catalog::Catalog::open(cfg.catalog.path);
    ASSERT_TRUE(c.ok()) << c.error().describe();
    cat = std::move(c).value();
    rep = std::make_unique<replication::Replicator>(cfg, runner, clock, *cat, &primary);
    opts = localEngineOptions(base / "reports", 2);
    opts.backoffBase = 50ms;
    opts.backoffMax = 400ms;
    opts.shutdownGrace = 300ms;
  }

  void startEngine() {
    EngineDeps deps = localEngineDeps(clock, *cat, *rep, primary, metrics);
    engine = std::make_unique<Engine>(cfg, deps, opts);
    Status st = engine->start();
    ASSERT_TRUE(st.ok()) << st.error().describe();
    url = "http://127.0.0.1:" + std::to_string(engine->port());
  }

  HttpResponse post(const std::string& body,
                    HttpHeaders headers = {{"Authorization", "Bearer t0ken-for-tests"}}) {
    HttpRequest req;
    req.method = "POST";
    req.url = url + "/v1/events";
    req.body = body;
    req.headers = std::move(headers);
    req.headers.push_back({"Content-Type", "application/json"});
    // A client per request: no idle keep-alive connection delays the server's stop.
    CurlHttpClient http;
    auto r = http.send(req);
    EXPECT_TRUE(r.ok()) << r.error().describe();
    return r.ok() ? *r : HttpResponse{};
  }
  HttpResponse get(const std::string& path, bool auth = true) {
    HttpRequest req;
    req.url = url + path;
    if (auth) req.headers.push_back({"Authorization", "Bearer t0ken-for-tests"});
    CurlHttpClient http;
    auto r = http.send(req);
    EXPECT_TRUE(r.ok()) << r.error().describe();
    return r.ok() ? *r : HttpResponse{};
  }
  static std::string event(const Json& pv, const std::string& type, const std::string& id) {
    Json e{{"kind", "PersistentVolume"},
           {"apiVersion", "v1"},
           {"type", type},
           {"cluster", "primary"},
           {"resource", pv},
           {"initial", false},
           {"observedAt", "2026-11-24T10:00:00.000Z"}};
    if (!id.empty()) e["id"] = id;
    return e.dump();
  }
  static std::string errorOf(const HttpResponse& r) {
    auto j = Json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"].get<std::string>() : r.body;
  }
  bool synced(const std::string& pv) {
    auto row = cat->replica(pv);
    return row.ok() && row->has_value() && (*row)->lastSuccess.has_value();
  }

  testing::TempDir tmp;
  fs::path base, primaryRoot, drRoot;
  config::Config cfg;
  HoldingRunner runner;
  RealClock clock;
  FakePrimary primary;
  MetricsRegistry metrics;
  std::unique_ptr<catalog::Catalog> cat;
  std::unique_ptr<replication::Replicator> rep;
  EngineOptions opts;
  std::unique_ptr<Engine> engine;
  std::string url;
};

TEST_F(ServeTest, BadRequestsGetA4xxWithAMessageAndTheServerKeepsServing) {
  startEngine();
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 100000, 1);
  Json pv = inTreePv("pvc-vol1", "nfs-primary", "/exports/ocp/vol1");
  const std::string good = event(pv, "ADDED", "uid-pvc-vol1:10:ADDED");

  auto noToken = post(good, {});
  EXPECT_EQ(noToken.status, 401);
  EXPECT_NE(errorOf(noToken).find("missing Authorization header"), std::string::npos);
  EXPECT_EQ(noToken.header("www-authenticate"), "Bearer");

  auto wrong = post(good, {{"Authorization", "Bearer nope"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(errorOf(wrong), "invalid bearer token");

  auto badJson = post("{\"kind\": \"PersistentVolume\", ");
  EXPECT_EQ(badJson.status, 400);
  EXPECT_NE(errorOf(badJson).find("invalid JSON"), std::string::npos);

  auto unknownKind = post(R"({"kind":"Pod","type":"ADDED","resource":{"metadata":{"name":"x"}}})");
  EXPECT_EQ(unknownKind.status, 400);
  EXPECT_NE(errorOf(unknownKind).find("unknown kind \"Pod\""), std::string::npos);

  auto noResource = post(R"({"kind":"PersistentVolume","type":"ADDED"})");
  EXPECT_EQ(noResource.status, 400);
  EXPECT_NE(errorOf(noResource).find("missing \"resource\""), std::string::npos);

  auto wrongTypes = post(R"({"kind":"PersistentVolume","type":"ADDED","initial":1,
      "resource":{"metadata":{"name":"x"}}})");
  EXPECT_EQ(wrongTypes.status, 400);
  EXPECT_NE(errorOf(wrongTypes).find("\"initial\": expected a boolean"), std::string::npos);

  auto otherCluster = post(R"({"kind":"PersistentVolume","type":"ADDED","cluster":"staging",
      "resource":{"metadata":{"name":"x"}}})");
  EXPECT_EQ(otherCluster.status, 400);
  EXPECT_NE(errorOf(otherCluster).find("cluster \"staging\""), std::string::npos);

  auto huge = post(std::string(10 << 20, 'x'));
  EXPECT_EQ(huge.status, 413);
  EXPECT_NE(errorOf(huge).find("exceeds the limit of 1048576 bytes"), std::string::npos);

  // Well-formed but out of scope (another storage class): acknowledged, ignored.
  Json fast = inTreePv("pvc-fast", "nfs-primary", "/exports/ocp/fast");
  fast["spec"]["storageClassName"] = "fast-ssd";
  auto ignored = post(event(fast, "DELETED", "f:1:DELETED"));
  EXPECT_EQ(ignored.status, 200);
  EXPECT_EQ(Json::parse(ignored.body)["ignored"],
            "storage class \"fast-ssd\" is not in replication.storage_classes");

  EXPECT_EQ(engine->stats().syncsStarted, 0u);  // nothing bad reached the queue

  // Still serving: a valid event is accepted and synced.
  auto ok = post(good);
  ASSERT_EQ(ok.status, 202) << ok.body;
  EXPECT_EQ(Json::parse(ok.body)["key"], "pv/pvc-vol1");
  ASSERT_TRUE(eventually([&] { return synced("pvc-vol1"); }));
  EXPECT_EQ(treeDigest(primaryRoot / "vol1"), treeDigest(drRoot / "vol1"));
  ASSERT_TRUE(
      eventually([&] { return cat->eventProcessed("uid-pvc-vol1:10:ADDED").valueOr(false); }));

  // The same id again (the forwarder re-sending after a lost response): dropped.
  auto dup = post(good);
  EXPECT_EQ(dup.status, 200);
  EXPECT_EQ(Json::parse(dup.body)["duplicate"], true);
  EXPECT_EQ(engine->stats().syncsPerKey["pv/pvc-vol1"], 1);

  // With the token: PV-labelled series are for authenticated readers (issue 13).
  std::string m = get("/metrics", true).body;
  EXPECT_NE(m.find("ocpvdr_engine_events_total{result=\"unauthorized\"} 2"), std::string::npos)
      << m;
  EXPECT_NE(m.find("ocpvdr_engine_events_total{result=\"rejected\"} 5"), std::string::npos);
  EXPECT_NE(m.find("ocpvdr_engine_events_total{result=\"duplicate\"} 1"), std::string::npos);
  EXPECT_NE(m.find("ocpvdr_engine_events_total{result=\"ignored\"} 1"), std::string::npos);
  EXPECT_NE(m.find("ocpvdr_replica_rpo_exceeded{pv=\"pvc-vol1\"} 0"), std::string::npos);
  EXPECT_NE(m.find("ocpvdr_engine_event_to_start_seconds{quantile=\"0.99\"}"), std::string::npos);
  engine->shutdown();
}

TEST_F(ServeTest, HmacSignatureIsRequiredWhenConfigured) {
  cfg.server.hmacSecretFile = tmp.write("hmac", "hm4c-secret").string();
  startEngine();
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 1000, 1);
  const std::string body =
      event(inTreePv("pvc-vol1", "nfs-primary", "/exports/ocp/vol1"), "MODIFIED", "");
  auto unsigned_ = post(body);
  EXPECT_EQ(unsigned_.status, 401);
  EXPECT_NE(errorOf(unsigned_).find("missing x-hub-signature-256"), std::string::npos);
  auto badSig = post(body, {{"Authorization", "Bearer t0ken-for-tests"},
                            {"x-hub-signature-256", "sha256=" + hmacSha256Hex("other", body)}});
  EXPECT_EQ(badSig.status, 401);
  auto good = post(body, {{"Authorization", "Bearer t0ken-for-tests"},
                          {"X-Hub-Signature-256", "sha256=" + hmacSha256Hex("hm4c-secret", body)}});
  EXPECT_EQ(good.status, 202) << good.body;
  ASSERT_TRUE(eventually([&] { return synced("pvc-vol1"); }));
}

TEST_F(ServeTest, DeletedTombstoneQuarantinesAndStatusShowsRpo) {
  startEngine();
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 1000, 1);
  Json pv = inTreePv("pvc-vol1", "nfs-primary", "/exports/ocp/vol1");
  ASSERT_EQ(post(event(pv, "ADDED", "a:1:ADDED")).status, 202);
  ASSERT_TRUE(eventually([&] { return synced("pvc-vol1"); }));

  auto anon = get("/v1/status", false);
  EXPECT_EQ(anon.status, 401);
  auto st = get("/v1/status");
  ASSERT_EQ(st.status, 200);
  Json doc = Json::parse(st.body);
  ASSERT_EQ(doc["replicas"].size(), 1u);
  EXPECT_EQ(doc["replicas"][0]["pv"], "pvc-vol1");
  EXPECT_EQ(doc["replicas"][0]["state"], "active");
  EXPECT_TRUE(doc["replicas"][0]["rpo_seconds"].is_number());
  EXPECT_EQ(doc["replicas"][0]["rpo_exceeded"], false);
  EXPECT_EQ(doc["schedule"]["enabled"], false);
  EXPECT_EQ(doc["draining"], false);

  ASSERT_EQ(post(event(pv, "DELETED", "a:2:DELETED")).status, 202);
  ASSERT_TRUE(eventually([&] {
    auto r = cat->replica("pvc-vol1");
    return r.ok() && r->has_value() && (*r)->state == "quarantined";
  }));
  EXPECT_FALSE(fs::exists(drRoot / "vol1"));
  EXPECT_EQ(get("/healthz", false).status, 200);
  EXPECT_EQ(get("/readyz", false).status, 200);
  engine->shutdown();
}

// After a failover (DR active) serve still acknowledges events but syncs nothing: the key is
// refused once (not retried), DR is untouched, and /v1/status says why.
TEST_F(ServeTest, DrActiveEventsAreAcknowledgedButNothingSyncsAndStatusSaysWhy) {
  startEngine();
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 1000, 1);
  Json pv = inTreePv("pvc-vol1", "nfs-primary", "/exports/ocp/vol1");
  ASSERT_EQ(post(event(pv, "ADDED", "d:1:ADDED")).status, 202);
  ASSERT_TRUE(eventually([&] { return synced("pvc-vol1"); }));
  const int rsyncs = runner.rsyncs.load();

  ASSERT_TRUE(cat->setDrActive({"run-9", "nightly", "planned", clock.now()}).ok());
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 1000, 2);
  const auto before = treeDigest(drRoot);
  ASSERT_EQ(post(event(pv, "MODIFIED", "d:2:MODIFIED")).status, 202);
  ASSERT_EQ(post(event(pv, "DELETED", "d:3:DELETED")).status, 202);
  ASSERT_TRUE(eventually([&] {
    return engine->stats().syncsPerKey["pv/pvc-vol1"] >= 2 &&
           engine->queue().len() + engine->queue().processingLen() == 0;
  }));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(runner.rsyncs.load(), rsyncs);
  EXPECT_EQ(engine->stats().retries, 0u);
  EXPECT_EQ(treeDigest(drRoot), before);
  EXPECT_EQ((*cat->replica("pvc-vol1"))->state, "active");

  auto st = get("/v1/status");
  ASSERT_EQ(st.status, 200);
  Json doc = Json::parse(st.body);
  EXPECT_EQ(doc["dr_active"]["active"], true);
  EXPECT_EQ(doc["dr_active"]["run"], "run-9");
  EXPECT_NE(doc["dr_active"]["message"].get<std::string>().find("failover release --run run-9"),
            std::string::npos);
  engine->shutdown();
}

TEST_F(ServeTest, ARetryableFailureBacksOffAndRecoversOnceFixed) {
  startEngine();
  // The primary directory does not exist yet: "nothing to replicate (yet)", retryable.
  Json pv = inTreePv("pvc-late", "nfs-primary", "/exports/ocp/late");
  ASSERT_EQ(post(event(pv, "ADDED", "l:1:ADDED")).status, 202);
  ASSERT_TRUE(eventually([&] { return engine->queue().numRequeues("pv/pvc-late") >= 3; }));
  EXPECT_FALSE(synced("pvc-late"));
  EXPECT_FALSE(cat->eventProcessed("l:1:ADDED").valueOr(true));  // not recorded while failing
  testing::writeRandomFile(primaryRoot / "late/disk.img", 5000, 2);
  ASSERT_TRUE(eventually([&] { return synced("pvc-late"); }, 10s));
  ASSERT_TRUE(eventually([&] { return engine->queue().numRequeues("pv/pvc-late") == 0; }));
  EXPECT_TRUE(cat->eventProcessed("l:1:ADDED").valueOr(false));
  EXPECT_GE(engine->stats().retries, 3u);
  std::this_thread::sleep_for(600ms);  // longer than the backoff cap: no more attempts
  int attempts = engine->stats().syncsPerKey["pv/pvc-late"];
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(engine->stats().syncsPerKey["pv/pvc-late"], attempts) << "forgotten after success";
  engine->shutdown();
}

TEST_F(ServeTest, NonRetryableErrorsAreNotRetried) {
  startEngine();
  // Not under any configured export root: refused by the path mapping, never retried.
  Json pv = inTreePv("pvc-outside", "nfs-primary", "/somewhere/else/vol");
  ASSERT_EQ(post(event(pv, "ADDED", "o:1:ADDED")).status, 202);
  ASSERT_TRUE(eventually([&] { return engine->stats().syncsPerKey["pv/pvc-outside"] == 1; }));
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(engine->stats().syncsPerKey["pv/pvc-outside"], 1);
  EXPECT_EQ(engine->stats().retries, 0u);
  EXPECT_EQ(engine->queue().numRequeues("pv/pvc-outside"), 0);
  engine->shutdown();
}

TEST_F(ServeTest, ShutdownDrainsWithinGraceStopsTheRestAndResumesUnfinishedKeys) {
  opts.shutdownGrace = 1500ms;
  startEngine();
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 1000, 1);
  Json pv = inTreePv("pvc-vol1", "nfs-primary", "/exports/ocp/vol1");
  runner.hold(true);
  ASSERT_EQ(post(event(pv, "MODIFIED", "s:1:MODIFIED")).status, 202);
  ASSERT_TRUE(eventually([&] { return runner.holding() == 1; }));

  auto done = std::async(std::launch::async, [&] { engine->shutdown(); });
  ASSERT_TRUE(eventually([&] { return engine->draining(); }));
  auto during = post(event(pv, "MODIFIED", "s:2:MODIFIED"));
  EXPECT_EQ(during.status, 503);
  EXPECT_NE(errorOf(during).find("shutting down"), std::string::npos);
  EXPECT_EQ(get("/readyz", false).status, 503);
  // The held rsync outlives the grace period: it is stopped, and shutdown completes.
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
  EXPECT_FALSE(synced("pvc-vol1"));
  const fs::path state = base / "d/serve-state.json";
  ASSERT_TRUE(fs::exists(state));
  Json saved = Json::parse(std::ifstream(state));
  ASSERT_EQ(saved["keys"].size(), 1u);
  EXPECT_EQ(saved["keys"][0]["key"], "pv/pvc-vol1");
  EXPECT_EQ(saved["keys"][0]["ids"], Json::array({"s:1:MODIFIED"}));
  EXPECT_EQ(saved["keys"][0]["object"]["metadata"]["name"], "pvc-vol1");

  // The next start picks the key up again and finishes it.
  runner.hold(false);
  engine.reset();
  startEngine();
  ASSERT_TRUE(eventually([&] { return synced("pvc-vol1"); }));
  EXPECT_FALSE(fs::exists(state));
  ASSERT_TRUE(eventually([&] { return cat->eventProcessed("s:1:MODIFIED").valueOr(false); }));
  engine->shutdown();
}

TEST_F(ServeTest, ASyncThatFinishesWithinTheGraceIsNotInterrupted) {
  opts.shutdownGrace = 10s;
  startEngine();
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 1000, 1);
  runner.hold(true);
  ASSERT_EQ(
      post(event(inTreePv("pvc-vol1", "nfs-primary", "/exports/ocp/vol1"), "ADDED", "")).status,
      202);
  ASSERT_TRUE(eventually([&] { return runner.holding() == 1; }));
  auto done = std::async(std::launch::async, [&] { engine->shutdown(); });
  ASSERT_TRUE(eventually([&] { return engine->draining(); }));
  std::this_thread::sleep_for(200ms);
  runner.hold(false);  // the "rsync" finishes inside the grace period
  ASSERT_EQ(done.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(synced("pvc-vol1"));
  EXPECT_FALSE(fs::exists(base / "d/serve-state.json"));
}

TEST_F(ServeTest, StartupRejectsAnInvalidScheduleAndAMissingTokenFile) {
  opts.schedule = true;
  cfg.schedule.cron = "0 0 31 2 *";
  EngineDeps deps{&clock, cat.get(), rep.get(), &primary, &primary, &metrics, nullptr, nullptr};
  Engine bad(cfg, deps, opts);
  Status st = bad.start();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::Invalid);
  EXPECT_NE(st.error().message.find("schedule: cron expression \"0 0 31 2 *\": never runs"),
            std::string::npos)
      << st.error().message;

  cfg.schedule.cron = "0 * * * *";
  cfg.schedule.timeZone = "Nowhere/Town";
  Engine badZone(cfg, deps, opts);
  Status z = badZone.start();
  ASSERT_FALSE(z.ok());
  EXPECT_NE(z.error().message.find("time zone \"Nowhere/Town\""), std::string::npos);

  cfg.schedule.timeZone = "UTC";
  cfg.server.tokenFile = (base / "missing-token").string();
  Engine noToken(cfg, deps, opts);
  Status t = noToken.start();
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("server.token_file"), std::string::npos);
}

TEST_F(ServeTest, EventsAreDisabledWithoutATokenFile) {
  cfg.server.tokenFile.clear();
  startEngine();
  auto r =
      post(R"({"kind":"PersistentVolume","type":"ADDED","resource":{"metadata":{"name":"a"}}})");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(errorOf(r).find("server.token_file is not set"), std::string::npos);
  EXPECT_EQ(get("/v1/status", false).status, 200);  // no token: status is open
  engine->shutdown();
}

// ---------------------------------------------------------------------------------------------
// Delete verification and the delete breaker (issue 13): a DELETED event moves DR data only when
// the catalog, the uid and the primary API all confirm it; a burst trips the breaker.

class ServeDeleteTest : public ServeTest {
 protected:
  double deletes(const std::string& result, const std::string& kind = "pv") {
    return metrics.get("ocpvdr_engine_syncs_total",
                       {{"kind", kind}, {"action", "delete"}, {"result", result}});
  }
  // Syncs PV `name` (directory `dir`) directly, before or beside the engine.
  Json replicated(const std::string& name, const std::string& dir, unsigned seed = 1) {
    testing::writeRandomFile(primaryRoot / dir / "disk.img", 2000, seed);
    Json pv = inTreePv(name, "nfs-primary", "/exports/ocp/" + dir);
    auto r = rep->syncPv(pv);
    EXPECT_TRUE(r.ok() && r->ok()) << (r.ok() ? r->toJson().dump() : r.error().describe());
    return pv;
  }
  std::string state(const std::string& pv) {
    auto r = cat->replica(pv);
    return r.ok() && r->has_value() ? (*r)->state : "";
  }
};

TEST_F(ServeDeleteTest, AForgedDeletedForAPvStillAtThePrimaryMovesNothing) {
  Json pv = replicated("pvc-vol1", "vol1");
  primary.putPv(pv);  // the PV is alive and well at the primary
  const auto before = treeDigest(drRoot);
  startEngine();
  ASSERT_EQ(post(event(pv, "DELETED", "forged:1:DELETED")).status, 202);
  ASSERT_TRUE(eventually([&] { return deletes("still-present") == 1; }));
  EXPECT_EQ(treeDigest(drRoot), before);
  EXPECT_FALSE(fs::exists(drRoot / ".ocpv-dr-trash"));
  EXPECT_EQ(state("pvc-vol1"), "active");
  EXPECT_EQ(engine->stats().retries, 0u);  // refused, not retried
  engine->shutdown();
}

TEST_F(ServeDeleteTest, AStaleDeletedForAnEarlierUidMovesNothing) {
  Json old = replicated("pvc-vol1", "vol1");
  // The PV was deleted and created again under the same name; the new one is replicated.
  Json renewed = old;
  renewed["metadata"]["uid"] = "uid-second-incarnation";
  primary.putPv(renewed);
  ASSERT_TRUE(rep->syncPv(renewed).ok());
  ASSERT_EQ((*cat->replica("pvc-vol1"))->uid, "uid-second-incarnation");
  const auto before = treeDigest(drRoot);
  startEngine();
  // The first incarnation's DELETED arrives late (a replayed spool, a slow forwarder).
  ASSERT_EQ(post(event(old, "DELETED", "uid-pvc-vol1:9:DELETED")).status, 202);
  ASSERT_TRUE(eventually([&] { return deletes("uid-mismatch") == 1; }));
  EXPECT_EQ(treeDigest(drRoot), before);
  EXPECT_EQ(state("pvc-vol1"), "active");
  // Even with the primary not answering for it, the uid alone refuses (no GET is needed).
  primary.removePv("pvc-vol1");
  ASSERT_EQ(post(event(old, "DELETED", "uid-pvc-vol1:10:DELETED")).status, 202);
  ASSERT_TRUE(eventually([&] { return deletes("uid-mismatch") == 2; }));
  EXPECT_EQ(treeDigest(drRoot), before);
  engine->shutdown();
}

TEST_F(ServeDeleteTest, ADeletedForADirectoryOcpvDrNeverReplicatedMovesNothing) {
  replicated("pvc-vol1", "vol1");
  // Someone's data at DR that no catalog row accounts for, and an event that points at it.
  testing::writeRandomFile(drRoot / "foreign/keep.img", 3000, 4);
  const auto before = treeDigest(drRoot);
  startEngine();
  Json foreign = inTreePv("pvc-foreign", "nfs-primary", "/exports/ocp/foreign");
  ASSERT_EQ(post(event(foreign, "DELETED", "x:1:DELETED")).status, 202);
  // An event naming a replicated PV but pointing at another directory.
  Json moved = inTreePv("pvc-vol1", "nfs-primary", "/exports/ocp/foreign");
  ASSERT_EQ(post(event(moved, "DELETED", "x:2:DELETED")).status, 202);
  ASSERT_TRUE(eventually([&] { return deletes("not-replicated") == 2; }));
  EXPECT_EQ(treeDigest(drRoot), before);
  EXPECT_EQ(state("pvc-vol1"), "active");
  engine->shutdown();
}

TEST_F(ServeDeleteTest, ADeleteWaitsWhileThePrimaryIsUnreachableThenProceeds) {
  Json pv = replicated("pvc-vol1", "vol1");
  primary.getError = retryableError("connect to primary API: connection refused");
  const auto before = treeDigest(drRoot);
  startEngine();
  ASSERT_EQ(post(event(pv, "DELETED", "w:1:DELETED")).status, 202);
  ASSERT_TRUE(eventually([&] { return deletes("primary-unreachable") >= 2; }));
  EXPECT_GE(engine->stats().retries, 1u);
  EXPECT_EQ(treeDigest(drRoot), before);
  EXPECT_EQ(state("pvc-vol1"), "active");
  // The API answers again: the PV is gone (404), the delete proceeds.
  primary.getError.reset();
  ASSERT_TRUE(eventually([&] { return state("pvc-vol1") == "quarantined"; }));
  EXPECT_FALSE(fs::exists(drRoot / "vol1"));
  engine->shutdown();
}

TEST_F(ServeDeleteTest, FiftyDeletesInOneBurstTripTheBreakerAndTheRestStayUntouched) {
  cfg.replication.deleteBreakerMaxDeletes = 10;
  cfg.replication.deleteBreakerMaxShare = 1.0;  // the count limit alone decides here
  std::vector<Json> pvs;
  for (int i = 0; i < 50; ++i)
    pvs.push_back(replicated("pvc-b" + std::to_string(i), "b" + std::to_string(i), 100 + i));
  std::map<std::string, std::map<std::string, std::string>> digests;
  for (int i = 0; i < 50; ++i)
    digests["b" + std::to_string(i)] = treeDigest(drRoot / ("b" + std::to_string(i)));
  startEngine();
  // Every PV is gone at the primary (FakePrimary holds none): each delete verifies.
  for (int i = 0; i < 50; ++i)
    ASSERT_EQ(post(event(pvs[i], "DELETED", "burst:" + std::to_string(i))).status, 202);
  ASSERT_TRUE(
      eventually([&] { return deletes("quarantined") + deletes("breaker-tripped") == 50; }, 60s));
  EXPECT_EQ(deletes("quarantined"), 10);
  EXPECT_EQ(deletes("breaker-tripped"), 40);
  int untouched = 0;
  for (int i = 0; i < 50; ++i) {
    const std::string dir = "b" + std::to_string(i);
    if (state("pvc-" + dir) == "quarantined") {
      EXPECT_FALSE(fs::exists(drRoot / dir));
      continue;
    }
    ++untouched;
    EXPECT_EQ(state("pvc-" + dir), "active");
    EXPECT_EQ(treeDigest(drRoot / dir), digests[dir]) << dir;
  }
  EXPECT_EQ(untouched, 40);
  Json doc = Json::parse(get("/v1/status").body);
  EXPECT_EQ(doc["delete_breaker"]["pv"]["tripped"], true);
  EXPECT_EQ(doc["delete_breaker"]["pv"]["held"].size(), 40u);
  EXPECT_NE(doc["delete_breaker"]["pv"]["reason"].get<std::string>().find(
                "above replication.delete_breaker_max_deletes (10)"),
            std::string::npos);
  EXPECT_EQ(metrics.get("ocpvdr_engine_delete_breaker_tripped", {{"kind", "pv"}}), 1);
  EXPECT_EQ(engine->stats().retries, 0u);  // held, not retried into a trickle
  engine->shutdown();
}

TEST_F(ServeDeleteTest, TheShareLimitTripsFromTheSecondDeleteOn) {
  cfg.replication.deleteBreakerMaxShare = 0.3;
  std::vector<Json> pvs;
  for (int i = 0; i < 4; ++i)
    pvs.push_back(replicated("pvc-s" + std::to_string(i), "s" + std::to_string(i), 10 + i));
  startEngine();
  ASSERT_EQ(post(event(pvs[0], "DELETED", "s:0")).status, 202);  // 1 of 4: allowed
  ASSERT_TRUE(eventually([&] { return deletes("quarantined") == 1; }));
  ASSERT_EQ(post(event(pvs[1], "DELETED", "s:1")).status, 202);  // 2 of 4 (50%): held
  ASSERT_TRUE(eventually([&] { return deletes("breaker-tripped") == 1; }));
  EXPECT_TRUE(fs::exists(drRoot / "s1/disk.img"));
  EXPECT_EQ(state("pvc-s1"), "active");
  engine->shutdown();
}

// A PV that left the forwarder's label selection is not a delete: nothing moves.
TEST_F(ServeDeleteTest, LeftSelectionKeepsTheDrCopyAndIsReported) {
  Json pv = replicated("pvc-vol1", "vol1");
  primary.putPv(pv);
  const auto before = treeDigest(drRoot);
  startEngine();
  ASSERT_EQ(post(event(pv, "LEFT_SELECTION", "ls:1")).status, 202);
  ASSERT_TRUE(eventually([&] {
    return metrics.get(
               "ocpvdr_engine_syncs_total",
               {{"kind", "pv"}, {"action", "left-selection"}, {"result", "left-selection"}}) == 1;
  }));
  EXPECT_EQ(treeDigest(drRoot), before);
  EXPECT_EQ(state("pvc-vol1"), "active");
  engine->shutdown();
}

TEST_F(ServeTest, MetricsShowPvNamesOnlyWhenAuthenticatedOrConfiguredPublic) {
  startEngine();
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 1000, 1);
  Json pv = inTreePv("pvc-vol1", "nfs-primary", "/exports/ocp/vol1");
  primary.putPv(pv);
  ASSERT_EQ(post(event(pv, "ADDED", "m:1:ADDED")).status, 202);
  ASSERT_TRUE(eventually([&] { return synced("pvc-vol1"); }));
  const std::string series = "ocpvdr_replica_rpo_exceeded{pv=\"pvc-vol1\"} 0";
  EXPECT_NE(get("/metrics", true).body.find(series), std::string::npos);
  auto anon = get("/metrics", false);
  EXPECT_EQ(anon.status, 200);
  EXPECT_EQ(anon.body.find("pvc-vol1"), std::string::npos) << anon.body;
  EXPECT_NE(anon.body.find("ocpvdr_engine_events_total{result=\"accepted\"} 1"), std::string::npos)
      << anon.body;
  engine->shutdown();
  cfg.server.publicMetricsLabels = true;
  startEngine();
  EXPECT_NE(get("/metrics", false).body.find(series), std::string::npos);
  engine->shutdown();
}

TEST_F(ServeTest, ExpectedClusterMakesTheClusterFieldRequired) {
  cfg.server.expectedCluster = "primary";
  startEngine();
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 1000, 1);
  Json pv = inTreePv("pvc-vol1", "nfs-primary", "/exports/ocp/vol1");
  primary.putPv(pv);
  Json noCluster = Json::parse(event(pv, "ADDED", "c:1:ADDED"));
  noCluster.erase("cluster");
  auto missing = post(noCluster.dump());
  EXPECT_EQ(missing.status, 400);
  EXPECT_NE(errorOf(missing).find("server.expected_cluster"), std::string::npos)
      << errorOf(missing);
  Json other = Json::parse(event(pv, "ADDED", "c:2:ADDED"));
  other["cluster"] = "elsewhere";
  EXPECT_EQ(post(other.dump()).status, 400);
  EXPECT_EQ(post(event(pv, "ADDED", "c:3:ADDED")).status, 202);
  EXPECT_EQ(engine->stats().eventsRejected, 2u);
  engine->shutdown();
}

TEST_F(ServeTest, EventIdsOlderThanTheRetentionAreForgottenAtStart) {
  cfg.catalog.eventsSeenRetention = std::chrono::hours(24 * 30);
  const SystemTime now = clock.now();
  ASSERT_TRUE(
      cat->recordEvent("old:1:ADDED", "pv/a", "synced", true, now - std::chrono::hours(24 * 31))
          .ok());
  ASSERT_TRUE(
      cat->recordEvent("recent:1:ADDED", "pv/b", "synced", true, now - std::chrono::hours(24))
          .ok());
  startEngine();
  EXPECT_FALSE(cat->eventProcessed("old:1:ADDED").valueOr(true));
  EXPECT_TRUE(cat->eventProcessed("recent:1:ADDED").valueOr(false));
  engine->shutdown();
}

}  // namespace
}  // namespace ocpvdr::engine
