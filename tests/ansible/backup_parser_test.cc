// roles/oadp_backup_parser against a real s3rver holding Velero-layout backups: the role runs the
// built `ocpv-dr backup list|show --json` (delegated to the dr-nfs inventory host, here this
// machine over the local connection) and turns the documents into facts. Checked: "latest" is
// the newest Completed backup by completion time (not by name), a named backup is read with its
// objects, and a backup that cannot be restored or an unreachable store fails with what to do.
#include <gtest/gtest.h>

#include "ansible/ansible_harness.h"
#include "core/clock.h"
#include "core/curl_http.h"
#include "s3/s3_object_store.h"
#include "support/s3rver_process.h"
#include "support/temp_dir.h"
#include "support/velero_backup_writer.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;

VeleroBackupSpec backup(const std::string& name, const std::string& phase, const char* started,
                        const char* completed) {
  VeleroBackupSpec s;
  s.name = name;
  s.phase = phase;
  s.started = parseTime(started).value();
  if (completed) s.completed = parseTime(completed).value();
  s.includedNamespaces = {"vms"};
  return s;
}

class AnsibleBackupParser : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = AnsibleProject::unavailableReason(); !why.empty())
      GTEST_SKIP() << "SKIPPED (ansible): " << why;
    auto s = S3rverProcess::start({"oadp"});
    if (!s.ok() && s.error().kind == ErrorKind::NotFound)
      GTEST_SKIP() << "SKIPPED (s3rver): " << s.error().message;
    ASSERT_TRUE(s.ok()) << s.error().describe();
    s3_ = std::move(s).value();
    s3::S3Options o;
    o.endpoint = s3_->endpoint();
    o.bucket = "oadp";
    auto store = s3::S3ObjectStore::create(
        o, s3::AwsCredentials{S3rverProcess::kAccessKey, S3rverProcess::kSecretKey, "", "t"}, http_,
        clock_);
    ASSERT_TRUE(store.ok()) << store.error().describe();
    store_ = std::move(store).value();
    project_ = std::make_unique<AnsibleProject>(dir_ / "ansible");
    inventory_ = project_->writeLocalInventory();
    config_ = writeConfig("oadp");
    // A playbook that runs just this role and hands its facts back as artifacts.
    playbook_ = dir_.write("parse_backup.yml", R"(---
- name: Parse an OADP backup
  hosts: localhost
  gather_facts: false
  roles:
    - role: oadp_backup_parser
  post_tasks:
    - name: Hand the facts back
      ansible.builtin.set_stats:
        data:
          backup: "{{ oadp_backup_parser_backup }}"
          objects: "{{ oadp_backup_parser_objects }}"
          listing: "{{ oadp_backup_parser_list }}"
)");
  }

  fs::path writeConfig(const std::string& bucket) {
    return s3_->writeBackupStoreConfig(dir_, "config-" + bucket + ".yaml", bucket);
  }

  void put(const VeleroBackupSpec& spec) {
    for (auto& [key, data] : veleroBackupObjects("velero", spec))
      ASSERT_TRUE(store_->put(key, data).ok()) << key;
  }

  PlaybookRun parse(Json vars, const fs::path& config = {}) {
    vars["ocpvdr_binary"] = binaryPath("src/cli/ocpv-dr").string();
    vars["ocpvdr_config_path"] = (config.empty() ? config_ : config).string();
    return project_->run(playbook_.string(), inventory_, vars, std::chrono::seconds(180));
  }

  TempDir dir_{"ansible-backup"};
  std::unique_ptr<S3rverProcess> s3_;
  CurlHttpClient http_;
  RealClock clock_;
  std::unique_ptr<s3::S3ObjectStore> store_;
  std::unique_ptr<AnsibleProject> project_;
  fs::path inventory_, config_, playbook_;
};

