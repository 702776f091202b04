// Where `ocpv-dr-demo` finds ocpv-dr, kube-sim and s3rver: flag, then environment, then the build
// tree or the checkout, then PATH; a clear NotFound naming the places tried.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>

#include "demo/demo.h"
#include "support/temp_dir.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;

demo::EnvGet envOf(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

fs::path executable(const TempDir& t, const std::string& rel) {
  auto p = t.write(rel, "#!/bin/sh\nexit 0\n");
  ::chmod(p.c_str(), 0755);
  return p;
}

TEST(LocateOcpvDr, FlagThenEnvironmentThenBuildTreeThenSibling) {
  TempDir t;
  const fs::path demoExe = executable(t, "build/tools/demo/ocpv-dr-demo");
  const fs::path built = executable(t, "build/src/cli/ocpv-dr");
  const fs::path other = executable(t, "elsewhere/ocpv-dr");
  const fs::path env = executable(t, "env/ocpv-dr");

  auto r = demo::locateOcpvDr(other.string(), envOf({{"OCPVDR_BIN", env.string()}}), demoExe);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(*r, other.string());

  r = demo::locateOcpvDr("", envOf({{"OCPVDR_BIN", env.string()}}), demoExe);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, env.string());

  r = demo::locateOcpvDr("", envOf({}), demoExe);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs::weakly_canonical(*r), fs::weakly_canonical(built));

  // Installed side by side (no build tree above it).
  const fs::path installedDemo = executable(t, "usr/bin/ocpv-dr-demo");
  const fs::path installed = executable(t, "usr/bin/ocpv-dr");
  r = demo::locateOcpvDr("", envOf({}), installedDemo);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, installed.string());

  r = demo::locateOcpvDr((t / "nope").string(), envOf({}), demoExe);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::NotFound);
  EXPECT_NE(r.error().message.find("--ocpv-dr"), std::string::npos) << r.error().message;
}

TEST(LocateKubeSim, FlagThenEnvironmentThenBuildTree) {
  TempDir t;
  const fs::path self = executable(t, "build/src/cli/ocpv-dr");
  const fs::path built = executable(t, "build/tools/kube-sim/kube-sim");
  const fs::path other = executable(t, "elsewhere/kube-sim");
  const fs::path env = executable(t, "env/kube-sim");

  auto r = demo::locateKubeSim(other.string(), envOf({{"OCPVDR_KUBE_SIM", env.string()}}), self);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(*r, other.string());

  r = demo::locateKubeSim("", envOf({{"OCPVDR_KUBE_SIM", env.string()}}), self);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, env.string());

  r = demo::locateKubeSim("", envOf({}), self);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(fs::weakly_canonical(*r), fs::weakly_canonical(built));
}

TEST(LocateKubeSim, MissingOrUnusableIsNotFoundNamingTheSource) {
  TempDir t;
  const fs::path self = executable(t, "bin/ocpv-dr");
  t.write("plain/kube-sim", "not executable");

  auto r = demo::locateKubeSim((t / "plain/kube-sim").string(), envOf({}), self);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::NotFound);
  EXPECT_NE(r.error().message.find("--kube-sim"), std::string::npos) << r.error().message;

  r = demo::locateKubeSim("", envOf({{"OCPVDR_KUBE_SIM", (t / "nope").string()}}), self);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("$OCPVDR_KUBE_SIM"), std::string::npos) << r.error().message;

  // A directory is not a binary, even though it is "executable".
  fs::create_directories(t / "dir-kube-sim");
  r = demo::locateKubeSim((t / "dir-kube-sim").string(), envOf({}), self);
  EXPECT_FALSE(r.ok());
}

TEST(LocateS3rver, PackageDirectoryOrScriptFromFlagEnvironmentOrCheckout) {
  TempDir t;
  const fs::path script = t.write("checkout/node_modules/s3rver/bin/s3rver.js", "// s3rver\n");
  const fs::path other = t.write("other/s3rver/bin/s3rver.js", "// other\n");

  auto r = demo::locateS3rver((t / "other/s3rver").string(), envOf({}), t / "checkout");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(*r, other.string());

  r = demo::locateS3rver("", envOf({{"OCPVDR_S3RVER", other.string()}}), t / "checkout");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, other.string());

  r = demo::locateS3rver("", envOf({}), t / "checkout");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, script.string());

  r = demo::locateS3rver("", envOf({}), t.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::NotFound);
  EXPECT_NE(r.error().message.find("make deps"), std::string::npos) << r.error().message;

  r = demo::locateS3rver((t / "empty").string(), envOf({}), t / "checkout");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("--s3rver"), std::string::npos);
}

TEST(DemoMode, ParsesTheThreeModesAndNamesTheBadOne) {
  EXPECT_EQ(demo::parseMode("auto").value(), demo::Mode::Auto);
  EXPECT_EQ(demo::parseMode("local").value(), demo::Mode::Local);
  EXPECT_EQ(demo::parseMode("netns").value(), demo::Mode::Netns);
  auto bad = demo::parseMode("docker");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::Invalid);
  EXPECT_NE(bad.error().message.find("docker"), std::string::npos);
}

}  // namespace
}  // namespace ocpvdr::testing
