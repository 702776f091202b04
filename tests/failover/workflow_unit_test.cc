// Unit tests of the failover workflow's parts that need no cluster: fencing of exports(5) text,
// the SQLite journal, the report (JSON, Markdown, HTML), the rsync itemize parser, the Restore
// object, step lists and small helpers.
#include <gtest/gtest.h>

#include <fstream>

#include "catalog/catalog.h"
#include "core/time.h"
#include "failover/failover_report.h"
#include "failover/fencing.h"
#include "failover/final_sync.h"
#include "failover/journal.h"
#include "failover/vm_control.h"
#include "failover/workflow.h"
#include "replication/lock.h"
#include "support/temp_dir.h"

namespace ocpvdr::failover {
namespace {

using namespace std::chrono_literals;
using ocpvdr::testing::TempDir;

// --- fencing ---------------------------------------------------------------------------------

TEST(FenceExports, MakesOnlyTheRootsLinesReadOnly) {
  const std::string text =
      "# exports\n"
      "/srv/nfs/ocp  10.0.0.0/8(rw,sync,no_subtree_check) *(rw,root_squash)\n"
      "/srv/nfs/other 10.0.0.0/8(rw,sync)\n";
  auto e = fenceExportsText(text, {"/srv/nfs/ocp"});
  ASSERT_TRUE(e.ok()) << e.error().describe();
  EXPECT_EQ(e->content,
            "# exports\n"
            "/srv/nfs/ocp 10.0.0.0/8(ro,sync,no_subtree_check) *(ro,root_squash)\n"
            "/srv/nfs/other 10.0.0.0/8(rw,sync)\n");
  EXPECT_EQ(e->matchedPaths, std::vector<std::string>{"/srv/nfs/ocp"});
  ASSERT_EQ(e->before.size(), 1u);
  EXPECT_TRUE(e->changed());
}

TEST(FenceExports, IsIdempotent) {
  auto first = fenceExportsText("/srv/nfs/ocp host(rw)\n", {"/srv/nfs/ocp"});
  ASSERT_TRUE(first.ok());
  auto second = fenceExportsText(first->content, {"/srv/nfs/ocp"});
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->changed());
  EXPECT_EQ(second->content, first->content);
  EXPECT_EQ(second->matchedPaths.size(), 1u);  // still found: the fence is in place
}

TEST(FenceExports, AddsRoWhereNoModeIsGivenAndFixesDefaultOptions) {
  auto e = fenceExportsText("/srv/nfs/ocp -rw,async host1(sync) host2\n", {"/srv/nfs/ocp"});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->content, "/srv/nfs/ocp -ro,async host1(sync,ro) host2\n");
}

TEST(FenceExports, MatchesExportsBelowARootAndJoinsContinuationLines) {
  const std::string text =
      "/srv/nfs/ocp/vms \\\n"
      "   10.0.0.0/8(rw)\n"
      "/srv/nfs/ocpx 10.0.0.0/8(rw)\n";  // a sibling, not under the root
  auto e = fenceExportsText(text, {"/srv/nfs/ocp"});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->content, "/srv/nfs/ocp/vms 10.0.0.0/8(ro)\n/srv/nfs/ocpx 10.0.0.0/8(rw)\n");
}

TEST(FenceExports, QuotedPathsAndNoTrailingNewline) {
  auto e = fenceExportsText("\"/srv/nfs/ocp\" host(rw)", {"/srv/nfs/ocp"});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->content, "\"/srv/nfs/ocp\" host(ro)");
}

TEST(FenceExports, NoMatchingLineIsReportedAsSuch) {
  auto e = fenceExportsText("/srv/other host(rw)\n", {"/srv/nfs/ocp"});
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->matchedPaths.empty());
  EXPECT_EQ(e->content, "/srv/other host(rw)\n");
}

TEST(FenceExports, AMalformedLineOfARootIsAnErrorOthersAreLeftAlone) {
  auto bad = fenceExportsText("/srv/nfs/ocp host(rw\n", {"/srv/nfs/ocp"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::Invalid);
  EXPECT_NE(bad.error().message.find("line 1"), std::string::npos);
  auto other = fenceExportsText("/srv/x host(rw\n/srv/nfs/ocp h(rw)\n", {"/srv/nfs/ocp"});
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->content, "/srv/x host(rw\n/srv/nfs/ocp h(ro)\n");
}

