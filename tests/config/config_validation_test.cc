// Validation of the configuration file: type and range errors (one table), durations, enums,
// unknown keys, cross-field rules, several problems in one run, malformed YAML.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "config/config.h"
#include "config/config_test_util.h"

namespace ocpvdr::config {
namespace {

using testing::describeAll;
using testing::kMinimalYaml;
using testing::minimalWith;

// Issues whose path equals `path`.
std::vector<Issue> issuesAt(const std::vector<Issue>& issues, const std::string& path) {
  std::vector<Issue> out;
  for (const auto& i : issues)
    if (i.path == path) out.push_back(i);
  return out;
}

TEST(ConfigValidation, MinimalDocumentIsValid) {
  LoadResult r = parseConfig(kMinimalYaml);
  EXPECT_TRUE(r.issues.empty()) << describeAll(r.issues);
}

// ---- one wrong value each: exactly one issue, at that key, with that message ----

struct TypeCase {
  const char* key;      // where the value is set
  const char* value;    // YAML text of the value
  const char* path;     // expected issue path
  const char* message;  // expected issue message (exact)
};

void PrintTo(const TypeCase& c, std::ostream* os) {
  *os << c.key << " = " << c.value;
}

class TypeErrors : public ::testing::TestWithParam<TypeCase> {};

TEST_P(TypeErrors, ReportsOneIssueNamingKeyExpectationAndValue) {
  const TypeCase& c = GetParam();
  LoadResult r = parseConfig(minimalWith(c.key, c.value));
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].path, c.path);
  EXPECT_EQ(r.issues[0].message, c.message);
  EXPECT_GT(r.issues[0].line, 0) << "issue should point at a line";
}

