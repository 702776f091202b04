// Crash injection: `ocpv-dr failover run` killed (_exit, via OCPVDR_FAILOVER_CRASH) right after
// each step is journaled done and part-way through the steps that act in several pieces, then
// `ocpv-dr failover resume`. Every interrupted run must end exactly where an uninterrupted run
// ends: the same DR objects (PVs, PVCs, restored objects, one Restore, VM states), the same
// primary state, the primary fenced once, and a journal whose finished steps ran once.
#include <gtest/gtest.h>

#include <fstream>

#include "catalog/catalog.h"
#include "failover/failover_lab.h"
#include "failover/journal.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

config::Config localSites(const TempDir& tmp) {
  config::Config c = FailoverLab::localSites(tmp.str());
  c.failover.fencing.method = config::FencingMethod::Command;
  c.failover.fencing.command = {
      "/bin/sh", "-c", "echo \"$OCPVDR_FAILOVER_RUN_ID\" >> " + (tmp / "fence.log").string()};
  return c;
}

int countLines(const fs::path& p, const std::string& text) {
  std::ifstream in(p);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += line == text;
  return n;
}

class CrashResume : public ::testing::Test {
 protected:
  void SetUp() override {
    LabOptions o;
    o.vmStartDelayMs = 150;
    auto l = FailoverLab::create(localSites(tmp), tmp.str(), o);
    if (!l.ok() && l.error().kind == ErrorKind::NotFound) GTEST_SKIP() << l.error().message;
    ASSERT_TRUE(l.ok()) << l.error().describe();
    lab = std::move(l).value();
    lab->populatePrimary();
    RealProcessRunner runner;
    lab->replicate(runner);
    lab->takeBackup("nightly-1");
    lab->prepareDr("nightly-1");
    drInitial = lab->dr->admin("GET", "/admin/state");
    primaryInitial = lab->primary->admin("GET", "/admin/state");
  }

  void reset() {
    lab->dr->admin("POST", "/admin/state", drInitial);
    lab->primary->admin("POST", "/admin/state", primaryInitial);
    // A failback: the previous run's DR-active state is lifted the operator's way, or the next
    // run's final sync and apply-volumes would (rightly) be refused.
    {
      auto cat = catalog::Catalog::open(lab->cfg.catalog.path);
      ASSERT_TRUE(cat.ok());
      auto active = (*cat)->drActive();
      ASSERT_TRUE(active.ok());
      if (active->has_value()) {
        auto rel = runCli(lab->configPath, {"failover", "release", "--run", (*active)->runId,
                                            "--reason", "test reset (failback)"});
        ASSERT_EQ(rel.code, 0) << rel.out << rel.err;
      }
    }
    // The primary VMs run again (their VMIs came back with the state).
    ASSERT_TRUE(FailoverLab::waitFor(
        [&] {
          for (const auto& vm :
               FailoverLab::list(*lab->primary, "/apis/kubevirt.io/v1/virtualmachines"))
            if (vm.value("/status/printableStatus"_json_pointer, "") != "Running") return false;
          return true;
        },
        10s));
  }

  struct Outcome {
    std::string runId;
    Json dr, primary;
  };

  Outcome finalState(const std::string& runId) {
    return {runId, FailoverLab::normalisedState(*lab->dr, runId),
            FailoverLab::normalisedState(*lab->primary, runId)};
  }

