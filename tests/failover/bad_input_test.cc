// Bad input to `ocpv-dr failover run`: a missing backup, a backup still Finalizing, a corrupt
// tarball, a tarball entry escaping the extraction root, a PV whose server has no mapping, and
// S3 answering 403. Each must end with a clear error naming the problem and the right exit code,
// and the DR cluster must be exactly as before (its state dumped before and after); the journal
// records the run as failed at preflight with that message.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "catalog/catalog.h"
#include "core/clock.h"
#include "core/curl_http.h"
#include "failover/failover_lab.h"
#include "failover/journal.h"
#include "s3/s3_object_store.h"
#include "support/velero_backup_writer.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    config::Config c = FailoverLab::localSites(tmp.str());
    c.primary.kubernetes.kubeconfig = (tmp / "no-such-primary.kubeconfig").string();
    LabOptions o;
    o.startPrimary = false;
    auto l = FailoverLab::create(c, tmp.str(), o);
    if (!l.ok() && l.error().kind == ErrorKind::NotFound) GTEST_SKIP() << l.error().message;
    ASSERT_TRUE(l.ok()) << l.error().describe();
    lab = std::move(l).value();
    // Replicated data for every volume, so that only the bad input can stop the failover.
    for (const auto& v : lab->scenario.volumes) {
      fs::create_directories(fs::path(lab->cfg.dr.exportRoots.front().hostPath) / v.dir);
      std::ofstream(fs::path(lab->cfg.dr.exportRoots.front().hostPath) / v.dir / "disk.img")
          << "data";
    }
    s3::S3Options so;
    so.endpoint = lab->s3->endpoint();
    so.bucket = lab->bucket;
    so.maxAttempts = 2;
    auto s = s3::S3ObjectStore::create(
        so, s3::AwsCredentials{S3rverProcess::kAccessKey, S3rverProcess::kSecretKey, "", "t"}, http,
        clock);
    ASSERT_TRUE(s.ok());
    store = std::move(s).value();
    // A good backup exists too: the failures below are about the one asked for.
    upload(spec("nightly-good"));
    lab->prepareDr("nightly-good");
  }

  VeleroBackupSpec spec(const std::string& name, std::vector<Json> objects = {}) {
    VeleroBackupSpec s;
    s.name = name;
    const auto now = std::chrono::system_clock::now();
    s.started = now - 10min;
    s.completed = now - 5min;
    s.includedNamespaces = lab->options().namespaces;
    s.objects = objects.empty() ? lab->scenario.objects : std::move(objects);
    return s;
  }

  void upload(const VeleroBackupSpec& s) {
    for (const auto& [key, data] : veleroBackupObjects(lab->prefix, s)) put(key, data);
  }
  void put(const std::string& key, const std::string& data) {
    auto st = store->put(key, data);
    ASSERT_TRUE(st.ok()) << st.error().describe();
  }

  // Runs an unplanned failover of `backup` and checks the common promises: exit code, message,
  // DR untouched, journal entry.
  CliRun failover(const std::string& backup, int expectedCode, const std::string& mustMention,
                  const std::string& configPath = "") {
    // kube-sim's Velero controller imports backups from the store every 200 ms: let a backup the
    // case just uploaded arrive first, so "before" is the state the failover starts from.
    Json before = FailoverLab::normalisedState(*lab->dr);
    for (int i = 0; i < 20; ++i) {
      std::this_thread::sleep_for(600ms);
      Json now = FailoverLab::normalisedState(*lab->dr);
      if (now == before) break;
      before = std::move(now);
    }
    const std::size_t objectsBefore = lab->dr->admin("GET", "/admin/state")["objects"].size();
    std::vector<std::string> args = {"failover",           "run", "--unplanned", "--json",
                                     "--poll-interval-ms", "100"};
    if (!backup.empty()) args.insert(args.end(), {"--backup", backup});
    auto r = runCli(configPath.empty() ? lab->configPath : configPath, args);
    EXPECT_EQ(r.code, expectedCode) << r.out << r.err;
    const std::string message =
        r.doc.is_object() && r.doc["error"].is_object() ? r.doc["error"].value("message", "") : "";
    std::cout << "[ocpv-dr said] exit " << r.code << ": " << message << "\n";
    EXPECT_NE(message.find(mustMention), std::string::npos)
        << "message does not mention \"" << mustMention << "\": " << message;
    EXPECT_NE(r.err.find(mustMention), std::string::npos) << r.err;
    EXPECT_EQ(FailoverLab::normalisedState(*lab->dr), before);
    EXPECT_EQ(lab->dr->admin("GET", "/admin/state")["objects"].size(), objectsBefore);
    // The journal has the run, failed at preflight, with the same message.
    auto cat = catalog::Catalog::open(lab->cfg.catalog.path);
    EXPECT_TRUE(cat.ok());
    if (cat.ok()) {
      auto run = failover::Journal(**cat).run(r.doc.value("run", ""));
      EXPECT_TRUE(run.ok() && run->has_value()) << r.out;
      if (run.ok() && run->has_value()) {
        EXPECT_EQ((*run)->state, "failed");
        EXPECT_EQ((*run)->steps.size(), 1u);
        if (!(*run)->steps.empty()) {
          EXPECT_EQ((*run)->steps[0].step, "preflight");
          EXPECT_EQ((*run)->steps[0].state, failover::StepState::Failed);
          EXPECT_NE((*run)->steps[0].errorMessage.find(mustMention), std::string::npos);
        }
        // Out of the way for the next case: a failed run blocks new ones until resumed or
        // abandoned — the operator's way out of a preflight that failed on bad input.
        const std::string runId = (*run)->runId;
        auto blocked = runCli(configPath.empty() ? lab->configPath : configPath,
                              {"failover", "run", "--unplanned", "--json"});
        EXPECT_EQ(blocked.code, 6) << blocked.out;
        EXPECT_NE(blocked.err.find("ocpv-dr failover abandon --run " + runId), std::string::npos)
            << blocked.err;
        auto abandon = runCli(configPath.empty() ? lab->configPath : configPath,
                              {"failover", "abandon", "--run", runId, "--reason",
                               "bad input: " + mustMention, "--json"});
        EXPECT_EQ(abandon.code, 0) << abandon.out << abandon.err;
        EXPECT_EQ(abandon.doc["abandoned"], true) << abandon.out;
        EXPECT_EQ(abandon.doc["changedDr"], false) << abandon.out;
        auto after = failover::Journal(**cat).run(runId);
        EXPECT_TRUE(after.ok() && after->has_value() && (*after)->abandoned());
        auto unfinished = failover::Journal(**cat).latestUnfinishedRun();
        EXPECT_TRUE(unfinished.ok() && !unfinished->has_value());
      }
    }
    return r;
  }

  TempDir tmp{"ocpvdr-badinput"};
  std::unique_ptr<FailoverLab> lab;
  RealClock clock;
  CurlHttpClient http;
  std::unique_ptr<s3::S3ObjectStore> store;
};

