// Reconcile report renderings (JSON summary, Markdown, self-contained escaped HTML), ordering,
// exit codes and the report files; replica status rows and RPO from a real catalog.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "catalog/catalog.h"
#include "core/time.h"
#include "engine/reconcile_report.h"
#include "engine/replica_status.h"
#include "support/temp_dir.h"

namespace ocpvdr::engine {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

SystemTime at(const std::string& s) {
  return *parseTime(s);
}

PvRow okRow(const std::string& pv, std::int64_t bytes = 100) {
  PvRow r;
  r.pv = pv;
  r.status = "synced";
  r.bytes = bytes;
  r.duration = 1500ms;
  r.lastSuccess = r.lastSyncEnd = at("2026-11-24T10:00:00Z");
  r.rpo = 0s;
  return r;
}

ReconcileReport sample() {
  ReconcileReport rep;
  rep.runId = 7;
  rep.startedAt = at("2026-11-24T10:00:00Z");
  rep.finishedAt = at("2026-11-24T10:02:00Z");
  rep.pvListOk = rep.snapshotListOk = true;
  rep.deletePolicy = "quarantine";
  rep.pvs.push_back(okRow("pvc-b"));
  rep.pvs.push_back(okRow("pvc-a", 3 << 20));
  PvRow bad = okRow("pvc-<script>alert(1)</script>");
  bad.status = "failed";
  bad.failed = true;
  bad.errorKind = "terminal";
  bad.errorMessage = "rsync exit 12: protocol \"data\" stream error & <broken> | pipe";
  bad.rpo = 5h;
  bad.rpoExceeded = true;
  rep.pvs.push_back(bad);
  rep.sortRows();
  rep.computeTotals();
  return rep;
}

TEST(ReconcileReportTest, FailuresFirstAndTotals) {
  auto rep = sample();
  ASSERT_EQ(rep.pvs.size(), 3u);
  EXPECT_TRUE(rep.pvs[0].failed);
  EXPECT_EQ(rep.pvs[1].pv, "pvc-a");
  EXPECT_EQ(rep.pvs[2].pv, "pvc-b");
  EXPECT_EQ(rep.totals.selected, 3);
  EXPECT_EQ(rep.totals.failed, 1);
  EXPECT_EQ(rep.totals.synced, 2);
  EXPECT_EQ(rep.totals.bytes, (3 << 20) + 200);
  EXPECT_EQ(rep.totals.rpoExceeded, 1);
}

TEST(ReconcileReportTest, ExitCodesFollowTheWorstProblem) {
  ReconcileReport rep;
  rep.pvListOk = rep.snapshotListOk = true;
  rep.pvs.push_back(okRow("a"));
  rep.computeTotals();
  EXPECT_EQ(rep.exitCode(), 0);
  EXPECT_TRUE(rep.errorJson().is_null());
  EXPECT_EQ(rep.resultWord(), "ok");

  rep.breaker.tripped = true;
  rep.breaker.reason = "3 of 10";
  EXPECT_EQ(rep.exitCode(), 3);
  EXPECT_EQ(rep.resultWord(), "breaker");

  PvRow busy = okRow("b");
  busy.failed = true;
  busy.status = "busy";
  busy.errorKind = "retryable";
  busy.errorMessage = "locked";
  rep.pvs.push_back(busy);
  rep.computeTotals();
  EXPECT_EQ(rep.exitCode(), 4);  // retryable beats the breaker

  PvRow term = busy;
  term.pv = "c";
  term.errorKind = "terminal";
  rep.pvs.push_back(term);
  rep.computeTotals();
  EXPECT_EQ(rep.exitCode(), 5);
  EXPECT_NE(rep.errorJson()["message"].get<std::string>().find("2 PV(s)"), std::string::npos);

  ReconcileReport listFailed;
  listFailed.pvListError = "connection refused";
  listFailed.snapshotListOk = true;
  EXPECT_EQ(listFailed.exitCode(), 4);
  EXPECT_EQ(listFailed.resultWord(), "list-failed");
}

TEST(ReconcileReportTest, HtmlIsSelfContainedAndEscaped) {
  auto rep = sample();
  rep.orphans.push_back({"pv", "pvc-gone", "/srv/nfs/ocp/<x>", true, "held", "breaker \"on\""});
  rep.untrackedDirs.push_back("/srv/nfs/ocp/old&stuff");
  const std::string html = rep.toHtml();
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("pvc-&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("&quot;data&quot; stream error &amp; &lt;broken&gt;"), std::string::npos);
  EXPECT_NE(html.find("/srv/nfs/ocp/&lt;x&gt;"), std::string::npos);
  EXPECT_NE(html.find("old&amp;stuff"), std::string::npos);
  EXPECT_NE(html.find("<style>"), std::string::npos);
  // No external assets of any kind.
  for (const char* ref : {"http://", "https://", "src=", "href=", "@import", "url("})
    EXPECT_EQ(html.find(ref), std::string::npos) << ref;
  // One row per PV, the failed one first.
  std::size_t first = html.find("class=\"pv-row");
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(html.find("failed", first), std::string::npos);
  EXPECT_LT(html.find("pvc-&lt;script"), html.find("data-pv=\"pvc-a\""));
  EXPECT_LT(html.find("data-pv=\"pvc-a\""), html.find("data-pv=\"pvc-b\""));
  int rows = 0;
  for (std::size_t p = html.find("class=\"pv-row"); p != std::string::npos;
       p = html.find("class=\"pv-row", p + 1))
    ++rows;
  EXPECT_EQ(rows, 3);
  EXPECT_NE(html.find("3.0 MiB"), std::string::npos);
  EXPECT_NE(html.find("5h 0m"), std::string::npos);  // current RPO of the failed PV
}

TEST(ReconcileReportTest, MarkdownTableSurvivesPipes) {
  auto rep = sample();
  const std::string md = rep.toMarkdown();
  EXPECT_NE(md.find("| PV | status | last success | bytes | duration | current RPO | error |"),
            std::string::npos);
  EXPECT_NE(md.find("**failed**"), std::string::npos);
  EXPECT_NE(md.find("<broken> \\| pipe"), std::string::npos);
  // Every table line has the same number of unescaped pipes.
  std::istringstream in(md);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("| pvc-", 0) != 0) continue;
    int pipes = 0;
    for (std::size_t i = 0; i < line.size(); ++i)
      if (line[i] == '|' && (i == 0 || line[i - 1] != '\\')) ++pipes;
    EXPECT_EQ(pipes, 8) << line;
  }
}

