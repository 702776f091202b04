// serve's housekeeping and its catalog under contention, in-process over real HTTP, real rsync
// (local transport) and a real catalog:
//   - the maintenance tick on a ManualClock purges trash entries older than
//     replication.trash_retention, keeps younger ones and keeps (and reports) an entry whose age
//     cannot be established, and writes the catalog's backup copy;
//   - a worker stuck in the catalog (holding its connection) does not hold up POST /v1/events,
//     /v1/status or /metrics;
//   - a catalog locked by another process makes the worker retry (Retryable), and the key syncs
//     once the lock is gone.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "catalog/backup.h"
#include "core/curl_http.h"
#include "engine/engine.h"
#include "engine/fake_primary.h"
#include "replication/test_util.h"
#include "replication/trash.h"
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

template <class P>
bool eventually(P pred, std::chrono::milliseconds limit = 30s) {
  return testing::eventually(pred, limit, 5ms);
}

class ServeMaintenanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { initHttpGlobal(); }

  void SetUp() override {
    base = fs::canonical(tmp.path());
    cfg = localSitesConfig(base);
    primaryRoot = cfg.primary.exportRoots.front().hostPath;
    drRoot = fs::canonical(cfg.dr.exportRoots.front().hostPath);
    cfg.server.tokenFile = tmp.write("token", "t0ken-for-tests\n").string();
    cfg.replication.trashRetention = std::chrono::hours(24 * 7);
    opts = localEngineOptions(base / "reports", 1);
    opts.backoffBase = 50ms;
    opts.backoffMax = 200ms;
    opts.shutdownGrace = 300ms;
  }

  void openCatalog(std::chrono::milliseconds busyTimeout) {
    auto c = catalog::Catalog::open(cfg.catalog.path, busyTimeout);
    ASSERT_TRUE(c.ok()) << c.error().describe();
    cat = std::move(c).value();
  }

  void startEngine(Clock& clock) {
    rep = std::make_unique<replication::Replicator>(cfg, runner, clock, *cat, &primary);
    EngineDeps deps = localEngineDeps(clock, *cat, *rep, primary, metrics);
    engine = std::make_unique<Engine>(cfg, deps, opts);
    Status st = engine->start();
    ASSERT_TRUE(st.ok()) << st.error().describe();
    url = "http://127.0.0.1:" + std::to_string(engine->port());
  }

  // A client-side limit far below the catalog's busy timeout: an intake stalled behind the
  // catalog shows as a failed request, not as a slow test.
  Result<HttpResponse> send(const std::string& method, const std::string& path,
                            const std::string& body = "") {
    HttpRequest req;
    req.method = method;
    req.url = url + path;
    req.body = body;
    req.timeout = 20s;
    req.headers = {{"Authorization", "Bearer t0ken-for-tests"},
                   {"Content-Type", "application/json"}};
    CurlHttpClient http;
    return http.send(req);
  }

  static std::string event(const Json& pv, const std::string& id) {
    return Json{{"kind", "PersistentVolume"},
                {"apiVersion", "v1"},
                {"type", "ADDED"},
                {"cluster", "primary"},
                {"resource", pv},
                {"initial", false},
                {"id", id},
                {"observedAt", "2026-11-24T10:00:00.000Z"}}
        .dump();
  }

  bool synced(const std::string& pv) {
    auto row = cat->replica(pv);
    return row.ok() && row->has_value() && (*row)->lastSuccess.has_value();
  }

  testing::TempDir tmp;
  fs::path base, primaryRoot, drRoot;
  config::Config cfg;
  RealProcessRunner runner;
  FakePrimary primary;
  MetricsRegistry metrics;
  std::unique_ptr<catalog::Catalog> cat;
  std::unique_ptr<replication::Replicator> rep;
  EngineOptions opts;
  std::unique_ptr<Engine> engine;
  std::string url;
};

