// Backup discovery over an in-memory store: listing order, "latest", tolerance of unreadable
// backups, and proof that only velero-backup.json files are read and nothing is written.
#include <gtest/gtest.h>

#include "backup/backup_discovery.h"
#include "backup/backup_report.h"
#include "s3/fakes.h"
#include "support/velero_backup_writer.h"

namespace ocpvdr::backup {
namespace {

using s3::testing::MemoryObjectStore;

SystemTime at(const std::string& rfc3339) {
  return parseTime(rfc3339).value();
}

void addBackup(MemoryObjectStore& store, const std::string& prefix,
               ocpvdr::testing::VeleroBackupSpec spec) {
  for (auto& [key, data] : ocpvdr::testing::veleroBackupObjects(prefix, spec))
    store.objects[key] = data;
}

ocpvdr::testing::VeleroBackupSpec spec(const std::string& name, const std::string& phase,
                                       std::optional<std::string> started,
                                       std::optional<std::string> completed) {
  ocpvdr::testing::VeleroBackupSpec s;
  s.name = name;
  s.phase = phase;
  if (started) s.started = at(*started);
  if (completed) s.completed = at(*completed);
  s.includedNamespaces = {"vms"};
  return s;
}

// The "must show" case: a Finalizing backup, a PartiallyFailed one and two Completed ones whose
// key order disagrees with their completion order.
void addScenario(MemoryObjectStore& store, const std::string& prefix) {
  // Sorts first by key but completed last: the latest.
  addBackup(store, prefix,
            spec("backup-a", "Completed", "2026-11-22T01:00:00Z", "2026-11-22T01:10:00Z"));
  // Sorts last by key, completed earlier: a key-order "latest" would pick it, wrongly.
  addBackup(store, prefix,
            spec("backup-z", "Completed", "2026-11-20T01:00:00Z", "2026-11-20T01:10:00Z"));
  // The newest completion of all, but only partially successful.
  addBackup(
      store, prefix,
      spec("backup-m-partial", "PartiallyFailed", "2026-11-23T01:00:00Z", "2026-11-23T01:10:00Z"));
  // Still being written: no completion timestamp.
  addBackup(store, prefix,
            spec("backup-n-finalizing", "Finalizing", "2026-11-24T01:00:00Z", std::nullopt));
}

TEST(BackupDiscovery, ListOrderAndLatestFollowCompletionNotKeys) {
  MemoryObjectStore store;
  addScenario(store, "velero");
  BackupDiscovery d(store, "velero");
  auto list = d.list();
  ASSERT_TRUE(list.ok()) << list.error().describe();
  std::vector<std::string> names;
  for (const auto& b : *list) names.push_back(b.name);
  EXPECT_EQ(names, (std::vector<std::string>{"backup-a", "backup-z", "backup-n-finalizing",
                                             "backup-m-partial"}));
  EXPECT_EQ((*list)[0].phase, "Completed");
  EXPECT_EQ((*list)[0].includedNamespaces, std::vector<std::string>{"vms"});
  EXPECT_EQ((*list)[0].tarballKey, "velero/backups/backup-a/backup-a.tar.gz");
  EXPECT_FALSE((*list)[2].completionTimestamp.has_value());

  auto latest = d.latest();
  ASSERT_TRUE(latest.ok()) << latest.error().describe();
  EXPECT_EQ(latest->name, "backup-a");
  auto latestAny = d.latest(/*allowPartiallyFailed=*/true);
  ASSERT_TRUE(latestAny.ok());
  EXPECT_EQ(latestAny->name, "backup-m-partial");

  auto report = backupListReport(d, store.describe());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ((*report)["latest"], "backup-a");
  EXPECT_EQ((*report)["backups"][0]["latest"], true);
  EXPECT_EQ((*report)["backups"][1]["latest"], false);
  EXPECT_EQ((*report)["backups"][0]["completed"], "2026-11-22T01:10:00Z");
  EXPECT_EQ((*report)["backups"][3]["usable"], false);
  std::string text = renderBackupList(*report);
  EXPECT_NE(text.find("backup-a"), std::string::npos);
  EXPECT_LT(text.find("backup-a"), text.find("backup-z"));
  EXPECT_NE(text.find("<- latest"), std::string::npos);
}

// Timestamps have whole-second resolution: two backups may complete in the same second. Then the
// later start wins, and then the greater name (Schedule backups end in <yyyymmddhhmmss>), so the
// list, latest() and the report agree whatever order the store lists them in.
TEST(BackupDiscovery, ATieInCompletionIsBrokenByStartThenName) {
  MemoryObjectStore store;
  addBackup(
      store, "velero",
      spec("daily-20261123010000", "Completed", "2026-11-23T01:00:00Z", "2026-11-23T01:05:00Z"));
  addBackup(
      store, "velero",
      spec("daily-20261123010001", "Completed", "2026-11-23T01:00:00Z", "2026-11-23T01:05:00Z"));
  addBackup(store, "velero",
            spec("adhoc", "Completed", "2026-11-23T00:59:00Z", "2026-11-23T01:05:00Z"));
  BackupDiscovery d(store, "velero");
  auto list = d.list();
  ASSERT_TRUE(list.ok()) << list.error().describe();
  std::vector<std::string> names;
  for (const auto& b : *list) names.push_back(b.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"daily-20261123010001", "daily-20261123010000", "adhoc"}));
  auto latest = d.latest();
  ASSERT_TRUE(latest.ok()) << latest.error().describe();
  EXPECT_EQ(latest->name, "daily-20261123010001");
  auto report = backupListReport(d, store.describe());
  ASSERT_TRUE(report.ok());
  EXPECT_EQ((*report)["latest"], "daily-20261123010001");
}

