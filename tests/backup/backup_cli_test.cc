// `ocpv-dr backup list|show` from the built binary against a real s3rver holding Velero-layout
// backups: JSON output, ordering, "latest", --objects, errors and exit codes, and proof that the
// commands leave the storage location untouched.
#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/curl_http.h"
#include "core/json_util.h"
#include "core/process.h"
#include "s3/s3_object_store.h"
#include "support/s3rver_process.h"
#include "support/temp_dir.h"
#include "support/velero_backup_writer.h"

namespace ocpvdr::backup {
namespace {

namespace t = ocpvdr::testing;

class BackupCli : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = t::S3rverProcess::start({"oadp"});
    if (!s.ok() && s.error().kind == ErrorKind::NotFound) GTEST_SKIP() << s.error().message;
    ASSERT_TRUE(s.ok()) << s.error().describe();
    server_ = std::move(s).value();
    s3::S3Options o;
    o.endpoint = server_->endpoint();
    o.bucket = "oadp";
    auto store = s3::S3ObjectStore::create(
        o, s3::AwsCredentials{t::S3rverProcess::kAccessKey, t::S3rverProcess::kSecretKey, "", "t"},
        http_, clock_);
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();

    config_ = server_->writeBackupStoreConfig(dir_, "config.yaml", "oadp").string();
  }

  void put(const t::VeleroBackupSpec& spec) {
    for (auto& [key, data] : t::veleroBackupObjects("velero", spec))
      ASSERT_TRUE(store_->put(key, data).ok()) << key;
  }

  ProcessResult run(std::vector<std::string> args) {
    RealProcessRunner runner;
    ProcessSpec spec;
    spec.argv = {t::binaryPath("src/cli/ocpv-dr").string(), "-c", config_, "--log-format", "json"};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    // The credentials come from the file; a stray environment must not be what makes it work.
    spec.env = {{"AWS_ACCESS_KEY_ID", ""}, {"AWS_SECRET_ACCESS_KEY", ""}};
    spec.timeout = std::chrono::seconds(60);
    auto r = runner.run(spec);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
    return r.ok() ? r.value() : ProcessResult{};
  }

  std::vector<std::string> allKeys() {
    auto l = store_->list({"", "", 1000});
    EXPECT_TRUE(l.ok());
    std::vector<std::string> keys;
    for (const auto& o : l->objects) keys.push_back(o.key + "@" + o.etag);
    return keys;
  }

  static t::VeleroBackupSpec spec(const std::string& name, const std::string& phase,
                                  const char* started, const char* completed) {
    t::VeleroBackupSpec s;
    s.name = name;
    s.phase = phase;
    s.started = parseTime(started).value();
    if (completed) s.completed = parseTime(completed).value();
    s.includedNamespaces = {"vms"};
    return s;
  }

  t::TempDir dir_;
  std::unique_ptr<t::S3rverProcess> server_;
  CurlHttpClient http_;
  RealClock clock_;
  std::unique_ptr<s3::S3ObjectStore> store_;
  std::string config_;
};