TEST_F(ServeMaintenanceTest, PurgesExpiredTrashOnTheInjectedClockAndKeepsUnknownAges) {
  ManualClock clock(SystemTime{std::chrono::seconds{1'800'000'000}});
  openCatalog(30s);
  replication::Trash trash(cfg, clock);
  auto quarantine = [&](const std::string& name) {
    testing::writeRandomFile(drRoot / name / "disk.img", 1000, 3);
    replication::TrashManifest m;
    m.pv = name;
    m.reason = "test";
    auto e = trash.quarantine(drRoot.string(), (drRoot / name).string(), m);
    EXPECT_TRUE(e.ok()) << e.error().describe();
    return e.ok() ? e->entryPath : std::string();
  };
  const std::string old = quarantine("pvc-old");
  clock.advance(std::chrono::hours(24 * 3));
  const std::string young = quarantine("pvc-young");
  // Put there by hand: no manifest, no time in its name.
  const fs::path unknown = drRoot / replication::kTrashDirName / "copied-back-by-hand";
  testing::writeRandomFile(unknown / "data/disk.img", 1000, 4);

  opts.maintenanceInterval = std::chrono::hours(1);
  startEngine(clock);
  // The pass at start: old is 3 days old, nothing is due.
  ASSERT_TRUE(eventually([&] { return engine->stats().maintenanceRuns >= 1; }));
  EXPECT_TRUE(fs::exists(old));
  EXPECT_TRUE(fs::exists(young));
  EXPECT_TRUE(fs::is_regular_file(catalog::defaultBackupPath(cfg.catalog.path)));

  // The maintenance thread and the queue's waiter both asleep on the clock: then move it.
  ASSERT_TRUE(eventually([&] { return clock.sleepers() >= 2; }));
  clock.advance(std::chrono::hours(24 * 4) + 1s);  // old: 7 days + 1 s, young: 4 days
  ASSERT_TRUE(eventually([&] { return engine->stats().maintenanceRuns >= 2; }));
  EXPECT_FALSE(fs::exists(old)) << "an entry past the retention was not purged";
  EXPECT_TRUE(fs::exists(young));
  EXPECT_TRUE(fs::exists(unknown / "data/disk.img")) << "an entry of unknown age was purged";

  Json status = engine->statusDocument();
  const Json& m = status["maintenance"];
  EXPECT_EQ(m["runs"], 2) << m.dump();
  EXPECT_EQ(m["trash"]["purged"], 1) << m.dump();
  ASSERT_EQ(m["trash"]["unknown_age"].size(), 1u) << m.dump();
  EXPECT_EQ(m["trash"]["unknown_age"][0]["id"], "copied-back-by-hand");
  EXPECT_EQ(m["catalog_backup"]["ok"], true) << m.dump();
  engine->shutdown();
}

TEST_F(ServeMaintenanceTest, AWorkerStuckInTheCatalogDoesNotHoldUpTheIntake) {
  RealClock clock;
  openCatalog(30s);
  opts.maintenanceInterval = 0ms;
  startEngine(clock);
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 10000, 1);
  Json pv = inTreePv("pvc-vol1", "nfs-primary", "/exports/ocp/vol1");
  primary.putPv(pv);

  // What a worker waiting out the busy timeout does: hold the workers' catalog connection.
  std::promise<void> release;
  std::promise<void> holding;
  std::thread holder([&] {
    cat->withConnection([&](sqlite3*) {
      holding.set_value();
      release.get_future().wait();
      return 0;
    });
  });
  holding.get_future().wait();
  auto accepted = send("POST", "/v1/events", event(pv, "uid-pvc-vol1:1:ADDED"));
  auto status = send("GET", "/v1/status");
  auto metricsPage = send("GET", "/metrics");
  release.set_value();
  holder.join();
  ASSERT_TRUE(accepted.ok()) << "the intake waited for the workers' catalog connection: "
                             << accepted.error().describe();
  EXPECT_EQ(accepted->status, 202) << accepted->body;
  ASSERT_TRUE(status.ok()) << status.error().describe();
  EXPECT_EQ(status->status, 200);
  ASSERT_TRUE(metricsPage.ok()) << metricsPage.error().describe();
  EXPECT_EQ(metricsPage->status, 200);
  EXPECT_TRUE(eventually([&] { return synced("pvc-vol1"); }));
  engine->shutdown();
}

TEST_F(ServeMaintenanceTest, ALockedCatalogMakesTheWorkerRetry) {
  RealClock clock;
  openCatalog(100ms);
  opts.maintenanceInterval = 0ms;
  startEngine(clock);
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 10000, 1);
  Json pv = inTreePv("pvc-vol1", "nfs-primary", "/exports/ocp/vol1");
  primary.putPv(pv);

  // Another process's write transaction: the catalog is locked for writers.
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(cfg.catalog.path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  auto accepted = send("POST", "/v1/events", event(pv, "uid-pvc-vol1:1:ADDED"));
  ASSERT_TRUE(accepted.ok()) << accepted.error().describe();
  EXPECT_EQ(accepted->status, 202) << accepted->body;
  EXPECT_TRUE(eventually([&] { return engine->stats().retries >= 2; }))
      << "the worker did not retry on a locked catalog";
  EXPECT_FALSE(synced("pvc-vol1"));
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  EXPECT_TRUE(eventually([&] { return synced("pvc-vol1"); }));
  engine->shutdown();
}

}  // namespace
}  // namespace ocpvdr::engine