  // Runs with a crash at `point`, checks the crash and the journal, resumes; the end state.
  Outcome crashAndResume(const std::string& mode, const std::string& point) {
    reset();
    auto crashed =
        runCli(lab->configPath, {"failover", "run", mode, "--json", "--poll-interval-ms", "100"},
               {{"OCPVDR_FAILOVER_CRASH", point}});
    EXPECT_EQ(crashed.code, 86) << point << ": " << crashed.out << crashed.err;
    EXPECT_NE(crashed.err.find("crash injected at " + point), std::string::npos) << crashed.err;

    auto cat = catalog::Catalog::open(lab->cfg.catalog.path);
    EXPECT_TRUE(cat.ok());
    auto rec = failover::Journal(**cat).latestUnfinishedRun();
    EXPECT_TRUE(rec.ok() && rec->has_value()) << point;
    if (!rec.ok() || !rec->has_value()) return {};
    const std::string runId = (*rec)->runId;
    const std::string step = point.substr(point.find(':') + 1);
    const auto* s = (*rec)->step(step);
    EXPECT_NE(s, nullptr) << point;
    if (s) {
      EXPECT_EQ(s->state, point.rfind("after:", 0) == 0 ? failover::StepState::Done
                                                        : failover::StepState::Started)
          << point;
    }
    cat->reset();

    auto resumed =
        runCli(lab->configPath, {"failover", "resume", "--json", "--poll-interval-ms", "100"});
    EXPECT_EQ(resumed.code, 0) << point << ": " << resumed.out << resumed.err;
    EXPECT_EQ(resumed.doc.value("run", ""), runId) << point;
    if (resumed.doc.is_object()) {
      for (const auto& st : resumed.doc["report"]["steps"]) {
        EXPECT_EQ(st["state"], "done") << point << " " << st.dump();
        // A step finished before the crash ran once; the one cut short ran twice.
        const bool cut = point.rfind("mid:", 0) == 0 && st["step"] == step;
        EXPECT_EQ(st["attempts"], cut ? 2 : 1) << point << " " << st.dump();
      }
    }
    return finalState(runId);
  }

  TempDir tmp{"ocpvdr-crash"};
  std::unique_ptr<FailoverLab> lab;
  Json drInitial, primaryInitial;
};

TEST_F(CrashResume, PlannedRunKilledAtAnyPointResumesToTheSameEndState) {
  reset();
  auto ref = runCli(lab->configPath,
                    {"failover", "run", "--planned", "--json", "--poll-interval-ms", "100"});
  ASSERT_EQ(ref.code, 0) << ref.out << ref.err;
  const Outcome expected = finalState(ref.doc["run"]);
  // Sanity: the reference really failed over (so equality below means something).
  int running = 0;
  for (const auto& o : expected.dr)
    if (o["kind"] == "VirtualMachine" && o["status"]["printableStatus"] == "Running") ++running;
  ASSERT_EQ(running, static_cast<int>(lab->scenario.vms.size()));

  const std::vector<std::string> points = {
      "mid:preflight",  "after:preflight",   "mid:stop-vms",        "after:stop-vms",
      "after:fence",    "mid:final-sync",    "after:final-sync",    "mid:download",
      "after:download", "mid:apply-volumes", "after:apply-volumes", "mid:restore",
      "after:restore",  "mid:start-vms",     "after:start-vms",     "after:cleanup",
      "after:report"};
  for (const auto& point : points) {
    SCOPED_TRACE(point);
    Outcome got = crashAndResume("--planned", point);
    ASSERT_FALSE(got.runId.empty());
    EXPECT_EQ(got.dr, expected.dr) << point;
    EXPECT_EQ(got.primary, expected.primary) << point;
    // Fenced exactly once by the run, whether the crash came before or after the fence.
    EXPECT_EQ(countLines(tmp / "fence.log", got.runId), 1) << point;
    EXPECT_EQ(FailoverLab::list(*lab->dr, "/apis/velero.io/v1/restores").size(), 1u) << point;
  }
}

TEST_F(CrashResume, UnplannedRunKilledMidRestoreOrAfterTheDataLossStepResumes) {
  reset();
  auto ref = runCli(lab->configPath,
                    {"failover", "run", "--unplanned", "--json", "--poll-interval-ms", "100"});
  ASSERT_EQ(ref.code, 0) << ref.out << ref.err;
  const Outcome expected = finalState(ref.doc["run"]);
  for (const std::string point : {"after:data-loss", "mid:restore", "mid:apply-volumes"}) {
    SCOPED_TRACE(point);
    Outcome got = crashAndResume("--unplanned", point);
    EXPECT_EQ(got.dr, expected.dr) << point;
    EXPECT_EQ(got.primary, expected.primary) << point;
    EXPECT_EQ(countLines(tmp / "fence.log", got.runId), 0) << point;  // unplanned: no fence
  }
}

}  // namespace
}  // namespace ocpvdr::testing