const TypeCase kTypeCases[] = {
    // integers with ranges
    {"replication.parallelism", "four", "replication.parallelism",
     "expected an integer 1..64, got \"four\""},
    {"replication.parallelism", "0", "replication.parallelism",
     "expected an integer 1..64, got \"0\""},
    {"replication.parallelism", "65", "replication.parallelism",
     "expected an integer 1..64, got \"65\""},
    {"replication.parallelism", "2.5", "replication.parallelism",
     "expected an integer 1..64, got \"2.5\""},
    {"replication.parallelism", "[4]", "replication.parallelism",
     "expected an integer 1..64, got a list"},
    {"server.workers", "0", "server.workers", "expected an integer 1..64, got \"0\""},
    {"sites.primary.ssh.port", "70000", "sites.primary.ssh.port",
     "expected an integer 1..65535, got \"70000\""},
    {"sites.dr.ssh.port", "22x", "sites.dr.ssh.port", "expected an integer 1..65535, got \"22x\""},
    {"replication.rsync.bwlimit_kibps", "-1", "replication.rsync.bwlimit_kibps",
     "expected an integer 0..1000000000, got \"-1\""},
    {"replication.recovery_points.keep_last", "0", "replication.recovery_points.keep_last",
     "expected an integer 1..100000, got \"0\""},
    {"replication.recovery_points.daily", "-2", "replication.recovery_points.daily",
     "expected an integer 0..36500, got \"-2\""},
    {"server.max_body_bytes", "10", "server.max_body_bytes",
     "expected an integer 1024..1073741824, got \"10\""},
    {"forwarder.spool_max_events", "0", "forwarder.spool_max_events",
     "expected an integer 1..100000000, got \"0\""},
    {"forwarder.spool_max_events", "99999999999999999999999", "forwarder.spool_max_events",
     "expected an integer 1..100000000, got \"99999999999999999999999\""},
    // booleans: YAML true/false only
    {"replication.snapshot_data", "yes", "replication.snapshot_data",
     "expected true or false, got \"yes\""},
    {"sites.primary.kubernetes.in_cluster", "1", "sites.primary.kubernetes.in_cluster",
     "expected true or false, got \"1\""},
    {"server.watch_primary", "{a: b}", "server.watch_primary",
     "expected true or false, got a mapping"},
    {"backup_store.path_style", "on", "backup_store.path_style",
     "expected true or false, got \"on\""},
    // floats
    {"replication.breaker_max_share", "1.5", "replication.breaker_max_share",
     "expected a number 0..1, got \"1.5\""},
    {"replication.breaker_max_share", "-0.1", "replication.breaker_max_share",
     "expected a number 0..1, got \"-0.1\""},
    {"replication.breaker_max_share", "lots", "replication.breaker_max_share",
     "expected a number 0..1, got \"lots\""},
    {"replication.breaker_max_share", ".nan", "replication.breaker_max_share",
     "expected a number 0..1, got \".nan\""},
    {"server.rate_limit_per_second", "0", "server.rate_limit_per_second",
     "expected a number greater than 0 and at most 100000, got \"0\""},
    // absolute paths
    {"sites.primary.nfs.export_roots[0].path", "srv/x", "sites.primary.nfs.export_roots[0].path",
     "expected an absolute path, got \"srv/x\""},
    {"catalog.path", "relative.db", "catalog.path",
     "expected an absolute path, got \"relative.db\""},
    {"catalog.path", "\"\"", "catalog.path", "expected an absolute path, got \"\""},
    {"replication.lock_dir", "/var/../etc", "replication.lock_dir",
     "expected an absolute path without \"..\" components, got \"/var/../etc\""},
    {"sites.primary.ssh.key_file", "keys/id_ed25519", "sites.primary.ssh.key_file",
     "expected an absolute path, got \"keys/id_ed25519\""},
    {"failover.work_dir", "[/a]", "failover.work_dir", "expected an absolute path, got a list"},
    // strings with a shape
    {"sites.primary.name", "\"\"", "sites.primary.name", "expected a non-empty string, got \"\""},
    {"sites.primary.nfs.server", "nfs primary", "sites.primary.nfs.server",
     "expected a host name or IP address, got \"nfs primary\""},
    {"sites.primary.ssh.host", "-oProxyCommand=sh", "sites.primary.ssh.host",
     "expected a host name or IP address, got \"-oProxyCommand=sh\""},
    {"sites.primary.ssh.user", "-l", "sites.primary.ssh.user",
     "expected a user name (letters, digits, '.', '_', '-'), got \"-l\""},
    {"replication.rsync.binary", "bin/rsync", "replication.rsync.binary",
     "expected a program name or an absolute path, got \"bin/rsync\""},
    {"replication.rsync.partial_dir", "../partial", "replication.rsync.partial_dir",
     "expected a relative directory name (no leading \"/\", no \"..\"), got \"../partial\""},
    {"replication.rsync.partial_dir", "/tmp/partial", "replication.rsync.partial_dir",
     "expected a relative directory name (no leading \"/\", no \"..\"), got \"/tmp/partial\""},
    {"forwarder.token_env", "1TOKEN", "forwarder.token_env",
     "expected an environment variable name ([A-Za-z_][A-Za-z0-9_]*), got \"1TOKEN\""},
    {"backup_store.bucket", "My_Bucket", "backup_store.bucket",
     "expected an S3 bucket name (3..63 lower-case letters, digits, '.' and '-'), got "
     "\"My_Bucket\""},
    {"backup_store.prefix", "/velero", "backup_store.prefix",
     "expected an object key prefix without leading or trailing \"/\" (e.g. \"velero\"), got "
     "\"/velero\""},
    {"failover.oadp_namespace", "Openshift_ADP", "failover.oadp_namespace",
     "expected a namespace name (lower-case letters, digits and '-', at most 63), got "
     "\"Openshift_ADP\""},
    // URLs (http/https only)
    {"backup_store.endpoint", "s3.example.com", "backup_store.endpoint",
     "expected an http:// or https:// URL, got \"s3.example.com\""},
    {"forwarder.webhook_url", "ftp://eda.example.com/hook", "forwarder.webhook_url",
     "expected an http:// or https:// URL, got \"ftp://eda.example.com/hook\""},
    {"notify.urls", "[https://ok.example.com/x, not a url]", "notify.urls[1]",
     "expected an http:// or https:// URL, got \"not a url\""},
    {"notify.email.smtp_url", "https://mail.example.com", "notify.email.smtp_url",
     "expected an smtp:// or smtps:// URL (host and optional port), got "
     "\"https://mail.example.com\""},
    {"notify.email.smtp_url", "smtp://user:pw@mail.example.com", "notify.email.smtp_url",
     "expected a URL without a user:password part (the credentials go in "
     "notify.email.auth_file), got a URL with credentials"},
    {"notify.email.to", "[ops@example.com, \"Ops <ops@example.com>\"]", "notify.email.to[1]",
     "expected a mail address such as dr-team@example.com, got \"Ops <ops@example.com>\""},
    // host:port
    {"server.listen", "0.0.0.0", "server.listen",
     "expected host:port with a port 0..65535 (e.g. \"0.0.0.0:8443\"), got \"0.0.0.0\""},
    {"server.listen", "localhost:65536", "server.listen",
     "expected host:port with a port 0..65535 (e.g. \"0.0.0.0:8443\"), got \"localhost:65536\""},
    {"forwarder.listen", ":8080", "forwarder.listen",
     "expected host:port with a port 0..65535 (e.g. \"0.0.0.0:8443\"), got \":8080\""},
    {"forwarder.listen", "\"[::1]:http\"", "forwarder.listen",
     "expected host:port with a port 0..65535 (e.g. \"0.0.0.0:8443\"), got \"[::1]:http\""},
    // time zones
    {"schedule.time_zone", "Mars/Olympus_Mons", "schedule.time_zone",
     "expected an IANA time zone name such as \"UTC\" or \"Europe/Berlin\" (a file under "
     "/usr/share/zoneinfo), got \"Mars/Olympus_Mons\""},
    {"schedule.time_zone", "../../etc/passwd", "schedule.time_zone",
     "expected an IANA time zone name such as \"UTC\" or \"Europe/Berlin\" (a file under "
     "/usr/share/zoneinfo), got \"../../etc/passwd\""},
    {"schedule.time_zone", "/usr/share/zoneinfo/UTC", "schedule.time_zone",
     "expected an IANA time zone name such as \"UTC\" or \"Europe/Berlin\" (a file under "
     "/usr/share/zoneinfo), got \"/usr/share/zoneinfo/UTC\""},
    // lists
    {"replication.storage_classes", "nfs-dynamic", "replication.storage_classes",
     "expected a list (each a StorageClass name), got \"nfs-dynamic\""},
    {"replication.storage_classes", "[]", "replication.storage_classes",
     "expected at least 1 StorageClass name, got none"},
    {"replication.namespaces", "[vms, Bad_NS]", "replication.namespaces[1]",
     "expected a namespace name (lower-case letters, digits and '-', at most 63), got \"Bad_NS\""},
    {"replication.rsync.extra_args", "[--numeric-ids, [x]]", "replication.rsync.extra_args[1]",
     "expected a non-empty string, got a list"},
    // structure
    {"sites.primary.nfs", "nfs.example.com", "sites.primary.nfs",
     "expected a mapping, got \"nfs.example.com\""},
    {"replication.path_mappings", "/exports/ocp", "replication.path_mappings",
     "expected a list of path mapping ({primary, dr}), got \"/exports/ocp\""},
    {"replication.path_mappings[0]", "/exports/ocp", "replication.path_mappings[0]",
     "expected a mapping, got \"/exports/ocp\""},
};

