// The built `ocpv-dr config example | validate | show` binary: exit codes, stdout, stderr.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "config/config.h"
#include "config/config_test_util.h"
#include "core/process.h"
#include "support/temp_dir.h"

namespace ocpvdr::config {
namespace {

using testing::kMinimalYaml;
using testing::minimalWith;

class ConfigCli : public ::testing::Test {
 protected:
  ProcessResult run(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    ProcessSpec spec;
    spec.argv = {ocpvdr::testing::binaryPath("src/cli/ocpv-dr").string()};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    // A clean environment: an OCPVDR_CONFIG from the caller must not leak into the test.
    spec.inheritEnv = false;
    spec.env = std::move(env);
    spec.env["PATH"] = "/usr/bin:/bin";
    spec.timeout = std::chrono::seconds(30);
    auto r = runner_.run(spec);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : ProcessResult{};
  }

  static std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) out.push_back(line);
    return out;
  }

  RealProcessRunner runner_;
  ocpvdr::testing::TempDir dir_{"ocpvdr-config-cli"};
};

TEST_F(ConfigCli, ExamplePrintsTheExampleAndItValidates) {
  auto r = run({"config", "example"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, exampleConfig());
  auto file = dir_.write("example.yaml", r.out).string();
  auto v = run({"config", "validate", "-c", file});
  EXPECT_EQ(v.exitCode, 0) << v.err;
  EXPECT_EQ(v.out, file + ": valid\n");
}

TEST_F(ConfigCli, ValidateAcceptsTheConfigOptionBeforeTheCommandAndFromTheEnvironment) {
  auto file = dir_.write("c.yaml", kMinimalYaml).string();
  auto before = run({"-c", file, "config", "validate"});
  EXPECT_EQ(before.exitCode, 0) << before.err;
  EXPECT_EQ(before.out, file + ": valid\n");
  auto env = run({"config", "validate"}, {{"OCPVDR_CONFIG", file}});
  EXPECT_EQ(env.exitCode, 0) << env.err;
  EXPECT_EQ(env.out, file + ": valid\n");
}

TEST_F(ConfigCli, ValidateListsEveryIssueOnStderrAndExits2) {
  auto file = dir_.write("bad.yaml", std::string(kMinimalYaml) +
                                         "  parallelism: four\n"
                                         "  storage_class: [nfs]\n"
                                         "schedule: {time_zone: Nowhere/City}\n")
                  .string();
  auto r = run({"config", "validate", "-c", file});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.out, "");
  auto errLines = lines(r.err);
  ASSERT_EQ(errLines.size(), 3u) << r.err;
  EXPECT_EQ(errLines[0],
            file + ":12:16: replication.parallelism: expected an integer 1..64, got \"four\"");
  EXPECT_EQ(
      errLines[1],
      file + ":13:3: replication.storage_class: unknown key; did you mean `storage_classes`?");
  EXPECT_NE(errLines[2].find("schedule.time_zone: expected an IANA time zone name"),
            std::string::npos);
}

TEST_F(ConfigCli, ValidateJson) {
  auto good = dir_.write("good.yaml", kMinimalYaml).string();
  auto r = run({"config", "validate", "--json", "-c", good});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["file"], good);
  EXPECT_EQ(j["valid"], true);
  EXPECT_EQ(j["issues"], nlohmann::json::array());

  auto bad =
      dir_.write("bad.yaml", minimalWith("server", "{workers: 0, listen: nowhere}")).string();
  r = run({"config", "validate", "-c", bad, "--json"});
  EXPECT_EQ(r.exitCode, 2);
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["file"], bad);
  EXPECT_EQ(j["valid"], false);
  ASSERT_EQ(j["issues"].size(), 2u) << r.out;
  EXPECT_EQ(j["issues"][0]["path"], "server.workers");
  EXPECT_EQ(j["issues"][0]["message"], "expected an integer 1..64, got \"0\"");
  EXPECT_EQ(j["issues"][1]["path"], "server.listen");
}

TEST_F(ConfigCli, ValidateSyntaxErrorAndMissingFile) {
  auto broken = dir_.write("broken.yaml", "sites: [\n").string();
  auto r = run({"config", "validate", "-c", broken});
  EXPECT_EQ(r.exitCode, 2);
  ASSERT_EQ(lines(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("YAML syntax error at line"), std::string::npos) << r.err;

  auto missing = (dir_ / "absent.yaml").string();
  r = run({"config", "validate", "-c", missing});
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.exitCode, 1) << "not an internal error";
  EXPECT_NE(r.err.find("absent.yaml"), std::string::npos) << r.err;

  r = run({"config", "validate", "--json", "-c", missing});
  EXPECT_NE(r.exitCode, 0);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["valid"], false);
  EXPECT_NE(j["issues"][0]["message"].get<std::string>().find("absent.yaml"), std::string::npos);
}

TEST_F(ConfigCli, ShowPrintsTheEffectiveConfigurationWhichValidatesAgain) {
  auto file = dir_.write("c.yaml", kMinimalYaml).string();
  auto r = run({"config", "show", "-c", file});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["replication"]["parallelism"], 4);
  EXPECT_EQ(j["replication"]["lock_dir"], "/var/lib/ocpv-dr/locks");
  EXPECT_EQ(j["sites"]["dr"]["name"], "dr");
  EXPECT_EQ(j["sites"]["primary"]["ssh"]["control_persist"], "1m");
  EXPECT_EQ(j["failover"]["timeouts"]["restore"], "1h");
  EXPECT_EQ(j, toJson(parseConfig(kMinimalYaml).config));

  auto again = dir_.write("shown.json", r.out).string();
  auto v = run({"config", "validate", "-c", again});
  EXPECT_EQ(v.exitCode, 0) << v.err;
}

TEST_F(ConfigCli, ShowRefusesAnInvalidFile) {
  auto file = dir_.write("bad.yaml", minimalWith("replication.parallelism", "four")).string();
  auto r = run({"config", "show", "-c", file});
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("replication.parallelism: expected an integer 1..64, got \"four\""),
            std::string::npos)
      << r.err;
}

TEST_F(ConfigCli, ConfigWithoutSubcommandIsAUsageError) {
  auto r = run({"config"});
  EXPECT_EQ(r.exitCode, 2);
}

}  // namespace
}  // namespace ocpvdr::config
