// Defaults, the shipped example, the JSON form, the documentation's coverage of every key, and
// loading from a file.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "config/config.h"
#include "config/config_test_util.h"
#include "support/temp_dir.h"

namespace ocpvdr::config {
namespace {

using testing::describeAll;
using testing::kMinimalYaml;
using testing::minimalConfig;
using testing::minimalWith;

// Key paths of a parsed YAML document, leaves only, lists of mappings as "key[]".
void keyPaths(const YAML::Node& node, const std::string& prefix, std::set<std::string>& out) {
  if (node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      std::string key = it->first.as<std::string>();
      std::string p = prefix.empty() ? key : prefix + "." + key;
      const YAML::Node v = it->second;
      if (v.IsMap()) {
        keyPaths(v, p, out);
      } else if (v.IsSequence() && v.size() > 0 && v[0].IsMap()) {
        for (const auto& item : v) keyPaths(item, p + "[]", out);
      } else {
        out.insert(p);
      }
    }
  }
}

std::string readText(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(Defaults, MinimalDocumentTakesTheStructDefaults) {
  LoadResult r = parseConfig(kMinimalYaml, "minimal.yaml");
  ASSERT_TRUE(r.issues.empty()) << describeAll(r.issues);
  // The whole effective configuration equals the structs' own defaults plus the required keys.
  EXPECT_EQ(toJson(r.config), toJson(minimalConfig()));
  EXPECT_EQ(r.config.sourceFile, "minimal.yaml");
  // A few spelled out, so a wrong default in config.h would also show up here.
  EXPECT_EQ(r.config.primary.name, "primary");
  EXPECT_EQ(r.config.dr.name, "dr");
  EXPECT_EQ(r.config.replication.parallelism, 4);
  EXPECT_EQ(r.config.replication.transport, Transport::Ssh);
  EXPECT_EQ(r.config.replication.deletePolicy, DeletePolicy::Quarantine);
  EXPECT_EQ(r.config.replication.storageClasses, std::vector<std::string>{"nfs-dynamic"});
  EXPECT_EQ(r.config.replication.trashRetention, Seconds{7 * 86400});
  EXPECT_FALSE(r.config.replication.rsync.inplace);
  EXPECT_EQ(r.config.primary.ssh.port, 22);
  EXPECT_TRUE(r.config.primary.ssh.strictHostKeyChecking);
  EXPECT_EQ(r.config.schedule.cron, "0 * * * *");
  EXPECT_EQ(r.config.failover.runStrategyAfterRestore, "Always");
  EXPECT_EQ(r.config.server.settle, Millis{2000});
}

TEST(Defaults, LockDirFollowsTheCatalog) {
  EXPECT_EQ(parseConfig(kMinimalYaml).config.replication.lockDir, "/var/lib/ocpv-dr/locks");
  EXPECT_EQ(parseConfig(minimalWith("catalog.path", "/data/dr/catalog.sqlite"))
                .config.replication.lockDir,
            "/data/dr/locks");
  EXPECT_EQ(parseConfig(minimalWith("catalog.path", "/catalog.db")).config.replication.lockDir,
            "/locks");
  EXPECT_EQ(parseConfig(minimalWith("replication.lock_dir", "/run/ocpv-dr/locks/"))
                .config.replication.lockDir,
            "/run/ocpv-dr/locks");
}

TEST(Defaults, SiteNamesCanBeSet) {
  LoadResult r = parseConfig(minimalWith("sites.primary.name", "ocp-east"));
  ASSERT_TRUE(r.issues.empty()) << describeAll(r.issues);
  EXPECT_EQ(r.config.primary.name, "ocp-east");
  EXPECT_EQ(r.config.dr.name, "dr");
}

TEST(Example, ParsesWithZeroIssues) {
  LoadResult r = parseConfig(exampleConfig(), "example");
  EXPECT_TRUE(r.issues.empty()) << describeAll(r.issues);
}

TEST(Example, ShowsTheDefaults) {
  LoadResult r = parseConfig(exampleConfig());
  ASSERT_TRUE(r.issues.empty());
  Config expected;
  expected.primary.name = "primary";
  expected.primary.nfsServer = "nfs-primary.example.com";
  expected.primary.exportRoots = {{"/exports/ocp", "/srv/nfs/ocp"}};
  expected.dr.name = "dr";
  expected.dr.nfsServer = "nfs-dr.example.com";
  expected.dr.exportRoots = {{"/exports/ocp", "/srv/nfs/ocp"}};
  expected.replication.pathMappings = {{"/exports/ocp", "/exports/ocp"}};
  expected.replication.lockDir = "/var/lib/ocpv-dr/locks";
  EXPECT_EQ(toJson(r.config).dump(2), toJson(expected).dump(2));
}

TEST(Example, HoldsEveryKnownKeyAndNothingElse) {
  std::set<std::string> inExample;
  keyPaths(YAML::Load(exampleConfig()), "", inExample);
  std::vector<std::string> known = knownKeyPaths();
  std::set<std::string> knownSet(known.begin(), known.end());
  EXPECT_EQ(known.size(), knownSet.size()) << "duplicate key paths in the schema";
  for (const auto& k : known) EXPECT_TRUE(inExample.count(k)) << "example lacks " << k;
  for (const auto& k : inExample) EXPECT_TRUE(knownSet.count(k)) << "example has unknown " << k;
  EXPECT_GT(known.size(), 100u);
}

TEST(Example, EveryKeyHasAComment) {
  std::istringstream in(exampleConfig());
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::string t = line.substr(std::min(line.find_first_not_of(' '), line.size()));
    if (t.empty() || t[0] == '#') continue;
    // "key: value" lines without a comment are allowed only where the line above or the
    // section line explains them (list items and section headers).
    bool sectionHeader = t.back() == ':';
    bool listItem = t.rfind("- ", 0) == 0;
    if (sectionHeader || listItem) continue;
    EXPECT_NE(line.find(" # "), std::string::npos) << "line " << n << " has no comment: " << line;
  }
}

// docs/configuration.md documents every key of the example (sites.primary and sites.dr share
// one table written as sites.<site>).
TEST(Docs, EveryExampleKeyIsDocumented) {
  std::string docs = readText(ocpvdr::testing::sourcePath("docs/configuration.md"));
  ASSERT_FALSE(docs.empty()) << "docs/configuration.md is missing";
  std::set<std::string> keys;
  keyPaths(YAML::Load(exampleConfig()), "", keys);
  for (std::string k : keys) {
    for (const char* site : {"sites.primary.", "sites.dr."})
      if (k.rfind(site, 0) == 0) k = "sites.<site>." + k.substr(std::string(site).size());
    EXPECT_NE(docs.find("`" + k + "`"), std::string::npos) << "docs lack `" << k << "`";
  }
  EXPECT_NE(docs.find("sites.primary"), std::string::npos);
  EXPECT_NE(docs.find("sites.dr"), std::string::npos);
}

// Every key path the docs name in their tables and prose exists (no stale or misspelt keys).
TEST(Docs, EveryDocumentedKeyExists) {
  std::string docs = readText(ocpvdr::testing::sourcePath("docs/configuration.md"));
  auto known = knownKeyPaths();
  std::set<std::string> valid(known.begin(), known.end());
  for (const auto& k : known)  // sections too: every prefix of a known key
    for (std::size_t dot = k.find('.'); dot != std::string::npos; dot = k.find('.', dot + 1))
      for (std::string p = k.substr(0, dot); !p.empty(); p.clear()) {
        valid.insert(p);
        if (p.size() > 2 && p.compare(p.size() - 2, 2, "[]") == 0)
          valid.insert(p.substr(0, p.size() - 2));
      }
  const std::regex keyLike(
      "^(sites|replication|schedule|catalog|backup_store|failover|server|forwarder|notify)"
      "(\\.[a-z_<>]+(\\[[a-z]*\\])?)+$");
  std::istringstream in(docs);
  std::string line;
  bool inCode = false;
  int checked = 0;
  while (std::getline(in, line)) {
    if (line.find("```") != std::string::npos) inCode = !inCode;
    if (inCode) continue;
    for (std::size_t open = line.find('`'); open != std::string::npos;) {
      std::size_t close = line.find('`', open + 1);
      if (close == std::string::npos) break;
      std::string token = line.substr(open + 1, close - open - 1);
      open = line.find('`', close + 1);
      if (!std::regex_match(token, keyLike)) continue;
      token = std::regex_replace(token, std::regex("^sites\\.<site>"), "sites.primary");
      token = std::regex_replace(token, std::regex("\\[[a-z]*\\]"), "[]");
      EXPECT_TRUE(valid.count(token)) << "docs name an unknown key: " << token;
      ++checked;
    }
  }
  EXPECT_GT(checked, 100);
}

// The example in the docs is a valid file.
TEST(Docs, ExampleBlockIsValid) {
  if (!std::filesystem::is_regular_file("/usr/share/zoneinfo/Europe/Berlin"))
    GTEST_SKIP() << "the docs example uses Europe/Berlin, absent on this machine";
  std::string docs = readText(ocpvdr::testing::sourcePath("docs/configuration.md"));
  std::size_t start = docs.find("## Example");
  ASSERT_NE(start, std::string::npos);
  start = docs.find("```yaml\n", start);
  ASSERT_NE(start, std::string::npos);
  start += 8;
  std::size_t end = docs.find("```", start);
  ASSERT_NE(end, std::string::npos);
  LoadResult r = parseConfig(docs.substr(start, end - start), "docs example");
  EXPECT_TRUE(r.issues.empty()) << describeAll(r.issues);
  EXPECT_EQ(r.config.primary.name, "ocp-east");
  EXPECT_EQ(r.config.replication.parallelism, 8);
  EXPECT_EQ(r.config.failover.fencing.method, FencingMethod::Command);
}

// The JSON form is itself a valid configuration that reads back to the same values.
TEST(Json, ShowOutputParsesBackToTheSameConfig) {
  std::string custom = std::string(kMinimalYaml) +
                       "  transport: local\n  parallelism: 9\n  breaker_max_share: 0.25\n"
                       "  rsync: {extra_args: [--numeric-ids], io_timeout: 90s}\n"
                       "server: {settle: 1500ms, tls: {cert_file: /c.pem, key_file: /k.pem}}\n"
                       "failover: {fencing: {method: command, command: [/bin/true]}}\n"
                       "notify: {urls: [\"https://hooks.example.com/x\"]}\n";
  for (const std::string& text : {exampleConfig(), custom}) {
    LoadResult first = parseConfig(text);
    ASSERT_TRUE(first.issues.empty()) << describeAll(first.issues);
    std::string json = toJson(first.config).dump(2);
    LoadResult second = parseConfig(json);
    ASSERT_TRUE(second.issues.empty()) << json << describeAll(second.issues);
    EXPECT_EQ(toJson(second.config), toJson(first.config));
  }
  LoadResult r = parseConfig(custom);
  auto j = toJson(r.config);
  EXPECT_EQ(j["replication"]["transport"], "local");
  EXPECT_EQ(j["replication"]["parallelism"], 9);
  EXPECT_EQ(j["server"]["settle"], "1500ms");
  EXPECT_EQ(j["replication"]["trash_retention"], "7d");
}

TEST(Json, IssuesCarryPathMessageAndPosition) {
  LoadResult r = parseConfig(minimalWith("replication.parallelism", "four"));
  auto j = toJson(r.issues);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["path"], "replication.parallelism");
  EXPECT_EQ(j[0]["message"], "expected an integer 1..64, got \"four\"");
  EXPECT_GT(j[0]["line"].get<int>(), 0);
}