INSTANTIATE_TEST_SUITE_P(EachType, TypeErrors, ::testing::ValuesIn(kTypeCases));

// The spec's own example messages, verbatim through describe().
TEST(ConfigValidation, DescribeJoinsPathAndMessage) {
  LoadResult r = parseConfig(minimalWith("replication.parallelism", "four"));
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_EQ(r.issues[0].describe(),
            "replication.parallelism: expected an integer 1..64, got \"four\"");
  r = parseConfig(minimalWith("sites.primary.nfs.export_roots",
                              "[{export: /e, path: /p}, "
                              "{export: /e2, path: srv/x}]"));
  ASSERT_FALSE(r.issues.empty());
  EXPECT_EQ(r.issues[0].describe(),
            "sites.primary.nfs.export_roots[1].path: expected an absolute path, got \"srv/x\"");
}

// ---- accepted values of the shaped types ----

struct GoodCase {
  const char* key;
  const char* value;
};

void PrintTo(const GoodCase& c, std::ostream* os) {
  *os << c.key << " = " << c.value;
}

class AcceptedValues : public ::testing::TestWithParam<GoodCase> {};

TEST_P(AcceptedValues, NoIssue) {
  LoadResult r = parseConfig(minimalWith(GetParam().key, GetParam().value));
  EXPECT_TRUE(r.issues.empty()) << GetParam().key << " = " << GetParam().value << "\n"
                                << describeAll(r.issues);
}

const GoodCase kGoodCases[] = {
    {"server.listen", "127.0.0.1:0"},
    {"server.listen", "\"[::]:8443\""},
    {"forwarder.listen", "localhost:65535"},
    {"schedule.time_zone", "UTC"},
    {"schedule.cron", "\"*/15 * * * *\""},
    {"schedule.cron", "\"0 2 * * mon-fri\""},
    {"schedule.cron", "\"30 1,13 1-15/2 JAN,jul 0,7\""},
    {"replication.label_selector", "\"app=vm,tier notin (test,dev),!legacy\""},
    {"backup_store.endpoint", "http://127.0.0.1:9000"},
    {"forwarder.webhook_url", "https://eda.example.com:5000/endpoint"},
    {"sites.primary.nfs.server", "10.0.0.5"},
    {"sites.primary.nfs.aliases", "[nfs1, 10.0.0.5, \"fd00::5\"]"},
    {"sites.primary.kubernetes.in_cluster", "True"},
    {"replication.rsync.binary", "/usr/local/bin/rsync"},
    {"replication.rsync.partial_dir", ".partial/sub"},
    {"replication.breaker_max_share", "0"},
    {"replication.breaker_max_share", "1"},
    {"backup_store.prefix", "velero/cluster-a"},
    {"backup_store.bucket", "oadp-backups.example"},
    {"replication.parallelism", "\"8\""},  // quoted numbers are read as numbers
    {"replication.parallelism", "~"},      // null: the default
    {"schedule", "~"},
    {"forwarder", "{}"},
};

INSTANTIATE_TEST_SUITE_P(Shapes, AcceptedValues, ::testing::ValuesIn(kGoodCases));