TEST_F(AnsibleBackupParser, PicksTheNewestCompletedBackupAndReadsItsObjects) {
  // "nightly-9" sorts after "nightly-10" by name but completed earlier; the newest of all is
  // still Finalizing and must not be chosen.
  auto latest = backup("nightly-10", "Completed", "2026-11-23T00:00:00Z", "2026-11-23T00:12:00Z");
  latest.objects = {
      samplePv("pvc-1", "nfs-primary.example.com", "/exports/ocp/vms-root-pvc-1", "vms", "root"),
      samplePvc("vms", "root", "pvc-1", "root"), sampleVm("vms", "vm-1", "root"),
      sampleDataVolume("vms", "root")};
  put(latest);
  put(backup("nightly-9", "Completed", "2026-11-22T00:00:00Z", "2026-11-22T00:11:00Z"));
  put(backup("nightly-11", "Finalizing", "2026-11-24T00:00:00Z", nullptr));

  auto r = parse(Json::object());
  ASSERT_EQ(r.exitCode, 0) << r.describe();
  Json stats = r.customStats();
  EXPECT_EQ(stats["backup"]["name"], "nightly-10") << stats.dump();
  EXPECT_EQ(stats["backup"]["phase"], "Completed");
  EXPECT_EQ(stats["listing"]["latest"], "nightly-10");
  EXPECT_EQ(stats["listing"]["backups"].size(), 3u);
  ASSERT_EQ(stats["objects"]["persistentVolumes"].size(), 1u) << stats["objects"].dump();
  EXPECT_EQ(stats["objects"]["persistentVolumes"][0]["name"], "pvc-1");
  EXPECT_EQ(stats["objects"]["virtualMachines"][0]["name"], "vm-1");
  EXPECT_EQ(r.stat("localhost", "changed"), 0) << "reading backups changes nothing";

  // Named explicitly: that one, even though it is not the latest.
  auto named = parse({{"oadp_backup_parser_backup_name", "nightly-9"}});
  ASSERT_EQ(named.exitCode, 0) << named.describe();
  EXPECT_EQ(named.customStats()["backup"]["name"], "nightly-9");
}

TEST_F(AnsibleBackupParser, RefusesBackupsThatCannotBeRestored) {
  put(backup("nightly-1", "Completed", "2026-11-22T00:00:00Z", "2026-11-22T00:11:00Z"));
  put(backup("nightly-2", "Finalizing", "2026-11-23T00:00:00Z", nullptr));
  put(backup("weekly-1", "PartiallyFailed", "2026-11-23T01:00:00Z", "2026-11-23T01:30:00Z"));

  auto finalizing = parse({{"oadp_backup_parser_backup_name", "nightly-2"}});
  EXPECT_NE(finalizing.exitCode, 0);
  EXPECT_NE(finalizing.failures().find("Backup nightly-2 cannot be restored: phase Finalizing"),
            std::string::npos)
      << finalizing.describe();

  auto missing = parse({{"oadp_backup_parser_backup_name", "nightly-3"}});
  EXPECT_NE(missing.exitCode, 0);
  EXPECT_NE(missing.failures().find("Backup nightly-3 is not in"), std::string::npos)
      << missing.describe();
  EXPECT_NE(missing.failures().find("available: nightly-1"), std::string::npos)
      << missing.describe();

  auto partial = parse({{"oadp_backup_parser_backup_name", "weekly-1"}});
  EXPECT_NE(partial.exitCode, 0);
  EXPECT_NE(partial.failures().find("oadp_backup_parser_allow_partially_failed"), std::string::npos)
      << partial.describe();
  auto allowed = parse({{"oadp_backup_parser_backup_name", "weekly-1"},
                        {"oadp_backup_parser_allow_partially_failed", true}});
  ASSERT_EQ(allowed.exitCode, 0) << allowed.describe();
  EXPECT_EQ(allowed.customStats()["backup"]["phase"], "PartiallyFailed");
}

TEST_F(AnsibleBackupParser, NoCompletedBackupOrAWrongBucketSaysWhatToCheck) {
  put(backup("nightly-2", "Finalizing", "2026-11-23T00:00:00Z", nullptr));
  auto none = parse(Json::object());
  EXPECT_NE(none.exitCode, 0);
  EXPECT_NE(none.failures().find("No Completed backup in"), std::string::npos) << none.describe();

  auto wrong = parse(Json::object(), writeConfig("no-such-bucket"));
  EXPECT_NE(wrong.exitCode, 0);
  const std::string f = wrong.failures();
  EXPECT_NE(f.find("Reading the OADP backups on dr-nfs failed"), std::string::npos)
      << wrong.describe();
  EXPECT_NE(f.find("Check: backup_store in"), std::string::npos) << f;
}

}  // namespace
}  // namespace ocpvdr::testing