TEST(BackupDiscovery, ReadsOnlyMetadataAndNeverWrites) {
  MemoryObjectStore store;
  addScenario(store, "velero");
  store.objects["velero/backups/backup-a/backup-a-logs.gz"] = "logs";
  store.objects["velero/restores/r1/restore-r1-logs.gz"] = "restore logs";
  store.objects["other-app/data.bin"] = "unrelated";
  BackupDiscovery d(store, "velero");
  ASSERT_TRUE(d.list().ok());
  std::vector<std::string> expected = {"list velero/backups/"};
  for (const char* b : {"backup-a", "backup-m-partial", "backup-n-finalizing", "backup-z"})
    expected.push_back(std::string("get velero/backups/") + b + "/velero-backup.json");
  EXPECT_EQ(store.calls, expected);

  store.calls.clear();
  auto one = d.get("backup-z");
  ASSERT_TRUE(one.ok()) << one.error().describe();
  EXPECT_EQ(store.calls,
            std::vector<std::string>{"get velero/backups/backup-z/velero-backup.json"});
  for (const auto& c : store.calls) EXPECT_NE(c.rfind("put", 0), 0u) << c;
}

TEST(BackupDiscovery, UnreadableBackupsAreListedWithTheProblemButNeverChosen) {
  MemoryObjectStore store;
  addBackup(store, "", spec("good", "Completed", "2026-11-20T01:00:00Z", "2026-11-20T02:00:00Z"));
  store.objects["backups/no-metadata/no-metadata.tar.gz"] = "x";
  store.objects["backups/broken/velero-backup.json"] = "{\"status\": {\"phase\": ";
  store.objects["backups/renamed/velero-backup.json"] =
      R"({"apiVersion":"velero.io/v1","kind":"Backup","metadata":{"name":"other"},
          "status":{"phase":"Completed","completionTimestamp":"2026-12-01T00:00:00Z"}})";
  store.objects["backups/wrong-kind/velero-backup.json"] =
      R"({"apiVersion":"velero.io/v1","kind":"Restore","metadata":{"name":"wrong-kind"}})";
  store.objects["backups/bad-time/velero-backup.json"] =
      R"({"kind":"Backup","metadata":{"name":"bad-time"},
          "status":{"phase":"Completed","completionTimestamp":"yesterday"}})";
  store.objects["backups/Not_A_Name/velero-backup.json"] = "{}";
  BackupDiscovery d(store, "/");
  EXPECT_EQ(d.backupsPrefix(), "backups/");
  auto list = d.list();
  ASSERT_TRUE(list.ok()) << list.error().describe();
  ASSERT_EQ(list->size(), 7u);
  EXPECT_EQ((*list)[0].name, "good");
  std::map<std::string, std::string> problems;
  for (const auto& b : *list) problems[b.name] = b.problem;
  EXPECT_NE(problems["no-metadata"].find("no velero-backup.json"), std::string::npos);
  EXPECT_NE(problems["broken"].find("velero-backup.json"), std::string::npos) << problems["broken"];
  EXPECT_NE(problems["renamed"].find("names backup \"other\""), std::string::npos);
  EXPECT_NE(problems["wrong-kind"].find("expected Backup"), std::string::npos);
  EXPECT_NE(problems["bad-time"].find("status.completionTimestamp"), std::string::npos)
      << problems["bad-time"];
  EXPECT_NE(problems["Not_A_Name"].find("not a Kubernetes object name"), std::string::npos);
  auto latest = d.latest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->name, "good");  // "renamed" claims a newer completion but is inconsistent
}