TEST(ConfigValidation, ExistingZoneFileIsAccepted) {
  if (!std::filesystem::is_regular_file("/usr/share/zoneinfo/Europe/Berlin"))
    GTEST_SKIP() << "tzdata has no Europe/Berlin on this machine";
  LoadResult r = parseConfig(minimalWith("schedule.time_zone", "Europe/Berlin"));
  EXPECT_TRUE(r.issues.empty()) << describeAll(r.issues);
  EXPECT_EQ(r.config.schedule.timeZone, "Europe/Berlin");
}

// ---- cron: a light syntax check with ranges ----

class CronErrors : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(CronErrors, NamesTheProblem) {
  auto [expr, detail] = GetParam();
  LoadResult r = parseConfig(minimalWith("schedule.cron", std::string("\"") + expr + "\""));
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].path, "schedule.cron");
  EXPECT_EQ(r.issues[0].message,
            std::string("expected a five-field cron expression (minute hour day-of-month month "
                        "day-of-week) such as \"0 * * * *\", got \"") +
                expr + "\" (" + detail + ")");
}

INSTANTIATE_TEST_SUITE_P(
    Cron, CronErrors,
    ::testing::Values(
        std::pair{"* * * *", "4 fields"}, std::pair{"@hourly", "1 field"},
        std::pair{"0 * * * * *", "6 fields"},
        std::pair{"60 * * * *", "minute field \"60\": 60 is outside 0..59"},
        std::pair{"0 24 * * *", "hour field \"24\": 24 is outside 0..23"},
        std::pair{"0 0 0 * *", "day-of-month field \"0\": 0 is outside 1..31"},
        std::pair{"0 0 * 13 *", "month field \"13\": 13 is outside 1..12"},
        std::pair{"0 0 * * 8", "day-of-week field \"8\": 8 is outside 0..7"},
        std::pair{"*/0 * * * *", "minute field \"*/0\": step \"0\" is not a positive number"},
        std::pair{"5-1 * * * *", "minute field \"5-1\": range \"5-1\" runs backwards"},
        std::pair{"0 0 * foo *", "month field \"foo\": \"foo\" is not a number or a month name"},
        std::pair{"0 0 mon * *", "day-of-month field \"mon\": \"mon\" is not a number"},
        std::pair{"0,,5 * * * *", "minute field \"0,,5\": an empty list item"}));

// ---- label selectors ----

TEST(ConfigValidation, LabelSelectorRejectsEmptyRequirementsAndUnbalancedParentheses) {
  struct Case {
    const char* selector;
    const char* detail;
  } cases[] = {{"app=vm,,tier=db", "requirement 2 is empty"},
               {"app=vm,", "requirement 2 is empty"},
               {"env in (a,b", "unbalanced \"(\""},
               {"env in a,b)", "unbalanced \")\""},
               {"=vm", "requirement 1 has no label key"}};
  for (const auto& c : cases) {
    LoadResult r = parseConfig(
        minimalWith("replication.label_selector", std::string("\"") + c.selector + "\""));
    ASSERT_EQ(r.issues.size(), 1u) << c.selector << "\n" << describeAll(r.issues);
    EXPECT_EQ(r.issues[0].path, "replication.label_selector");
    EXPECT_NE(r.issues[0].message.find(c.detail), std::string::npos) << r.issues[0].message;
    EXPECT_NE(r.issues[0].message.find(c.selector), std::string::npos) << r.issues[0].message;
  }
}

// ---- durations ----

TEST(Durations, AcceptedForms) {
  struct Case {
    const char* text;
    std::int64_t ms;
  } cases[] = {
      {"90s", 90'000},      {"15m", 900'000},        {"2h", 7'200'000}, {"7d", 604'800'000},
      {"1h30m", 5'400'000}, {"500ms", 500},          {"0", 0},          {"0s", 0},
      {"3600", 3'600'000},  {"1d2h3m4s", 93'784'000}};
  for (const auto& c : cases) {
    auto d = parseDuration(c.text);
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.error().message;
    EXPECT_EQ(d->count(), c.ms) << c.text;
  }
}

TEST(Durations, RejectedFormsNameTheAcceptedOnes) {
  for (const char* text : {"-5s", "-1", "7 days", "1.5h", "h", "5x", "", "1h-30m",
                           "99999999999999d", "1e3", "5S", "s5", "++5"}) {
    auto d = parseDuration(text);
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_EQ(d.error().kind, ErrorKind::Invalid);
    EXPECT_NE(d.error().message.find("\"90s\", \"15m\", \"2h\", \"7d\""), std::string::npos)
        << d.error().message;
  }
}

