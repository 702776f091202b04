// DR catalog against real SQLite files: schema migrations, round trips of every table, event
// dedupe semantics, and several processes writing one database at once.
#include "catalog/catalog.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "support/temp_dir.h"

namespace ocpvdr::catalog {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

SystemTime at(std::int64_t ms) {
  return fromMillis(ms);
}

std::unique_ptr<Catalog> openOk(const std::string& path) {
  auto c = Catalog::open(path);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().describe());
  return c.ok() ? std::move(c).value() : nullptr;
}

TEST(Catalog, FreshFileIsMigratedToTheLatestVersionInWalMode) {
  TempDir tmp;
  auto cat = openOk((tmp / "sub/dir/catalog.db").string());
  ASSERT_TRUE(cat);
  auto v = cat->schemaVersion();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, migrations().back().version);
  std::string mode = cat->withConnection([](sqlite3* db) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr);
    sqlite3_step(st);
    std::string m = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return m;
  });
  EXPECT_EQ(mode, "wal");
  int fk = cat->withConnection([](sqlite3* db) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA foreign_keys", -1, &st, nullptr);
    sqlite3_step(st);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
  });
  EXPECT_EQ(fk, 1);
}

TEST(Catalog, MigrationStepsAreNumberedWithoutGaps) {
  const auto& steps = migrations();
  ASSERT_FALSE(steps.empty());
  for (std::size_t i = 0; i < steps.size(); ++i) {
    EXPECT_EQ(steps[i].version, static_cast<int>(i + 1));
    EXPECT_FALSE(steps[i].description.empty());
  }
}

TEST(Catalog, ReopeningDoesNotReapplyMigrations) {
  TempDir tmp;
  std::string path = (tmp / "c.db").string();
  { ASSERT_TRUE(openOk(path)); }
  auto cat = openOk(path);
  ASSERT_TRUE(cat);
  int rows = cat->withConnection([](sqlite3* db) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM schema_version", -1, &st, nullptr);
    sqlite3_step(st);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
  });
  EXPECT_EQ(rows, static_cast<int>(migrations().size()));
}

TEST(Catalog, RefusesASchemaNewerThanThisBuild) {
  TempDir tmp;
  std::string path = (tmp / "c.db").string();
  {
    auto cat = openOk(path);
    ASSERT_TRUE(cat);
    cat->withConnection([](sqlite3* db) {
      return sqlite3_exec(db, "INSERT INTO schema_version VALUES (999, 'from the future', 0)",
                          nullptr, nullptr, nullptr);
    });
  }
  auto again = Catalog::open(path);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::Terminal);
  EXPECT_NE(again.error().message.find("999"), std::string::npos);
}

TEST(Catalog, UnopenablePathIsAClearError) {
  TempDir tmp;
  tmp.write("file", "x");
  auto c = Catalog::open((tmp / "file/catalog.db").string());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("file"), std::string::npos);
}

TEST(Catalog, ReplicaRoundTripKeepsEveryField) {
  TempDir tmp;
  auto cat = openOk((tmp / "c.db").string());
  ASSERT_TRUE(cat);
  ReplicaRecord r;
  r.pv = "pvc-1";
  r.uid = "u-1";
  r.sourceKind = "csi";
  r.sourceServer = "nfs1";
  r.sourcePath = "/exports/ocp/a";
  r.primaryHostPath = "/srv/nfs/ocp/a";
  r.drPath = "/dr/srv/a";
  r.drExportPath = "/exports/ocp/a";
  r.storageClass = "nfs-csi";
  r.claimNamespace = "vms";
  r.claimName = "disk-a";
  r.state = "active";
  r.lastSyncStart = at(1000);
  r.lastSyncEnd = at(2000);
  r.lastSuccess = at(2000);
  r.result = "synced";
  r.bytes = 1LL << 40;
  r.files = 3;
  r.deletions = 2;
  r.errorKind = "";
  r.forced = true;
  r.trashPath = "";
  ASSERT_TRUE(cat->putReplica(r).ok());
  auto got = cat->replica("pvc-1");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  const auto& g = **got;
  EXPECT_EQ(g.uid, "u-1");
  EXPECT_EQ(g.sourceKind, "csi");
  EXPECT_EQ(g.primaryHostPath, "/srv/nfs/ocp/a");
  EXPECT_EQ(g.claimName, "disk-a");
  EXPECT_EQ(g.lastSyncStart, at(1000));
  EXPECT_EQ(g.lastSuccess, at(2000));
  EXPECT_EQ(g.bytes, 1LL << 40);
  EXPECT_EQ(g.deletions, 2);
  EXPECT_TRUE(g.forced);

  auto byClaim = cat->replicaByClaim("vms", "disk-a");
  ASSERT_TRUE(byClaim.ok());
  ASSERT_TRUE(byClaim->has_value());
  EXPECT_EQ((*byClaim)->pv, "pvc-1");

  r.state = "quarantined";
  r.lastSuccess.reset();
  ASSERT_TRUE(cat->putReplica(r).ok());
  auto after = cat->replica("pvc-1");
  EXPECT_EQ((*after)->state, "quarantined");
  EXPECT_FALSE((*after)->lastSuccess.has_value());
  auto noClaim = cat->replicaByClaim("vms", "disk-a");  // only active replicas back a claim
  EXPECT_FALSE(noClaim->has_value());
  EXPECT_FALSE(cat->replica("nope")->has_value());
  EXPECT_EQ(cat->replicas()->size(), 1u);
}