TEST(BackupDiscovery, NoUsableBackupSaysWhatWasSeen) {
  MemoryObjectStore store;
  addBackup(store, "p",
            spec("half", "PartiallyFailed", "2026-11-20T01:00:00Z", "2026-11-20T02:00:00Z"));
  addBackup(store, "p", spec("running", "InProgress", "2026-11-21T01:00:00Z", std::nullopt));
  BackupDiscovery d(store, "p/");
  auto latest = d.latest();
  ASSERT_FALSE(latest.ok());
  EXPECT_EQ(latest.error().kind, ErrorKind::NotFound);
  EXPECT_NE(latest.error().message.find("no Completed backup under p/backups/"), std::string::npos)
      << latest.error().message;
  EXPECT_NE(latest.error().message.find("half (PartiallyFailed"), std::string::npos);
  EXPECT_NE(latest.error().message.find("running (InProgress"), std::string::npos);

  MemoryObjectStore empty;
  BackupDiscovery none(empty, "");
  auto l = none.latest();
  ASSERT_FALSE(l.ok());
  EXPECT_NE(l.error().message.find("no backups at all"), std::string::npos);
}

TEST(BackupDiscovery, StoreFailuresFailTheWholeCall) {
  MemoryObjectStore store;
  addScenario(store, "velero");
  store.failures["velero/backups/backup-z/velero-backup.json"] =
      refusedError("GET s3://b/velero/backups/backup-z/velero-backup.json: HTTP 403 AccessDenied");
  BackupDiscovery d(store, "velero");
  auto list = d.list();
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().kind, ErrorKind::Refused);
  EXPECT_NE(list.error().message.find("AccessDenied"), std::string::npos);
}

TEST(BackupDiscovery, GetValidatesNamesAndReportsMissingBackups) {
  MemoryObjectStore store;
  BackupDiscovery d(store, "velero");
  for (const char* bad : {"", "../etc", "a/b", "UPPER", ".hidden", "x y"}) {
    auto r = d.get(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid) << bad;
  }
  EXPECT_TRUE(store.calls.empty()) << "invalid names never reach the store";
  auto missing = d.get("nightly-1");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
  EXPECT_NE(missing.error().message.find("backup \"nightly-1\" not found"), std::string::npos);
}

TEST(BackupDiscovery, ParsesEveryVeleroBackupField) {
  auto b = parseVeleroBackup(R"({
    "apiVersion": "velero.io/v1", "kind": "Backup",
    "metadata": {"name": "nightly-20261124", "namespace": "openshift-adp"},
    "spec": {"includedNamespaces": ["vms", "db"], "storageLocation": "dpa-1",
             "ttl": "720h0m0s"},
    "status": {"phase": "PartiallyFailed", "errors": 2, "warnings": 5,
               "startTimestamp": "2026-11-24T00:00:01Z",
               "completionTimestamp": "2026-11-24T00:12:21Z",
               "expiration": "2026-12-24T00:00:01Z", "formatVersion": "1.1.0",
               "progress": {"totalItems": 120, "itemsBackedUp": 118}}
  })");
  ASSERT_TRUE(b.ok()) << b.error().describe();
  EXPECT_EQ(b->name, "nightly-20261124");
  EXPECT_EQ(b->phase, "PartiallyFailed");
  EXPECT_EQ(b->errors, 2);
  EXPECT_EQ(b->warnings, 5);
  EXPECT_EQ(b->includedNamespaces, (std::vector<std::string>{"vms", "db"}));
  EXPECT_EQ(b->storageLocation, "dpa-1");
  EXPECT_EQ(b->formatVersion, "1.1.0");
  EXPECT_EQ(b->itemsBackedUp, 118);
  EXPECT_EQ(formatTime(*b->completionTimestamp), "2026-11-24T00:12:21Z");
  EXPECT_EQ(formatTime(*b->expiration), "2026-12-24T00:00:01Z");
  EXPECT_FALSE(b->usable(false));
  EXPECT_TRUE(b->usable(true));

  auto fresh = parseVeleroBackup(R"({"kind":"Backup","metadata":{"name":"x"}})");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->phase, "New");
  for (const char* bad : {"[]", "{\"status\":{\"errors\":-1}}", "{\"status\":{\"errors\":\"two\"}}",
                          "{\"spec\":{\"includedNamespaces\":\"vms\"}}",
                          "{\"spec\":{\"includedNamespaces\":[1]}}", "{\"apiVersion\":\"v2\"}"}) {
    auto r = parseVeleroBackup(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid) << bad;
    EXPECT_NE(r.error().message.find("velero-backup.json"), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace ocpvdr::backup