// --- journal ---------------------------------------------------------------------------------

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = catalog::Catalog::open((tmp / "catalog.db").string());
    ASSERT_TRUE(c.ok()) << c.error().describe();
    cat = std::move(c).value();
  }
  TempDir tmp;
  std::unique_ptr<catalog::Catalog> cat;
  SystemTime t0 = SystemTime{std::chrono::seconds{1'800'000'000}};
};

TEST_F(JournalTest, RecordsRunsAndStepsAcrossAttempts) {
  Journal j(*cat);
  ASSERT_TRUE(j.createRun("r1", "planned", {{"backup", ""}}, t0).ok());
  auto dup = j.createRun("r1", "planned", Json::object(), t0);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().kind, ErrorKind::Conflict);

  ASSERT_TRUE(j.stepStarted("r1", "preflight", 1, t0).ok());
  ASSERT_TRUE(j.stepFinished("r1", "preflight", StepState::Done, t0 + 2s, {{"n", 1}}).ok());
  ASSERT_TRUE(j.stepStarted("r1", "stop-vms", 2, t0 + 3s).ok());
  ASSERT_TRUE(j.stepDetails("r1", "stop-vms", {{"vms", {"a"}}}).ok());
  // Crash; the redo keeps the first start and the progress, and counts the attempt.
  ASSERT_TRUE(j.stepStarted("r1", "stop-vms", 2, t0 + 10s).ok());
  auto run = j.run("r1");
  ASSERT_TRUE(run.ok() && run->has_value());
  const auto* s = (*run)->step("stop-vms");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->state, StepState::Started);
  EXPECT_EQ(s->attempts, 2);
  EXPECT_EQ(s->startedAt, t0 + 3s);
  EXPECT_EQ(s->details["vms"][0], "a");
  EXPECT_EQ((*run)->step("preflight")->details["n"], 1);
  EXPECT_EQ((*run)->step("preflight")->finishedAt, t0 + 2s);

  Error e = terminalError("boom");
  ASSERT_TRUE(j.stepFinished("r1", "stop-vms", StepState::Failed, t0 + 11s, {}, e).ok());
  ASSERT_TRUE(j.setRunState("r1", "failed", t0 + 11s, e).ok());
  auto unfinished = j.latestUnfinishedRun();
  ASSERT_TRUE(unfinished.ok() && unfinished->has_value());
  EXPECT_EQ((*unfinished)->runId, "r1");
  EXPECT_EQ((*unfinished)->errorMessage, "boom");
  EXPECT_EQ((*unfinished)->step("stop-vms")->errorKind, "terminal");

  ASSERT_TRUE(j.setRunState("r1", "done", t0 + 20s).ok());
  auto none = j.latestUnfinishedRun();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(j.createRun("r2", "unplanned", Json::object(), t0 + 30s).ok());
  auto latest = j.latestRun();
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->runId, "r2");
  auto all = j.runs();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1].runId, "r1");
}