TEST(Catalog, SnapshotRoundTripAndLookupByName) {
  TempDir tmp;
  auto cat = openOk((tmp / "c.db").string());
  ASSERT_TRUE(cat);
  SnapshotRecord s;
  s.uid = "s-1";
  s.ns = "vms";
  s.name = "snap";
  s.sourcePvc = "disk";
  s.creationTime = at(5000);
  s.restoreSize = 1073741824;
  s.firstSeen = at(1);
  ASSERT_TRUE(cat->putSnapshot(s).ok());
  SnapshotRecord s2 = s;
  s2.uid = "s-2";  // recreated with the same name later
  s2.firstSeen = at(2);
  s2.restoreSize.reset();
  ASSERT_TRUE(cat->putSnapshot(s2).ok());
  auto byName = cat->snapshotByName("vms", "snap");
  ASSERT_TRUE(byName.ok() && byName->has_value());
  EXPECT_EQ((*byName)->uid, "s-2");
  auto one = cat->snapshot("s-1");
  ASSERT_TRUE(one->has_value());
  EXPECT_EQ((*one)->restoreSize, 1073741824);
  EXPECT_EQ((*one)->creationTime, at(5000));
  EXPECT_FALSE((*cat->snapshot("s-2"))->restoreSize.has_value());
  EXPECT_EQ(cat->snapshots()->size(), 2u);
  EXPECT_FALSE(cat->putSnapshot(SnapshotRecord{}).ok());
}

TEST(Catalog, EventDedupeOnlyCountsSuccessesAndSuccessIsSticky) {
  TempDir tmp;
  auto cat = openOk((tmp / "c.db").string());
  ASSERT_TRUE(cat);
  EXPECT_FALSE(*cat->eventProcessed("e1"));
  ASSERT_TRUE(cat->recordEvent("e1", "pv/a", "failed", false, at(1)).ok());
  EXPECT_FALSE(*cat->eventProcessed("e1"));  // a failure must run again
  ASSERT_TRUE(cat->recordEvent("e1", "pv/a", "synced", true, at(2)).ok());
  EXPECT_TRUE(*cat->eventProcessed("e1"));
  ASSERT_TRUE(cat->recordEvent("e1", "pv/a", "failed", false, at(3)).ok());
  EXPECT_TRUE(*cat->eventProcessed("e1"));
  EXPECT_FALSE(cat->recordEvent("", "pv/a", "x", true, at(1)).ok());
}

TEST(Catalog, EventsSeenArePrunedByAge) {
  TempDir tmp;
  auto cat = openOk((tmp / "c.db").string());
  ASSERT_TRUE(cat);
  ASSERT_TRUE(cat->recordEvent("old", "pv/a", "synced", true, at(1)).ok());
  ASSERT_TRUE(cat->recordEvent("old-failed", "pv/a", "failed", false, at(2)).ok());
  ASSERT_TRUE(cat->recordEvent("new", "pv/b", "synced", true, at(10)).ok());
  auto removed = cat->pruneEventsSeen(at(5));
  ASSERT_TRUE(removed.ok()) << removed.error().message;
  EXPECT_EQ(*removed, 2);
  EXPECT_FALSE(*cat->eventProcessed("old"));  // forgotten: a redelivery would sync again
  EXPECT_TRUE(*cat->eventProcessed("new"));
  EXPECT_EQ(*cat->pruneEventsSeen(at(5)), 0);
}

TEST(Catalog, RunsAndItemsWithCascade) {
  TempDir tmp;
  auto cat = openOk((tmp / "c.db").string());
  ASSERT_TRUE(cat);
  auto id = cat->beginRun("reconcile", at(10));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(cat->addRunItem(*id, "pv/a", "synced", "{}").ok());
  ASSERT_TRUE(cat->finishRun(*id, "ok", R"({"synced":1})", at(20)).ok());
  EXPECT_EQ(cat->finishRun(9999, "ok", "{}", at(20)).error().kind, ErrorKind::NotFound);
  EXPECT_FALSE(cat->addRunItem(9999, "pv/a", "x", "{}").ok());  // foreign key enforced
  auto runs = cat->runs();
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].result, "ok");
  EXPECT_EQ((*runs)[0].finishedAt, at(20));
  int items = cat->withConnection([&](sqlite3* db) {
    sqlite3_exec(db, "DELETE FROM runs", nullptr, nullptr, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM run_items", -1, &st, nullptr);
    sqlite3_step(st);
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
  });
  EXPECT_EQ(items, 0);
}