TEST(Durations, FormatReadsBack) {
  for (std::int64_t ms : {0LL, 1LL, 999LL, 1000LL, 1500LL, 59'000LL, 60'000LL, 90'000LL,
                          3'600'000LL, 5'400'000LL, 86'400'000LL, 604'800'000LL, 90'061'000LL}) {
    std::string text = formatDuration(Millis{ms});
    auto back = parseDuration(text);
    ASSERT_TRUE(back.ok()) << text;
    EXPECT_EQ(back->count(), ms) << text;
  }
  EXPECT_EQ(formatDuration(Millis{604'800'000}), "7d");
  EXPECT_EQ(formatDuration(Millis{90'000}), "90s");
  EXPECT_EQ(formatDuration(Millis{1500}), "1500ms");
}

TEST(Durations, KeysStoreTheirUnits) {
  LoadResult r = parseConfig(std::string(kMinimalYaml) +
                             "  trash_retention: 2d\n  rpo_target: 1h30m\n"
                             "  rsync: {io_timeout: 45, max_duration: 6h}\n"
                             "server: {settle: 250ms, shutdown_grace: 2m}\n"
                             "forwarder: {settle: 3s}\n"
                             "failover: {timeouts: {vm_ready: 90m}}\n");
  ASSERT_TRUE(r.issues.empty()) << describeAll(r.issues);
  EXPECT_EQ(r.config.replication.trashRetention, Seconds{2 * 86400});
  EXPECT_EQ(r.config.replication.rpoTarget, Seconds{5400});
  EXPECT_EQ(r.config.replication.rsync.ioTimeout, Seconds{45});
  EXPECT_EQ(r.config.replication.rsync.maxDuration, Seconds{6 * 3600});
  EXPECT_EQ(r.config.server.settle, Millis{250});
  EXPECT_EQ(r.config.server.shutdownGrace, Seconds{120});
  EXPECT_EQ(r.config.forwarder.settle, Millis{3000});
  EXPECT_EQ(r.config.failover.timeouts.vmReady, Seconds{5400});
}

TEST(Durations, KeyErrors) {
  struct Case {
    const char* key;
    const char* value;
    const char* message;
  } cases[] = {
      {"replication.trash_retention", "-5s",
       "expected a duration such as \"90s\", \"15m\", \"2h\", \"7d\" or whole seconds, got "
       "\"-5s\""},
      {"replication.trash_retention", "a week",
       "expected a duration such as \"90s\", \"15m\", \"2h\", \"7d\" or whole seconds, got "
       "\"a week\""},
      {"replication.rpo_target", "1500ms", "expected whole seconds, got \"1500ms\""},
      {"replication.rpo_target", "0", "expected a duration greater than 0, got \"0\""},
      {"sites.primary.ssh.connect_timeout", "0s", "expected a duration greater than 0, got \"0s\""},
      {"failover.timeouts.restore", "[1h]",
       "expected a duration such as \"90s\", \"15m\", \"2h\", \"7d\" or whole seconds, got a "
       "list"},
      {"server.settle", "-1ms",
       "expected a duration such as \"500ms\", \"90s\", \"15m\", \"2h\" or whole seconds, got "
       "\"-1ms\""},
  };
  for (const auto& c : cases) {
    LoadResult r = parseConfig(minimalWith(c.key, c.value));
    ASSERT_EQ(r.issues.size(), 1u) << c.key << "\n" << describeAll(r.issues);
    EXPECT_EQ(r.issues[0].path, c.key);
    EXPECT_EQ(r.issues[0].message, c.message);
  }
}

// ---- enums ----

TEST(Enums, EachValueIsReadAndOthersListTheAllowedOnes) {
  EXPECT_EQ(parseConfig(minimalWith("replication.transport", "local")).config.replication.transport,
            Transport::Local);
  EXPECT_EQ(parseConfig(minimalWith("replication.transport", "ssh")).config.replication.transport,
            Transport::Ssh);
  EXPECT_EQ(
      parseConfig(minimalWith("replication.delete_policy", "keep")).config.replication.deletePolicy,
      DeletePolicy::Keep);
  EXPECT_EQ(parseConfig(minimalWith("replication.delete_policy", "delete"))
                .config.replication.deletePolicy,
            DeletePolicy::Delete);
  EXPECT_EQ(
      parseConfig(minimalWith("failover.fencing.method", "none")).config.failover.fencing.method,
      FencingMethod::None);
  for (const char* s : {"Always", "Halted", "Manual", "RerunOnFailure", "Once"}) {
    LoadResult r = parseConfig(minimalWith("failover.run_strategy_after_restore", s));
    EXPECT_TRUE(r.issues.empty()) << s << describeAll(r.issues);
    EXPECT_EQ(r.config.failover.runStrategyAfterRestore, s);
  }

  struct Case {
    const char* key;
    const char* value;
    const char* message;
  } cases[] = {
      {"replication.transport", "rsync", "expected one of ssh, local, got \"rsync\""},
      {"replication.transport", "SSH",
       "expected one of ssh, local, got \"SSH\" (did you mean \"ssh\"?)"},
      {"replication.delete_policy", "trash",
       "expected one of quarantine, keep, delete, got \"trash\""},
      {"replication.delete_policy", "quarantene",
       "expected one of quarantine, keep, delete, got \"quarantene\" (did you mean "
       "\"quarantine\"?)"},
      {"failover.fencing.method", "ssh", "expected one of exportfs, command, none, got \"ssh\""},
      {"failover.run_strategy_after_restore", "always",
       "expected one of Always, Halted, Manual, RerunOnFailure, Once, got \"always\" (did you "
       "mean \"Always\"?)"},
      {"failover.run_strategy_after_restore", "Running",
       "expected one of Always, Halted, Manual, RerunOnFailure, Once, got \"Running\""},
  };
  for (const auto& c : cases) {
    LoadResult r = parseConfig(minimalWith(c.key, c.value));
    ASSERT_EQ(r.issues.size(), 1u) << c.key << "\n" << describeAll(r.issues);
    EXPECT_EQ(r.issues[0].path, c.key);
    EXPECT_EQ(r.issues[0].message, c.message);
  }
}

// ---- unknown keys ----

TEST(UnknownKeys, CloseMisspellingGetsASuggestion) {
  LoadResult r = parseConfig(minimalWith("replication.storage_class", "[nfs-dynamic]"));
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].path, "replication.storage_class");
  EXPECT_EQ(r.issues[0].message, "unknown key; did you mean `storage_classes`?");
  EXPECT_GT(r.issues[0].line, 0);
}

TEST(UnknownKeys, KeyFromAnotherSectionPointsThere) {
  LoadResult r = parseConfig(minimalWith("replication.cron", "\"0 * * * *\""));
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].message, "unknown key here; did you mean `schedule.cron`?");
  r = parseConfig(minimalWith("paralelism", "3"));
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].path, "paralelism");
  EXPECT_EQ(r.issues[0].message, "unknown key here; did you mean `replication.parallelism`?");
}