TEST(ReconcileReportTest, WritesThreeFilesAndTheSummaryNamesThem) {
  testing::TempDir tmp;
  auto rep = sample();
  ASSERT_TRUE(writeReportFiles(rep, (tmp.path() / "run-7").string()).ok());
  for (const auto& f : {rep.files.json, rep.files.markdown, rep.files.html}) {
    ASSERT_TRUE(fs::exists(f)) << f;
    EXPECT_GT(fs::file_size(f), 200u) << f;
  }
  auto doc = Json::parse(std::ifstream(rep.files.json));
  EXPECT_EQ(doc["reports"]["html"], rep.files.html);
  EXPECT_EQ(doc["pvs"].size(), 3u);
  EXPECT_EQ(doc["pvs"][0]["status"], "failed");
  EXPECT_EQ(doc["exit_code"], 5);
  Json s = rep.summary();
  EXPECT_EQ(s["reports"]["markdown"], rep.files.markdown);
  EXPECT_FALSE(s.contains("pvs"));  // the summary stays small
  EXPECT_EQ(s["failed"].size(), 1u);
}

TEST(ReplicaStatusTest, CurrentRpoFromTheCatalog) {
  testing::TempDir tmp;
  auto cat = catalog::Catalog::open((tmp.path() / "catalog.db").string());
  ASSERT_TRUE(cat.ok());
  const SystemTime now = at("2026-11-24T12:00:00Z");
  catalog::ReplicaRecord fresh;
  fresh.pv = "pvc-fresh";
  fresh.lastSyncStart = now - 10min;
  fresh.lastSyncEnd = fresh.lastSuccess = now - 9min;
  fresh.result = "synced";
  catalog::ReplicaRecord stale = fresh;
  stale.pv = "pvc-stale";
  stale.lastSuccess = now - 3h;
  stale.lastSyncEnd = now - 1min;
  stale.result = "failed";
  stale.errorKind = "retryable";
  stale.errorMessage = "ssh: connect to host nfs-primary port 22: No route to host";
  catalog::ReplicaRecord never = fresh;
  never.pv = "pvc-never";
  never.lastSuccess.reset();
  never.lastSyncEnd.reset();  // running right now
  catalog::ReplicaRecord gone = stale;
  gone.pv = "pvc-gone";
  gone.state = "quarantined";
  for (const auto& r : {fresh, stale, never, gone}) ASSERT_TRUE((*cat)->putReplica(r).ok());

  auto rows = replicaStatuses(**cat, now, 1h);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_EQ((*rows)[0].pv, "pvc-never");  // exceeded first, then by name
  EXPECT_EQ((*rows)[1].pv, "pvc-stale");
  EXPECT_TRUE((*rows)[0].rpoExceeded);
  EXPECT_TRUE((*rows)[0].syncing);
  EXPECT_FALSE((*rows)[0].rpo.has_value());
  EXPECT_EQ((*rows)[1].rpo, std::chrono::seconds(3h));
  EXPECT_TRUE((*rows)[1].rpoExceeded);
  EXPECT_EQ((*rows)[2].pv, "pvc-fresh");
  EXPECT_EQ((*rows)[2].rpo, std::chrono::seconds(9min));
  EXPECT_FALSE((*rows)[2].rpoExceeded);
  const auto& goneRow = (*rows)[3];
  EXPECT_EQ(goneRow.pv, "pvc-gone");
  EXPECT_FALSE(goneRow.rpo.has_value());  // not active: no RPO
  EXPECT_FALSE(goneRow.rpoExceeded);

  Json j = statusJson(*rows, now, 1h);
  EXPECT_EQ(j["totals"]["rpo_exceeded"], 2);
  EXPECT_EQ(j["totals"]["active"], 3);
  EXPECT_EQ(j["replicas"][1]["rpo_seconds"], 10800);
  EXPECT_EQ(j["replicas"][1]["error"]["kind"], "retryable");
  std::string table = statusTable(*rows, 1h);
  EXPECT_NE(table.find("pvc-stale"), std::string::npos);
  EXPECT_NE(table.find("3h 0m"), std::string::npos);
  EXPECT_NE(table.find("YES"), std::string::npos);
  EXPECT_NE(table.find("4 replica(s), 2 over the RPO target of 1h 0m"), std::string::npos);
}

}  // namespace
}  // namespace ocpvdr::engine
