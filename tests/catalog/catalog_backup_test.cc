// The catalog cannot silently take failover down: a corrupt file is refused at open with an error
// naming it and the recovery; the online backup copy and its restore; and, as processes, every
// ocpv-dr command that needs the catalog exits 5 with that message, `catalog restore` brings
// back the last backup.
#include "catalog/backup.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "replication/test_util.h"
#include "support/cli_run.h"
#include "support/temp_dir.h"

namespace ocpvdr::catalog {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ocpvdr::testing::TempDir;

const SystemTime kNow = SystemTime{std::chrono::seconds{1'800'000'000}};

ReplicaRecord replica(const std::string& pv) {
  ReplicaRecord r;
  r.pv = pv;
  r.uid = "uid-" + pv;
  r.sourceKind = "nfs";
  r.sourceServer = "nfs-primary";
  r.sourcePath = "/exports/ocp/" + pv;
  r.drPath = "/srv/dr/" + pv;
  // Rows large enough that the table spans many pages.
  r.errorMessage = std::string(900, 'x');
  return r;
}

// Fills the catalog, checkpoints its WAL into the main file and closes it.
void fill(const std::string& path, const std::vector<std::string>& pvs) {
  auto c = Catalog::open(path);
  ASSERT_TRUE(c.ok()) << c.error().describe();
  for (const auto& pv : pvs) ASSERT_TRUE((*c)->putReplica(replica(pv)).ok());
  (*c)->withConnection([](sqlite3* db) {
    return sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  });
}

// Overwrites pages 3..8 of the main file with garbage: b-tree pages SQLite cannot walk.
void corruptPages(const std::string& path) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good());
  const std::string junk(4096 * 6, '\xab');
  f.seekp(4096 * 2);
  f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
}

std::vector<std::string> names(int n, const std::string& prefix) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

TEST(CatalogIntegrity, ACorruptFileIsRefusedAtOpenNamingItAndTheRecovery) {
  TempDir tmp;
  const std::string path = (tmp / "catalog.db").string();
  fill(path, names(60, "pvc-"));
  corruptPages(path);
  auto c = Catalog::open(path);
  ASSERT_FALSE(c.ok()) << "a corrupt catalog was opened";
  EXPECT_EQ(c.error().kind, ErrorKind::Terminal);
  EXPECT_EQ(exitCodeFor(c.error().kind), 5);
  const std::string& m = c.error().message;
  EXPECT_EQ(m.rfind("catalog " + path + " is corrupt (SQLite quick_check: ", 0), 0u) << m;
  EXPECT_NE(m.find("ocpv-dr catalog restore"), std::string::npos) << m;
  EXPECT_NE(m.find(path + ".backup"), std::string::npos) << m;

  // Not a database at all.
  const std::string junk = (tmp / "junk.db").string();
  std::ofstream(junk) << std::string(8192, 'j');
  auto j = Catalog::open(junk);
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.error().message.find("catalog " + junk + " is corrupt"), std::string::npos)
      << j.error().message;

  auto check = checkCatalogFile(path);
  ASSERT_TRUE(check.ok()) << check.error().describe();
  EXPECT_TRUE(check->exists);
  EXPECT_FALSE(check->ok);
  EXPECT_FALSE(check->findings.empty());
}

TEST(CatalogIntegrity, BackupIsOnlineAndRestoreBringsItBack) {
  TempDir tmp;
  const std::string path = (tmp / "catalog.db").string();
  const std::string backup = defaultBackupPath(path);
  fill(path, names(60, "before-"));
  {
    auto c = Catalog::open(path);
    ASSERT_TRUE(c.ok());
    // Another connection in the middle of a write transaction: the backup does not wait for it.
    sqlite3* other = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(other, "BEGIN IMMEDIATE; DELETE FROM replicas", nullptr, nullptr, nullptr),
        SQLITE_OK);
    Status s = backupCatalog(**c, backup);
    ASSERT_TRUE(s.ok()) << s.error().describe();
    sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(other);
  }
  auto bc = checkCatalogFile(backup);
  ASSERT_TRUE(bc.ok());
  EXPECT_TRUE(bc->ok) << bc->findings;
  EXPECT_EQ(bc->schemaVersion, migrations().back().version);
  EXPECT_FALSE(fs::exists(backup + "-wal"));

  fill(path, {"after-backup"});
  corruptPages(path);
  ASSERT_FALSE(Catalog::open(path).ok());

  auto r = restoreCatalog(path, backup, kNow);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->restored.ok);
  EXPECT_EQ(r->movedAside, path + ".corrupt-20270115T080000Z");
  EXPECT_TRUE(fs::exists(r->movedAside));
  EXPECT_FALSE(fs::exists(path + "-wal")) << "the corrupt file's WAL stayed with the restored one";
  auto c = Catalog::open(path);
  ASSERT_TRUE(c.ok()) << c.error().describe();
  auto rows = (*c)->replicas();
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 60u);
  EXPECT_FALSE((*c)->replica("after-backup")->has_value());
}