TEST(UnknownKeys, FarOffKeyListsTheKnownOnes) {
  LoadResult r = parseConfig(minimalWith("schedule.zzzzzzzz", "1"));
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].message, "unknown key; expected one of: enabled, cron, time_zone");
}

TEST(UnknownKeys, InlineSecretIsRefusedWithoutEchoingIt) {
  for (const char* key : {"server.token", "server.hmac_secret", "forwarder.token"}) {
    LoadResult r = parseConfig(minimalWith(key, "s3cr3t-value"));
    ASSERT_EQ(r.issues.size(), 1u) << key << describeAll(r.issues);
    EXPECT_EQ(r.issues[0].path, key);
    EXPECT_NE(r.issues[0].message.find("secrets are never written in this file"),
              std::string::npos);
    EXPECT_NE(r.issues[0].message.find("_file`"), std::string::npos);
    EXPECT_EQ(r.issues[0].message.find("s3cr3t"), std::string::npos);
  }
  LoadResult r =
      parseConfig(minimalWith("forwarder.webhook_url", "https://eda:s3cr3t@h.example/x"));
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].message.find("s3cr3t"), std::string::npos) << r.issues[0].message;
  EXPECT_NE(r.issues[0].message.find("without a user:password"), std::string::npos);
}

TEST(UnknownKeys, DuplicateKeyIsAnIssue) {
  LoadResult r =
      parseConfig(std::string(kMinimalYaml) + "catalog: {path: /a.db}\ncatalog: {path: /b.db}\n");
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].path, "catalog");
  EXPECT_EQ(r.issues[0].message, "duplicate key; each key may appear once");
  EXPECT_EQ(r.issues[0].line, 13);
}

// ---- many problems at once ----

TEST(ConfigValidation, EveryProblemIsReportedInOneRun) {
  std::string yaml = R"(sites:
  primary:
    nfs:
      server: nfs-primary.example.com
      export_roots: [{export: /exports/ocp, path: srv/ocp}]
    ssh: {port: 0, stric_host_key_checking: false}
  dr:
    nfs: {server: nfs-dr.example.com, export_roots: [{export: /exports/ocp, path: /srv/ocp}]}
replication:
  parallelism: four
  storage_class: [nfs]
  delete_policy: trash
  path_mappings: [{primary: /exports/ocp, dr: /exports/ocp}]
schedule: {cron: "0 * *", time_zone: Nowhere/City}
server: {listen: "0.0.0.0:99999", workers: 100}
notify: {urls: [mailto:ops@example.com]}
)";
  LoadResult r = parseConfig(yaml);
  const std::vector<std::pair<std::string, int>> expected = {
      {"sites.primary.nfs.export_roots[0].path", 5},
      {"sites.primary.ssh.port", 6},
      {"sites.primary.ssh.stric_host_key_checking", 6},
      {"replication.parallelism", 10},
      {"replication.storage_class", 11},
      {"replication.delete_policy", 12},
      {"schedule.cron", 14},
      {"schedule.time_zone", 14},
      {"server.listen", 15},
      {"server.workers", 15},
      {"notify.urls[0]", 16},
  };
  EXPECT_EQ(r.issues.size(), expected.size()) << describeAll(r.issues);
  for (const auto& [path, line] : expected) {
    auto at = issuesAt(r.issues, path);
    ASSERT_EQ(at.size(), 1u) << path << "\n" << describeAll(r.issues);
    EXPECT_EQ(at[0].line, line) << path;
  }
  EXPECT_EQ(issuesAt(r.issues, "sites.primary.ssh.stric_host_key_checking")[0].message,
            "unknown key; did you mean `strict_host_key_checking`?");
}