TEST_F(BackupCli, ListOrdersByCompletionAndMarksLatest) {
  auto newer = spec("backup-a", "Completed", "2026-11-22T01:00:00Z", "2026-11-22T01:10:00Z");
  newer.objects = {
      t::samplePv("pvc-1", "nfs-primary.example.com", "/exports/ocp/vms-root-pvc-1", "vms", "root"),
      t::samplePvc("vms", "root", "pvc-1", "root"), t::sampleVm("vms", "vm-1", "root"),
      t::sampleDataVolume("vms", "root")};
  put(newer);
  put(spec("backup-z", "Completed", "2026-11-20T01:00:00Z", "2026-11-20T01:10:00Z"));
  put(spec("backup-m-partial", "PartiallyFailed", "2026-11-23T01:00:00Z", "2026-11-23T01:10:00Z"));
  put(spec("backup-n-finalizing", "Finalizing", "2026-11-24T01:00:00Z", nullptr));
  const auto before = allKeys();

  ProcessResult r = run({"backup", "list", "--json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  auto doc = parseJson(r.out, "backup list output");
  ASSERT_TRUE(doc.ok()) << doc.error().describe() << "\n" << r.out;
  EXPECT_EQ((*doc)["latest"], "backup-a");
  EXPECT_EQ((*doc)["backupsPrefix"], "velero/backups/");
  std::vector<std::string> order;
  for (const auto& b : (*doc)["backups"]) order.push_back(b["name"]);
  EXPECT_EQ(order, (std::vector<std::string>{"backup-a", "backup-z", "backup-n-finalizing",
                                             "backup-m-partial"}));
  EXPECT_EQ((*doc)["backups"][0]["phase"], "Completed");
  EXPECT_EQ((*doc)["backups"][0]["completed"], "2026-11-22T01:10:00Z");
  EXPECT_EQ((*doc)["backups"][0]["latest"], true);
  EXPECT_EQ((*doc)["backups"][2]["completed"], nullptr);
  EXPECT_EQ((*doc)["backups"][3]["phase"], "PartiallyFailed");
  EXPECT_EQ((*doc)["backups"][3]["usable"], false);

  ProcessResult text = run({"backup", "list"});
  ASSERT_EQ(text.exitCode, 0) << text.err;
  EXPECT_NE(text.out.find("backup-a"), std::string::npos);
  EXPECT_NE(text.out.find("<- latest"), std::string::npos) << text.out;

  ProcessResult show = run({"backup", "show", "backup-a", "--objects", "--json"});
  ASSERT_EQ(show.exitCode, 0) << show.err;
  auto s = parseJson(show.out, "backup show output");
  ASSERT_TRUE(s.ok()) << s.error().describe() << "\n" << show.out;
  EXPECT_EQ((*s)["backup"]["name"], "backup-a");
  const Json& o = (*s)["objects"];
  EXPECT_EQ(o["formatVersion"], "1.1.0");
  EXPECT_EQ(o["totalItems"], 4);
  EXPECT_EQ(o["inventory"]["persistentvolumes"], 1);
  EXPECT_EQ(o["inventory"]["virtualmachines.kubevirt.io"], 1);
  ASSERT_EQ(o["persistentVolumes"].size(), 1u);
  EXPECT_EQ(o["persistentVolumes"][0]["source"]["server"], "nfs-primary.example.com");
  EXPECT_EQ(o["persistentVolumes"][0]["source"]["path"], "/exports/ocp/vms-root-pvc-1");
  EXPECT_EQ(o["persistentVolumes"][0]["claim"], "vms/root");
  EXPECT_EQ(o["persistentVolumeClaims"][0]["populatedFor"], "root");
  EXPECT_EQ(o["virtualMachines"][0]["runStrategy"], "Always");
  EXPECT_EQ(o["virtualMachines"][0]["volumes"][0]["dataVolume"], "root");
  EXPECT_EQ(o["dataVolumes"][0]["name"], "root");

  ProcessResult human = run({"backup", "show", "backup-a", "--objects"});
  ASSERT_EQ(human.exitCode, 0) << human.err;
  EXPECT_NE(human.out.find("nfs nfs-primary.example.com:/exports/ocp/vms-root-pvc-1"),
            std::string::npos)
      << human.out;

  EXPECT_EQ(allKeys(), before) << "backup list/show must not write to the storage location";
}

TEST_F(BackupCli, ErrorsHaveKindsAndExitCodes) {
  put(spec("backup-a", "Completed", "2026-11-22T01:00:00Z", "2026-11-22T01:10:00Z"));
  ProcessResult missing = run({"backup", "show", "nope", "--json"});
  EXPECT_EQ(missing.exitCode, 7) << missing.err;
  auto doc = parseJson(missing.out, "error output");
  ASSERT_TRUE(doc.ok()) << missing.out;
  EXPECT_EQ((*doc)["error"]["kind"], "not-found");
  EXPECT_NE((*doc)["error"]["message"].get<std::string>().find("backup \"nope\" not found"),
            std::string::npos);

  ProcessResult bad = run({"backup", "show", "../etc", "--json"});
  EXPECT_EQ(bad.exitCode, 2) << bad.err;

  // A corrupt tarball: show works, --objects names the problem.
  ASSERT_TRUE(store_->put("velero/backups/backup-a/backup-a.tar.gz", "not a tarball").ok());
  ProcessResult corrupt = run({"backup", "show", "backup-a", "--objects", "--json"});
  EXPECT_EQ(corrupt.exitCode, 2) << corrupt.err;
  EXPECT_NE(corrupt.out.find("backup-a.tar.gz"), std::string::npos) << corrupt.out;

  // Wrong credentials: a refusal (exit 3) that says what to check, without the secret.
  dir_.write("cloud-credentials",
             "[default]\naws_access_key_id = WRONGKEY\naws_secret_access_key = hunter2-secret\n");
  ProcessResult denied = run({"backup", "list", "--json"});
  EXPECT_EQ(denied.exitCode, 3) << denied.err;
  EXPECT_NE(denied.out.find("InvalidAccessKeyId"), std::string::npos) << denied.out;
  EXPECT_NE(denied.out.find("backup_store.credentials_file"), std::string::npos) << denied.out;
  EXPECT_EQ(denied.out.find("hunter2-secret"), std::string::npos);
  EXPECT_EQ(denied.err.find("hunter2-secret"), std::string::npos);
}

}  // namespace
}  // namespace ocpvdr::backup
