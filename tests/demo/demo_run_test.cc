// `ocpv-dr-demo` end to end in local-directory mode, as a process: exit 0 only after every stage
// checked its outcome, nothing left running; a failing stage and SIGINT both end non-zero with
// an orderly teardown; a work directory the demo did not make is refused and left untouched.
#include "demo/demo_harness.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;

class DemoRun : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!s3rverInstalled()) GTEST_SKIP() << "s3rver/node not installed: run `make deps`";
  }
  TempDir tmp{"ocpvdr-demo"};
  fs::path work = tmp / "work";
};

TEST_F(DemoRun, LocalModeRunsEveryStageAndLeavesNothingRunning) {
  auto r = runDemo(tmp, {"--mode", "local", "--workdir", work.string()});
  EXPECT_EQ(r.exitCode, 0) << r.output;
  for (const char* stage : {"[1/11] Prepare", "[5/11] Events replicate", "[6/11] Snapshot",
                            "[7/11] Reconcile", "[8/11] Back up", "[9/11] Planned failover",
                            "[10/11] RPO / RTO", "[11/11] Stop everything"})
    EXPECT_NE(r.output.find(stage), std::string::npos) << stage << "\n" << r.output;
  EXPECT_NE(r.output.find("primary == DR"), std::string::npos);
  EXPECT_NE(r.output.find("Demo finished: every stage checked its outcome"), std::string::npos);
  EXPECT_EQ(r.output.find("FAILED"), std::string::npos) << r.output;
  // Without --keep the work directory is gone after a success.
  EXPECT_FALSE(fs::exists(work)) << r.output;
  expectNothingLeft(r, work);
}

TEST_F(DemoRun, KeepLeavesConfigsLogsAndReports) {
  auto r = runDemo(tmp, {"--mode", "local", "--workdir", work.string(), "--keep", "--vms", "2"});
  ASSERT_EQ(r.exitCode, 0) << r.output;
  EXPECT_TRUE(fs::exists(work / "dr/config.yaml"));
  EXPECT_TRUE(fs::exists(work / "primary/forwarder.yaml"));
  EXPECT_TRUE(fs::exists(work / "logs/serve.log"));
  EXPECT_TRUE(fs::exists(work / "reports/failover/report.html"));
  bool html = false;
  for (const auto& e : fs::recursive_directory_iterator(work / "reports/reconcile"))
    html = html || e.path().filename() == "report.html";
  EXPECT_TRUE(html);
  // Tokens are private.
  EXPECT_EQ(fs::status(work / "dr/events.token").permissions() & fs::perms::others_read,
            fs::perms::none);
  expectNothingLeft(r, work);
}

TEST_F(DemoRun, AFailingStageNamesItselfExitsNonZeroAndTearsDown) {
  // A "kube-sim" that exits at once: stage 2 fails after nothing else was started.
  auto r =
      runDemo(tmp, {"--mode", "local", "--workdir", work.string(), "--kube-sim", "/bin/false"});
  EXPECT_NE(r.exitCode, 0) << r.output;
  EXPECT_NE(r.output.find("DEMO FAILED at stage [2/11] Start two sites"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("kube-sim (primary) exited"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(work / "logs")) << "a failed run keeps its logs";
  expectNothingLeft(r, work);
}

TEST_F(DemoRun, SigintMidwayTearsEverythingDown) {
  auto r = runDemo(tmp, {"--mode", "local", "--workdir", work.string()}, [&](demo::PeerProcess& p) {
    // Once the engine runs (every kind of peer is up), interrupt.
    auto up = p.waitForLog(std::regex(R"(\[4/11\])"), std::chrono::seconds(120));
    ASSERT_TRUE(up.ok()) << up.error().describe();
    ::kill(p.pid(), SIGINT);
  });
  EXPECT_EQ(r.exitCode, 130) << r.output;
  EXPECT_NE(r.output.find("SIGINT received"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("stopped ocpv-dr serve"), std::string::npos) << r.output;
  expectNothingLeft(r, work);
}

TEST_F(DemoRun, RefusesToEmptyADirectoryItDidNotMake) {
  fs::create_directories(work);
  std::ofstream(work / "precious.txt") << "keep me\n";
  auto r = runDemo(tmp, {"--mode", "local", "--workdir", work.string()});
  EXPECT_EQ(r.exitCode, 3) << r.output;
  EXPECT_NE(r.output.find("refusing to empty it"), std::string::npos) << r.output;
  EXPECT_EQ(readAll(work / "precious.txt"), "keep me\n");
  expectNothingLeft(r, work);
}

}  // namespace
}  // namespace ocpvdr::testing