// ---- required keys and cross-field rules ----

TEST(CrossField, EmptyDocumentListsEveryRequiredKey) {
  for (const char* text : {"", "# only a comment\n", "~\n", "{}\n"}) {
    LoadResult r = parseConfig(text);
    std::vector<std::string> paths;
    for (const auto& i : r.issues) paths.push_back(i.path);
    EXPECT_EQ(paths,
              (std::vector<std::string>{"sites.primary.nfs.server",
                                        "sites.primary.nfs.export_roots", "sites.dr.nfs.server",
                                        "sites.dr.nfs.export_roots", "replication.path_mappings"}))
        << describeAll(r.issues);
  }
  LoadResult r = parseConfig("");
  EXPECT_EQ(r.issues[0].message,
            "missing; expected a host name or IP address (the server PVs name)");
  EXPECT_EQ(r.issues[1].message, "expected at least 1 export root ({export, path}), got none");
  EXPECT_EQ(r.issues[4].message, "expected at least 1 path mapping ({primary, dr}), got none");
}

TEST(CrossField, ListItemsNeedTheirKeys) {
  LoadResult r =
      parseConfig(minimalWith("sites.dr.nfs.export_roots", "[{export: /exports/ocp-dr}]"));
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].path, "sites.dr.nfs.export_roots[0].path");
  EXPECT_EQ(r.issues[0].message, "missing; expected an absolute path");
}

TEST(CrossField, PathMappingsMustSitUnderExportRoots) {
  LoadResult r = parseConfig(minimalWith(
      "replication.path_mappings",
      "[{primary: /exports/ocp/vms, dr: /exports/ocp-dr/vms}, {primary: /exports/ocpx, dr: "
      "/exports/ocp-dr}, {primary: /exports/ocp, dr: /elsewhere}]"));
  ASSERT_EQ(r.issues.size(), 2u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].path, "replication.path_mappings[1].primary");
  EXPECT_EQ(r.issues[0].message,
            "expected a path under an export root of sites.primary.nfs.export_roots "
            "(/exports/ocp), got \"/exports/ocpx\"");
  EXPECT_EQ(r.issues[1].path, "replication.path_mappings[2].dr");
  EXPECT_EQ(r.issues[1].message,
            "expected a path under an export root of sites.dr.nfs.export_roots (/exports/ocp-dr), "
            "got \"/elsewhere\"");
  EXPECT_GT(r.issues[1].line, 0);
}

TEST(CrossField, PathsAreNormalised) {
  LoadResult r = parseConfig(minimalWith(
      "replication.path_mappings", "[{primary: /exports//ocp/./vms/, dr: /exports/ocp-dr/}]"));
  ASSERT_TRUE(r.issues.empty()) << describeAll(r.issues);
  EXPECT_EQ(r.config.replication.pathMappings[0].primary, "/exports/ocp/vms");
  EXPECT_EQ(r.config.replication.pathMappings[0].dr, "/exports/ocp-dr");
}

TEST(CrossField, MailNeedsSenderRecipientsAndNoClearTextPassword) {
  LoadResult r =
      parseConfig(minimalWith("notify.email", "{smtp_url: \"smtp://mail.example.com:587\"}"));
  ASSERT_EQ(r.issues.size(), 2u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].message, "needs notify.email.from (the sender address)");
  EXPECT_EQ(r.issues[1].message, "needs at least one address in notify.email.to");
  r = parseConfig(
      minimalWith("notify.email",
                  "{smtp_url: \"smtp://mail.example.com:587\", starttls: false, "
                  "auth_file: /etc/ocpv-dr/smtp, from: a@example.com, to: [b@example.com]}"));
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].path, "notify.email.starttls");
  EXPECT_NE(r.issues[0].message.find("clear text"), std::string::npos);
  r = parseConfig(
      minimalWith("notify.email",
                  "{smtp_url: \"smtps://mail.example.com\", starttls: false, "
                  "auth_file: /etc/ocpv-dr/smtp, from: a@example.com, to: [b@example.com]}"));
  EXPECT_TRUE(r.issues.empty()) << describeAll(r.issues);
}

