// `ocpv-dr-demo` in its two-host mode (network namespaces with real sshd; serve, reconcile and
// failover on the DR host pulling over ssh; exportfs fencing over ssh): exit 0, nothing left
// running, no namespace left behind. Needs root; skips loudly otherwise.
#include <unistd.h>

#include "demo/demo_harness.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;

TEST(DemoNetns, TwoHostModeRunsEveryStageAndRemovesItsNamespaces) {
  if (::geteuid() != 0)
    GTEST_SKIP()
        << "\n*** SKIPPED: the demo's netns mode needs root (ctest -L netns as root) ***\n";
  if (!s3rverInstalled()) GTEST_SKIP() << "s3rver/node not installed: run `make deps`";
  TempDir tmp{"ocpvdr-demo-netns"};
  const fs::path work = tmp / "work";
  auto r = runDemo(tmp, {"--mode", "netns", "--workdir", work.string()});
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("mode             netns"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("exportfs -ra ran on the primary host"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("removed the network namespaces"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(work));
  expectNothingLeft(r, work);
}

}  // namespace
}  // namespace ocpvdr::testing