// `failover abandon`: a run that never touched DR is abandoned (journaled, no longer blocking
// nor resumable); one that set DR active or ran a DR-changing step needs --force; done and
// executing runs cannot be abandoned.
TEST_F(JournalTest, AbandonFreesTheWayUnlessTheRunChangedDr) {
  config::Config cfg;
  cfg.failover.workDir = (tmp / "work").string();
  ManualClock clock{t0};
  Journal j(*cat);
  // A preflight that failed on a mistyped backup.
  ASSERT_TRUE(j.createRun("r-typo", "unplanned", Json{{"backup", "nightly-typo"}}, t0).ok());
  ASSERT_TRUE(j.stepStarted("r-typo", "preflight", 1, t0).ok());
  ASSERT_TRUE(j.stepFinished("r-typo", "preflight", StepState::Failed, t0, Json::object(),
                             notFoundError("backup nightly-typo not found"))
                  .ok());
  ASSERT_TRUE(j.setRunState("r-typo", "failed", t0, notFoundError("x")).ok());
  ASSERT_EQ((*j.latestUnfinishedRun())->runId, "r-typo");

  EXPECT_EQ(abandonRun(cfg, *cat, clock, "nope", false, "").error().kind, ErrorKind::NotFound);
  EXPECT_EQ(abandonRun(cfg, *cat, clock, "", false, "").error().kind, ErrorKind::Invalid);
  {
    // Executing (the failover lock is held): refused.
    auto held = replication::FileLock::acquire(cfg.failover.workDir, "failover", 0ms, clock);
    ASSERT_TRUE(held.ok());
    auto busy = abandonRun(cfg, *cat, clock, "r-typo", false, "typo");
    ASSERT_FALSE(busy.ok());
    EXPECT_EQ(busy.error().kind, ErrorKind::Conflict);
  }
  auto r = abandonRun(cfg, *cat, clock, "r-typo", false, "mistyped --backup");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ((*r)["changedDr"], false);
  EXPECT_FALSE(j.latestUnfinishedRun()->has_value());
  auto rec = *j.run("r-typo");
  ASSERT_TRUE(rec.has_value());
  EXPECT_TRUE(rec->abandoned());
  EXPECT_EQ(rec->state, "failed");
  EXPECT_NE(rec->errorMessage.find("mistyped --backup"), std::string::npos);
  auto actions = *cat->failoverActions("r-typo");
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].action, "abandon");
  EXPECT_FALSE(actions[0].forced);
  EXPECT_EQ(abandonRun(cfg, *cat, clock, "r-typo", false, "").error().kind, ErrorKind::Conflict);

  // A run that set DR active and stopped in apply-volumes: refused without --force.
  ASSERT_TRUE(j.createRun("r-dr", "planned", Json::object(), t0 + 1s).ok());
  for (const char* st : {"preflight", "stop-vms", "fence", "final-sync", "download"}) {
    ASSERT_TRUE(j.stepStarted("r-dr", st, 1, t0 + 1s).ok());
    ASSERT_TRUE(j.stepFinished("r-dr", st, StepState::Done, t0 + 1s, Json::object()).ok());
  }
  ASSERT_TRUE(cat->setDrActive({"r-dr", "b", "planned", t0 + 2s}).ok());
  ASSERT_TRUE(j.stepStarted("r-dr", "apply-volumes", 6, t0 + 2s).ok());
  auto refused = abandonRun(cfg, *cat, clock, "r-dr", false, "");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::Refused);
  EXPECT_NE(refused.error().message.find("already changed the DR cluster"), std::string::npos);
  EXPECT_NE(refused.error().message.find("--force"), std::string::npos);
  EXPECT_EQ((*j.latestUnfinishedRun())->runId, "r-dr");
  auto forced = abandonRun(cfg, *cat, clock, "r-dr", true, "cleaned up by hand");
  ASSERT_TRUE(forced.ok()) << forced.error().describe();
  EXPECT_EQ((*forced)["drActive"], true);
  // Abandoning does not lift DR active: that is an explicit release.
  EXPECT_EQ((*cat->drActive())->runId, "r-dr");
  EXPECT_TRUE((*cat->failoverActions("r-dr")).back().forced);
  auto released = releaseDrActive(cfg, *cat, clock, "r-dr", "failed back");
  ASSERT_TRUE(released.ok()) << released.error().describe();
  EXPECT_EQ((*released)["runState"], "abandoned");
  EXPECT_FALSE(cat->drActive()->has_value());
  EXPECT_EQ(releaseDrActive(cfg, *cat, clock, "r-dr", "").error().kind, ErrorKind::NotFound);

  // A done run cannot be abandoned.
  ASSERT_TRUE(j.createRun("r-done", "planned", Json::object(), t0 + 3s).ok());
  ASSERT_TRUE(j.setRunState("r-done", "done", t0 + 4s).ok());
  EXPECT_EQ(abandonRun(cfg, *cat, clock, "r-done", true, "").error().kind, ErrorKind::Conflict);
}

TEST_F(JournalTest, FinishingAStepThatNeverStartedIsAnError) {
  Journal j(*cat);
  ASSERT_TRUE(j.createRun("r1", "planned", Json::object(), t0).ok());
  auto st = j.stepFinished("r1", "restore", StepState::Done, t0, Json::object());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("never started"), std::string::npos);
}

TEST_F(JournalTest, SurvivesReopeningTheDatabase) {
  {
    Journal j(*cat);
    ASSERT_TRUE(j.createRun("r1", "unplanned", Json::object(), t0).ok());
    ASSERT_TRUE(j.stepStarted("r1", "preflight", 1, t0).ok());
  }
  cat.reset();
  auto c = catalog::Catalog::open((tmp / "catalog.db").string());
  ASSERT_TRUE(c.ok());
  Journal j(**c);
  auto run = j.latestUnfinishedRun();
  ASSERT_TRUE(run.ok() && run->has_value());
  EXPECT_EQ((*run)->mode, "unplanned");
  EXPECT_EQ((*run)->steps.size(), 1u);
}

// --- report ----------------------------------------------------------------------------------