TEST(CrossField, TlsNeedsCertAndKeyTogether) {
  LoadResult r = parseConfig(minimalWith("server.tls", "{cert_file: /etc/ocpv-dr/tls.crt}"));
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].path, "server.tls.key_file");
  EXPECT_NE(r.issues[0].message.find("only server.tls.cert_file is set"), std::string::npos);
  r = parseConfig(minimalWith("server.tls", "{key_file: /etc/ocpv-dr/tls.key}"));
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].path, "server.tls.cert_file");
  r = parseConfig(minimalWith("server.tls",
                              "{cert_file: /etc/ocpv-dr/tls.crt, key_file: /etc/ocpv-dr/tls.key}"));
  EXPECT_TRUE(r.issues.empty()) << describeAll(r.issues);
}

TEST(CrossField, FencingCommandNeedsAnArgv) {
  LoadResult r = parseConfig(minimalWith("failover.fencing", "{method: command}"));
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].path, "failover.fencing.command");
  EXPECT_EQ(r.issues[0].message,
            "expected a non-empty argv list when failover.fencing.method is command, got none");
  r = parseConfig(minimalWith("failover.fencing", "{method: command, command: []}"));
  EXPECT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  r = parseConfig(minimalWith(
      "failover.fencing", "{method: command, command: [/usr/local/bin/fence, --site, primary]}"));
  EXPECT_TRUE(r.issues.empty()) << describeAll(r.issues);
  EXPECT_EQ(r.config.failover.fencing.command.size(), 3u);
}

TEST(CrossField, SiteNamesDiffer) {
  LoadResult r = parseConfig(minimalWith("sites.dr.name", "primary"));
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].path, "sites.dr.name");
  EXPECT_EQ(r.issues[0].message,
            "expected a name different from sites.primary.name, got \"primary\"");
}

TEST(CrossField, LocalTransportIsAllowed) {
  LoadResult r = parseConfig(minimalWith("replication.transport", "local"));
  EXPECT_TRUE(r.issues.empty()) << describeAll(r.issues);
  EXPECT_EQ(r.config.replication.transport, Transport::Local);
}

// ---- malformed documents never crash and say where ----

TEST(Malformed, YamlSyntaxErrorIsOneIssueWithLineAndColumn) {
  LoadResult r = parseConfig("sites:\n  primary: {nfs: [1, 2}\n");
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].path, "");
  EXPECT_EQ(r.issues[0].message.rfind("YAML syntax error at line 2, column ", 0), 0u)
      << r.issues[0].message;
  EXPECT_EQ(r.issues[0].line, 2);
  EXPECT_GT(r.issues[0].column, 0);
  EXPECT_EQ(r.issues[0].describe(), r.issues[0].message);
}

TEST(Malformed, TopLevelMustBeAMapping) {
  for (const char* text : {"- a\n- b\n", "just text\n", "42\n"}) {
    LoadResult r = parseConfig(text);
    ASSERT_EQ(r.issues.size(), 1u) << text << describeAll(r.issues);
    EXPECT_EQ(r.issues[0].path, "");
    EXPECT_EQ(r.issues[0].message.rfind("expected a mapping of sections", 0), 0u);
  }
}

TEST(Malformed, OneDocumentOnly) {
  LoadResult r = parseConfig(std::string(kMinimalYaml) + "---\nsites: {}\n");
  ASSERT_EQ(r.issues.size(), 1u) << describeAll(r.issues);
  EXPECT_EQ(r.issues[0].message, "expected one YAML document, found 2 (remove the extra \"---\")");
}

TEST(Malformed, DeepNestingAndHugeInputAreIssues) {
  LoadResult r = parseConfig(std::string(20000, '[') + std::string(20000, ']'));
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_NE(r.issues[0].message.find("too deep"), std::string::npos) << r.issues[0].message;
  r = parseConfig(std::string(5u << 20, '#'));
  ASSERT_EQ(r.issues.size(), 1u);
  EXPECT_NE(r.issues[0].message.find("at most"), std::string::npos) << r.issues[0].message;
}

// Random corruption of a valid file: every result is a list of issues with messages, or valid.
TEST(Malformed, CorruptedExamplesNeverCrash) {
  const std::string base = exampleConfig();
  std::mt19937 rng(20261124);
  const char noise[] =
      ":-[]{}#&*!|>'\"%@` \n\t\x01\xff"
      "0a";
  int invalid = 0;
  for (int round = 0; round < 300; ++round) {
    std::string text = base;
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) {
      std::size_t at = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text[at] = noise[rng() % (sizeof(noise) - 1)];
          break;
        case 1:
          text.erase(at, 1 + rng() % 20);
          break;
        default:
          text.insert(at, 1, noise[rng() % (sizeof(noise) - 1)]);
          break;
      }
    }
    LoadResult r = parseConfig(text);
    for (const auto& i : r.issues) EXPECT_FALSE(i.message.empty());
    if (!r.issues.empty()) ++invalid;
  }
  EXPECT_GT(invalid, 100) << "corruption should usually be noticed";
}

}  // namespace
}  // namespace ocpvdr::config