// N processes open the same (initially absent) file at once and each writes M replicas and M
// events, interleaved. Every write must land, the schema must be migrated exactly once, and the
// file must pass SQLite's integrity check.
TEST(Catalog, ConcurrentProcessesWriteOneFileSafely) {
  TempDir tmp;
  const std::string path = (tmp / "shared.db").string();
  constexpr int kProcs = 8, kRows = 60;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int bad = 0;
      auto cat = Catalog::open(path);
      if (!cat.ok()) {
        fprintf(stderr, "open: %s\n", cat.error().describe().c_str());
        _exit(100);
      }
      for (int i = 0; i < kRows; ++i) {
        ReplicaRecord r;
        r.pv = "pv-" + std::to_string(p) + "-" + std::to_string(i);
        r.result = "synced";
        r.bytes = i;
        if (Status st = (*cat)->putReplica(r); !st.ok()) {
          fprintf(stderr, "put: %s\n", st.error().describe().c_str());
          ++bad;
        }
        if (!(*cat)
                 ->recordEvent("ev-" + std::to_string(p) + "-" + std::to_string(i), r.pv, "synced",
                               true, fromMillis(i))
                 .ok())
          ++bad;
        // Everyone also rewrites one shared row: last writer wins, no error.
        ReplicaRecord shared;
        shared.pv = "shared";
        shared.files = p;
        if (!(*cat)->putReplica(shared).ok()) ++bad;
      }
      _exit(bad == 0 ? 0 : 1);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) {
    int status = 0;
    ASSERT_EQ(::waitpid(k, &status, 0), k);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "child " << k << " saw write errors";
  }
  auto cat = openOk(path);
  ASSERT_TRUE(cat);
  auto all = cat->replicas();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), static_cast<std::size_t>(kProcs * kRows + 1));
  for (int p = 0; p < kProcs; ++p)
    EXPECT_TRUE(*cat->eventProcessed("ev-" + std::to_string(p) + "-" + std::to_string(kRows - 1)));
  auto shared = cat->replica("shared");
  ASSERT_TRUE(shared->has_value());
  EXPECT_GE((*shared)->files, 0);
  EXPECT_LT((*shared)->files, kProcs);
  std::string integrity = cat->withConnection([](sqlite3* db) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr);
    sqlite3_step(st);
    std::string v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
  });
  EXPECT_EQ(integrity, "ok");
  EXPECT_EQ(*cat->schemaVersion(), migrations().back().version);
}

TEST(Catalog, DrActiveIsOneRunAtATimeJournaledAndReleasedOnlyByItsRun) {
  TempDir tmp;
  auto cat = openOk((tmp / "catalog.db").string());
  ASSERT_TRUE(cat);
  auto none = cat->drActive();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_TRUE(refuseIfDrActive(*cat, "pv sync").ok());
  EXPECT_EQ(drActiveJson(*none), Json({{"active", false}}));
  EXPECT_EQ(cat->releaseDrActive("run-a", at(1000), "x").error().kind, ErrorKind::NotFound);

  ASSERT_TRUE(cat->setDrActive({"run-a", "nightly", "unplanned", at(5000)}).ok());
  // The same run again (a resumed apply-volumes) keeps the first time; another run conflicts.
  ASSERT_TRUE(cat->setDrActive({"run-a", "nightly", "unplanned", at(9000)}).ok());
  auto other = cat->setDrActive({"run-b", "later", "planned", at(9000)});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().kind, ErrorKind::Conflict);
  EXPECT_NE(other.error().message.find("failover release --run run-a"), std::string::npos);

  // A second connection (another process) sees it.
  auto cat2 = openOk((tmp / "catalog.db").string());
  auto cur = cat2->drActive();
  ASSERT_TRUE(cur.ok() && cur->has_value());
  EXPECT_EQ((*cur)->runId, "run-a");
  EXPECT_EQ((*cur)->backup, "nightly");
  EXPECT_EQ((*cur)->mode, "unplanned");
  EXPECT_EQ((*cur)->since, at(5000));
  Status refused = refuseIfDrActive(*cat2, "pv sync of pvc-1");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::Refused);
  EXPECT_EQ(exitCodeFor(refused.error().kind), 3);
  EXPECT_NE(refused.error().message.find("pv sync of pvc-1 refused"), std::string::npos);
  EXPECT_NE(refused.error().message.find("run-a"), std::string::npos);
  Json j = drActiveJson(*cur);
  EXPECT_EQ(j["active"], true);
  EXPECT_EQ(j["run"], "run-a");

  EXPECT_EQ(cat2->releaseDrActive("run-b", at(20000), "no").error().kind, ErrorKind::Conflict);
  ASSERT_TRUE(cat2->releaseDrActive("run-a", at(20000), "failed back, CHG-1").ok());
  EXPECT_FALSE(cat->drActive()->has_value());
  auto actions = cat->failoverActions("run-a");
  ASSERT_TRUE(actions.ok());
  ASSERT_EQ(actions->size(), 2u);
  EXPECT_EQ((*actions)[0].action, "dr-active");
  EXPECT_EQ((*actions)[0].at, at(5000));
  EXPECT_EQ((*actions)[1].action, "release");
  EXPECT_EQ((*actions)[1].reason, "failed back, CHG-1");
  EXPECT_EQ((*actions)[1].at, at(20000));
  EXPECT_TRUE(cat->failoverActions("run-b")->empty());
  // Now run-b may take it.
  EXPECT_TRUE(cat->setDrActive({"run-b", "later", "planned", at(30000)}).ok());
  EXPECT_EQ(cat->failoverActions()->size(), 3u);
}