TEST(CatalogIntegrity, RestoreRefusesAMissingOrCorruptBackupAndChangesNothing) {
  TempDir tmp;
  const std::string path = (tmp / "catalog.db").string();
  fill(path, names(60, "pvc-"));
  corruptPages(path);
  const auto before = fs::file_size(path);
  auto missing = restoreCatalog(path, path + ".backup", kNow);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::Invalid);
  EXPECT_NE(missing.error().message.find("no backup at"), std::string::npos);
  fs::copy_file(path, path + ".backup");
  auto corrupt = restoreCatalog(path, path + ".backup", kNow);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_NE(corrupt.error().message.find("is corrupt too"), std::string::npos);
  EXPECT_EQ(fs::file_size(path), before);
  for (const auto& e : fs::directory_iterator(tmp.path()))
    EXPECT_EQ(e.path().filename().string().find(".corrupt-"), std::string::npos)
        << "moved aside although nothing was restored: " << e.path();
}

// The CLI as processes: every command that opens the catalog refuses a corrupt one with exit 5
// and the message; `catalog check` reports it; `catalog restore` brings back the last backup.
class CatalogCli : public ::testing::Test {
 protected:
  void SetUp() override {
    base = fs::canonical(tmp.path());
    cfg = ocpvdr::testing::localSitesConfig(base);
    cfg.primary.kubernetes.kubeconfig = tmp.write("kubeconfig", "").string();
    configPath = (base / "config.yaml").string();
    std::ofstream(configPath) << config::toJson(cfg).dump(2);
    bin = ocpvdr::testing::binaryPath("src/cli/ocpv-dr").string();
  }
  ocpvdr::testing::CliRun cli(std::vector<std::string> args) {
    ProcessSpec spec;
    spec.argv = {bin, "-c", configPath, "--log-format", "json"};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.timeout = 60s;
    return ocpvdr::testing::runCliProcess(spec);
  }

  TempDir tmp;
  fs::path base;
  config::Config cfg;
  std::string configPath, bin;
};

TEST_F(CatalogCli, ACorruptCatalogStopsEveryCommandAndRestoreBringsBackTheBackup) {
  const std::string& path = cfg.catalog.path;
  fill(path, names(60, "kept-"));
  auto b = cli({"catalog", "backup"});
  ASSERT_EQ(b.code, 0) << b.out << b.err;
  EXPECT_EQ(b.doc["backup"]["ok"], true) << b.out;
  fill(path, {"lost-after-backup"});
  corruptPages(path);

  const std::string expected = "catalog " + path + " is corrupt";
  const std::vector<std::vector<std::string>> commands = {
      {"status", "--json"},
      {"trash", "list"},
      {"trash", "purge"},
      {"pv", "sync", "--pv", "kept-1"},
      {"pv", "delete", "--pv", "kept-1"},
      {"reconcile", "--no-progress"},
      {"failover", "release", "--run", "r1", "--json"},
      {"serve", "--listen", "127.0.0.1:0"},
      {"catalog", "backup"},
      {"catalog", "check"}};
  for (const auto& args : commands) {
    auto r = cli(args);
    std::string name;
    for (const auto& a : args) name += a + " ";
    EXPECT_EQ(r.code, 5) << name << "\n" << r.out << r.err;
    EXPECT_NE((r.out + r.err).find(expected), std::string::npos) << name << "\n" << r.out << r.err;
    EXPECT_NE((r.out + r.err).find("ocpv-dr catalog restore"), std::string::npos) << name;
  }
  auto check = cli({"catalog", "check"});
  EXPECT_EQ(check.doc["result"], "corrupt") << check.out;
  EXPECT_EQ(check.doc["backup"]["ok"], true) << check.out;

  auto restore = cli({"catalog", "restore"});
  ASSERT_EQ(restore.code, 0) << restore.out << restore.err;
  EXPECT_EQ(restore.doc["catalog"]["ok"], true) << restore.out;
  EXPECT_TRUE(fs::exists(restore.doc["moved_aside"].get<std::string>()));
  auto after = cli({"catalog", "check"});
  EXPECT_EQ(after.code, 0) << after.out << after.err;
  EXPECT_EQ(after.doc["result"], "ok");
  auto status = cli({"status", "--json"});
  EXPECT_EQ(status.code, 0) << status.out << status.err;
  auto c = Catalog::open(path);
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_TRUE((*c)->replica("kept-1")->has_value());
  EXPECT_FALSE((*c)->replica("lost-after-backup")->has_value());

  // A sound catalog is not replaced without --force.
  auto refused = cli({"catalog", "restore"});
  EXPECT_EQ(refused.code, 3) << refused.out << refused.err;
}

}  // namespace
}  // namespace ocpvdr::catalog