TEST_F(BadInput, MissingBackupIsNotFound) {
  failover("nightly-missing", 7, "backup nightly-missing not found");
}

TEST_F(BadInput, BackupStillFinalizingIsRefused) {
  VeleroBackupSpec s = spec("nightly-finalizing");
  s.phase = "Finalizing";
  s.completed.reset();
  upload(s);
  auto r = failover("nightly-finalizing", 3, "is still Finalizing");
  EXPECT_NE(r.doc["error"]["message"].get<std::string>().find("--backup"), std::string::npos);
}

TEST_F(BadInput, CorruptTarballIsInvalid) {
  VeleroBackupSpec s = spec("nightly-corrupt");
  upload(s);
  std::string garbage(4096, '\0');
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 131 + 7);
  put(lab->prefix + "/backups/nightly-corrupt/nightly-corrupt.tar.gz", garbage);
  failover("nightly-corrupt", 2, "nightly-corrupt");
}

TEST_F(BadInput, TarballEntryEscapingTheRootIsRefusedAndNothingIsWritten) {
  VeleroBackupSpec s = spec("nightly-escape");
  upload(s);
  put(lab->prefix + "/backups/nightly-escape/nightly-escape.tar.gz",
      tarGz({{"metadata/version", "1.1.0"},
             {"../../etc/passwd", "root::0:0:owned:/root:/bin/sh\n"},
             {"resources/persistentvolumes/cluster/pvc-x.json", "{}"}}));
  std::error_code ec;
  const auto passwdBefore = fs::last_write_time("/etc/passwd", ec);
  failover("nightly-escape", 2, "../../etc/passwd");
  EXPECT_EQ(fs::last_write_time("/etc/passwd", ec), passwdBefore);
  // Nothing was extracted anywhere near the work directory.
  for (const auto& e : fs::recursive_directory_iterator(tmp.path(), ec))
    EXPECT_NE(e.path().filename(), "passwd") << e.path();
}

TEST_F(BadInput, PvWhoseServerHasNoMappingIsRefusedNamingIt) {
  std::vector<Json> objects = lab->scenario.objects;
  std::string victim;
  for (auto& o : objects) {
    if (o["kind"] == "PersistentVolume" && o["spec"].contains("nfs")) {
      o["spec"]["nfs"]["server"] = "nfs-elsewhere.example.com";
      victim = o["metadata"]["name"];
      break;
    }
  }
  upload(spec("nightly-unmapped", objects));
  auto r = failover("nightly-unmapped", 3, "PV " + victim);
  const std::string msg = r.doc["error"]["message"];
  EXPECT_NE(msg.find("nfs-elsewhere.example.com"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sites.primary.nfs"), std::string::npos) << msg;
}

TEST_F(BadInput, S3AccessDeniedIsRefusedWithWhatToCheck) {
  config::Config c = lab->cfg;
  {
    std::ofstream f(tmp / "wrong-credentials");
    f << "[default]\naws_access_key_id = AKIANOTKNOWNTOS3RVER\naws_secret_access_key = nope\n";
  }
  c.backupStore.credentialsFile = (tmp / "wrong-credentials").string();
  const std::string path = lab->writeConfig(c, (tmp / "denied.yaml").string());
  auto r = failover("nightly-good", 3, "InvalidAccessKeyId", path);
  EXPECT_EQ(r.doc["error"]["kind"], "refused");
}

}  // namespace
}  // namespace ocpvdr::testing