TEST(Catalog, AVersionTwoDatabaseKeepsItsFailoverRunsThroughMigrationThree) {
  TempDir tmp;
  const std::string path = (tmp / "catalog.db").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    std::string sql =
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
        "applied_at_ms INTEGER NOT NULL);";
    for (int i = 0; i < 2; ++i)
      sql += migrations()[i].sql + "; INSERT INTO schema_version VALUES (" +
             std::to_string(migrations()[i].version) + ", 'old', 0);";
    sql +=
        "INSERT INTO failover_runs (run_id, mode, backup, state, started_at_ms) VALUES "
        "('old-run', 'planned', 'b1', 'failed', 1000);";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_close(db);
  }
  auto cat = openOk(path);
  ASSERT_TRUE(cat);
  EXPECT_EQ(*cat->schemaVersion(), migrations().back().version);
  EXPECT_GE(migrations().back().version, 3);
  auto row = cat->withConnection([](sqlite3* db) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db,
                       "SELECT backup, state, abandoned_at_ms IS NULL FROM failover_runs "
                       "WHERE run_id = 'old-run'",
                       -1, &st, nullptr);
    std::string out;
    if (sqlite3_step(st) == SQLITE_ROW)
      out = std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) + "/" +
            reinterpret_cast<const char*>(sqlite3_column_text(st, 1)) + "/" +
            std::to_string(sqlite3_column_int(st, 2));
    sqlite3_finalize(st);
    return out;
  });
  EXPECT_EQ(row, "b1/failed/1");
  EXPECT_FALSE(cat->drActive()->has_value());
}

}  // namespace
}  // namespace ocpvdr::catalog

namespace ocpvdr::catalog {
namespace {

// The full pass marks a replica current only when no sync touched its row since the pass read
// it, and never one whose last sync failed (the DR directory may not be at its newest point).
TEST(Catalog, MarkReplicasCurrentOnlyTouchesRowsAsThePassReadThem) {
  ocpvdr::testing::TempDir dir;
  auto cat = Catalog::open((dir.path() / "c.db").string());
  ASSERT_TRUE(cat.ok());
  const SystemTime t0{std::chrono::seconds(1'800'000'000)};
  const SystemTime t1 = t0 + std::chrono::minutes(1), pass = t0 + std::chrono::hours(1);
  for (const char* pv : {"a", "b", "c"}) {
    ReplicaRecord r;
    r.pv = pv;
    r.state = "active";
    r.result = "synced";
    r.lastSyncEnd = t1;
    r.lastSuccess = t0;
    if (std::string(pv) == "c") {
      r.result = "failed";
      r.errorKind = "retryable";
    }
    ASSERT_TRUE((*cat)->putReplica(r).ok());
  }
  // a: as read; b: a sync ended after the pass read it (the pass saw t0); c: failed.
  auto marked = (*cat)->markReplicasCurrent({{"a", t1}, {"b", t0}, {"c", t1}}, pass, pass);
  ASSERT_TRUE(marked.ok()) << marked.error().message;
  EXPECT_EQ(*marked, std::vector<std::string>{"a"});
  EXPECT_EQ((*(*cat)->replica("a"))->lastSuccess, pass);
  EXPECT_EQ((*(*cat)->replica("a"))->result, "unchanged");
  EXPECT_EQ((*(*cat)->replica("b"))->lastSuccess, t0);
  EXPECT_EQ((*(*cat)->replica("c"))->result, "failed");
}

}  // namespace
}  // namespace ocpvdr::catalog