FailoverRunRecord sampleRun(const std::string& mode) {
  const SystemTime t0{std::chrono::seconds{1'800'000'000}};
  FailoverRunRecord r;
  r.runId = "20270115-080000-abcd";
  r.mode = mode;
  r.backup = "nightly-1";
  r.state = "done";
  r.startedAt = t0;
  r.finishedAt = t0 + 100s;
  auto step = [&](const std::string& name, int startS, int endS, Json details) {
    StepRecord s;
    s.step = name;
    s.seq = static_cast<int>(r.steps.size()) + 1;
    s.state = StepState::Done;
    s.startedAt = t0 + std::chrono::seconds(startS);
    s.finishedAt = t0 + std::chrono::seconds(endS);
    s.details = std::move(details);
    r.steps.push_back(std::move(s));
  };
  step("preflight", 0, 5,
       {{"backup", {{"name", "nightly-1"}, {"completed", "2027-01-15T00:10:00Z"}}},
        {"namespaces", {"vms"}},
        {"vms", {{{"namespace", "vms"}, {"name", "vm-1"}}}},
        {"volumes",
         {{{"pv", "pvc-1"},
           {"claim", "vms/root"},
           {"drServer", "nfs-dr"},
           {"drExportPath", "/exports/ocp/a"},
           {"drHostPath", "/srv/a"}}}},
        {"warnings", {"PV pvc-9 was created after backup <nightly-1>"}}});
  if (mode == "planned") {
    step("stop-vms", 5, 20,
         {{"vms", {{{"namespace", "vms"}, {"name", "vm-1"}, {"runStrategyBefore", "Always"}}}}});
    step("final-sync", 20, 40,
         {{"volumes", {{{"pv", "pvc-1"}, {"syncedAt", "2027-01-15T08:00:40.000Z"}}}}});
  } else {
    Json loss = {
        {"pv", "pvc-1"}, {"lastSuccess", "2027-01-15T07:55:00.000Z"}, {"dataLossSeconds", 300.0}};
    step("data-loss", 5, 6, Json{{"volumes", Json::array({loss})}});
  }
  step("start-vms", 60, 90,
       {{"vms",
         {{{"namespace", "vms"},
           {"name", "vm-1"},
           {"printableStatus", "Running"},
           {"ready", true},
           {"runStrategy", "Always"}}}},
        {"readyAt", formatTimeMillis(t0 + 90s)}});
  return r;
}

TEST(Report, PlannedRunHasTimelineRtoAndZeroDataAge) {
  Json r = buildReport(sampleRun("planned"), SystemTime{std::chrono::seconds{1'800'000'200}});
  EXPECT_EQ(r["runId"], "20270115-080000-abcd");
  ASSERT_EQ(r["steps"].size(), 4u);
  EXPECT_EQ(r["steps"][1]["durationMs"], 15000);
  EXPECT_DOUBLE_EQ(r["rto"]["seconds"].get<double>(), 90.0);
  ASSERT_EQ(r["volumes"].size(), 1u);
  EXPECT_EQ(r["volumes"][0]["dataAgeSeconds"], 0);
  EXPECT_EQ(r["volumes"][0]["lastSync"], "2027-01-15T08:00:40.000Z");
  ASSERT_EQ(r["vms"].size(), 1u);
  EXPECT_EQ(r["vms"][0]["printableStatus"], "Running");
  EXPECT_EQ(r["vms"][0]["primaryRunStrategyBefore"], "Always");
  ASSERT_EQ(r["warnings"].size(), 1u);
  EXPECT_EQ(r["warnings"][0]["step"], "preflight");
  EXPECT_TRUE(r["error"].is_null());
}

TEST(Report, UnplannedRunCarriesTheDataLossWindow) {
  Json r = buildReport(sampleRun("unplanned"), SystemTime{std::chrono::seconds{1'800'000'200}});
  EXPECT_EQ(r["volumes"][0]["dataAgeSeconds"], 300.0);
  EXPECT_EQ(r["volumes"][0]["basis"], "catalog: last successful sync");
  EXPECT_EQ(r["rpo"]["worstDataAgeSeconds"], 300.0);
}

TEST(Report, AFailedRunNamesTheStepAndHasNoRto) {
  auto run = sampleRun("planned");
  run.state = "failed";
  run.steps.back().state = StepState::Failed;
  run.steps.back().errorKind = "terminal";
  run.steps.back().errorMessage = "VMs not Running and ready at DR after 20m: vms/vm-1 (...)";
  Json r = buildReport(run, SystemTime{std::chrono::seconds{1'800'000'200}});
  EXPECT_EQ(r["error"]["step"], "start-vms");
  EXPECT_TRUE(r["rto"].is_null());
  EXPECT_NE(renderMarkdown(r).find("**Failed** at step `start-vms`"), std::string::npos);
}

TEST(Report, RenderingsShowEverySectionAndEscapeText) {
  Json r = buildReport(sampleRun("planned"), SystemTime{std::chrono::seconds{1'800'000'200}});
  const std::string md = renderMarkdown(r);
  for (const char* s : {"## Timeline", "| stop-vms | done |", "## Virtual machines",
                        "| vms/vm-1 | Running | yes | Always | Always |", "## Volumes",
                        "| pvc-1 | vms/root | nfs-dr:/exports/ocp/a |", "RTO", "1m30s"})
    EXPECT_NE(md.find(s), std::string::npos) << s << "\n" << md;
  const std::string html = renderHtml(r);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("&lt;nightly-1&gt;"), std::string::npos);  // from the warning text
  EXPECT_EQ(html.find("<nightly-1>"), std::string::npos);
  EXPECT_NE(html.find("<style>"), std::string::npos);
  EXPECT_EQ(html.find("http"), std::string::npos);  // nothing loaded from elsewhere

  TempDir tmp;
  auto files = writeReportFiles(r, (tmp / "reports/run").string());
  ASSERT_TRUE(files.ok()) << files.error().describe();
  ASSERT_EQ(files->size(), 3u);
  std::ifstream in(files->front());
  Json back = Json::parse(in);
  EXPECT_EQ(back, r);
}

// --- small parts -----------------------------------------------------------------------------

TEST(Itemize, RecognisesRsyncChangeLines) {
  EXPECT_TRUE(isItemizeLine(">f+++++++++ disk.img"));
  EXPECT_TRUE(isItemizeLine(">f.st...... disk.img"));
  EXPECT_TRUE(isItemizeLine("cd+++++++++ sub/"));
  EXPECT_TRUE(isItemizeLine(".d..t...... ./"));
  EXPECT_TRUE(isItemizeLine("*deleting   old.img"));
  EXPECT_FALSE(isItemizeLine("Number of files: 3 (reg: 2, dir: 1)"));
  EXPECT_FALSE(isItemizeLine("sent 1,234 bytes  received 56 bytes"));
  EXPECT_FALSE(isItemizeLine(""));
}

TEST(RestoreObject, ExcludesVolumesAndHaltsVmsForStartVms) {
  config::Config cfg;
  cfg.failover.oadpNamespace = "openshift-adp";
  Json r = restoreObject(cfg, "20270115-080000-abcd", "nightly-1", {"a", "b"});
  EXPECT_EQ(r["metadata"]["name"], "ocpv-dr-20270115-080000-abcd");
  EXPECT_EQ(r["metadata"]["namespace"], "openshift-adp");
  EXPECT_EQ(r["metadata"]["labels"]["velero.kubevirt.io/restore-run-strategy"], "Halted");
  EXPECT_EQ(r["metadata"]["labels"]["ocpv-dr.io/failover-run"], "20270115-080000-abcd");
  EXPECT_EQ(r["spec"]["backupName"], "nightly-1");
  EXPECT_EQ(r["spec"]["includedNamespaces"], Json({"a", "b"}));
  EXPECT_EQ(r["spec"]["excludedResources"], Json({"persistentvolumes", "persistentvolumeclaims"}));
  EXPECT_EQ(r["spec"]["restorePVs"], false);
  EXPECT_EQ(r["spec"]["existingResourcePolicy"], "none");
}

TEST(Steps, PlannedAndUnplannedLists) {
  EXPECT_EQ(stepsFor(Mode::Planned).size(), 10u);
  EXPECT_EQ(stepsFor(Mode::Planned)[2], "fence");
  EXPECT_EQ(stepsFor(Mode::Unplanned)[1], "data-loss");
  EXPECT_EQ(std::count(stepsFor(Mode::Unplanned).begin(), stepsFor(Mode::Unplanned).end(),
                       std::string("fence")),
            0);
  EXPECT_TRUE(parseMode("planned").ok());
  EXPECT_FALSE(parseMode("Planned").ok());
}

TEST(Helpers, VmHints) {
  EXPECT_NE(hintForVmStatus("WaitingForVolumeBinding").find("Bound"), std::string::npos);
  EXPECT_NE(hintForVmStatus("ErrorPvcNotFound").find("PVC"), std::string::npos);
}

}  // namespace
}  // namespace ocpvdr::failover