TEST(KnownKeys, ListsLeavesInSchemaOrder) {
  auto keys = knownKeyPaths();
  ASSERT_FALSE(keys.empty());
  EXPECT_EQ(keys.front(), "sites.primary.name");
  EXPECT_NE(std::find(keys.begin(), keys.end(), "sites.dr.nfs.export_roots[].path"), keys.end());
  EXPECT_NE(std::find(keys.begin(), keys.end(), "replication.rsync.io_timeout"), keys.end());
  EXPECT_EQ(keys.back(), "notify.email.subject_prefix");
}

TEST(LoadConfig, ReadsAValidFile) {
  ocpvdr::testing::TempDir dir;
  auto path = dir.write("config.yaml", kMinimalYaml);
  auto cfg = loadConfig(path.string());
  ASSERT_TRUE(cfg.ok()) << cfg.error().message;
  EXPECT_EQ(cfg->sourceFile, path.string());
  EXPECT_EQ(cfg->primary.nfsServer, "nfs-primary.example.com");
}

TEST(LoadConfig, InvalidFileListsEveryIssue) {
  ocpvdr::testing::TempDir dir;
  auto path = dir.write("config.yaml", minimalWith("server", "{workers: 0, listen: nowhere}"));
  auto cfg = loadConfig(path.string());
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().kind, ErrorKind::Invalid);
  const std::string& m = cfg.error().message;
  EXPECT_NE(m.find(path.string() + ": invalid configuration (2 issues)"), std::string::npos) << m;
  EXPECT_NE(m.find("\n  server.workers: expected an integer 1..64, got \"0\""), std::string::npos)
      << m;
  EXPECT_NE(m.find("\n  server.listen: expected host:port"), std::string::npos) << m;
}

TEST(LoadConfig, MissingFileIsAnErrorNamingIt) {
  ocpvdr::testing::TempDir dir;
  auto cfg = loadConfig((dir / "nope.yaml").string());
  ASSERT_FALSE(cfg.ok());
  EXPECT_NE(cfg.error().kind, ErrorKind::Invalid);
  EXPECT_NE(cfg.error().message.find("nope.yaml"), std::string::npos) << cfg.error().message;
}

}  // namespace
}  // namespace ocpvdr::config
