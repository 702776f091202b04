// Reconcile report: ordering, totals, exit code and the JSON / Markdown / HTML renderings.
#include "engine/reconcile_report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "core/files.h"
#include "core/text.h"
#include "core/time.h"
#include "events/work_key.h"

namespace ocpvdr::engine {
namespace fs = std::filesystem;

namespace {

Json optTime(const std::optional<SystemTime>& t) {
  return t ? Json(formatTime(*t)) : Json(nullptr);
}

std::string timeOrDash(const std::optional<SystemTime>& t) {
  return t ? formatTime(*t) : std::string("never");
}

std::string rpoText(const PvRow& r) {
  return r.rpo ? humanAge(*r.rpo) : std::string("never synced");
}

std::string durationText(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

bool worseKind(const std::string& a, const std::string& b) {
  // Severity for the exit code: terminal-like > retryable > refused.
  auto rank = [](const std::string& k) {
    if (k == "refused") return 1;
    if (k == "retryable") return 2;
    return 3;
  };
  return rank(a) > rank(b);
}

}  // namespace

void ReconcileReport::sortRows() {
  auto key = [](const PvRow& r) { return std::make_tuple(!r.failed, !r.rpoExceeded, r.pv); };
  std::stable_sort(pvs.begin(), pvs.end(),
                   [&](const PvRow& a, const PvRow& b) { return key(a) < key(b); });
  std::stable_sort(snapshots.begin(), snapshots.end(), [](const auto& a, const auto& b) {
    return std::make_tuple(!a.failed, a.snapshot) < std::make_tuple(!b.failed, b.snapshot);
  });
}

void ReconcileReport::computeTotals() {
  ReconcileTotals t;
  t.selected = static_cast<int>(pvs.size());
  for (const auto& r : pvs) {
    if (r.failed) ++t.failed;
    if (r.status == "synced") ++t.synced;
    if (r.status == "unchanged") ++t.unchanged;
    if (r.status == "unchanged" && r.checkedBy == "manifest") ++t.unchangedByManifest;
    if (r.status == "not-replicable") ++t.notReplicable;
    if (r.neverSynced && r.status != "not-replicable") ++t.neverSynced;
    if (r.rpoExceeded && r.status != "not-replicable") ++t.rpoExceeded;
    t.bytes += r.bytes;
  }
  t.snapshots = static_cast<int>(snapshots.size());
  for (const auto& s : snapshots) {
    if (s.failed) ++t.snapshotsFailed;
    t.bytes += s.bytes;
  }
  for (const auto& o : orphans) {
    if (o.kind == "pv")
      ++t.orphans;
    else
      ++t.orphanSnapshots;
    if (o.action == "quarantined" || o.action == "kept" || o.action == "deleted" ||
        o.action == "unchanged")
      ++t.orphansHandled;
  }
  t.untrackedDirs = static_cast<int>(untrackedDirs.size());
  totals = t;
}

Json ReconcileReport::errorJson() const {
  std::string worst;
  std::string message;
  auto consider = [&](const std::string& kind, const std::string& msg) {
    if (worst.empty() || worseKind(kind, worst)) {
      worst = kind;
      message = msg;
    }
  };
  int failedPvs = 0, failedSnaps = 0;
  for (const auto& r : pvs)
    if (r.failed) {
      ++failedPvs;
      consider(r.errorKind.empty() ? "terminal" : r.errorKind,
               "PV " + r.pv + ": " + r.errorMessage);
    }
  for (const auto& s : snapshots)
    if (s.failed) {
      ++failedSnaps;
      consider(s.errorKind.empty() ? "terminal" : s.errorKind,
               "snapshot " + s.snapshot + ": " + s.errorMessage);
    }
  for (const auto& o : orphans)
    if (o.action == "failed") consider("terminal", "orphan " + o.name + ": " + o.detail);
  if (!pvListOk)
    consider("retryable", "listing the primary's PersistentVolumes failed: " + pvListError);
  if (!snapshotListOk && !snapshotListError.empty())
    consider("retryable", "listing the primary's VolumeSnapshots failed: " + snapshotListError);
  if (stopped) consider("retryable", "the run was interrupted before it finished");
  if (breaker.tripped) consider("refused", "circuit breaker: " + breaker.reason);
  if (snapshotBreaker.tripped)
    consider("refused", "snapshot circuit breaker: " + snapshotBreaker.reason);
  if (worst.empty()) return nullptr;
  if (failedPvs + failedSnaps > 1)
    message = std::to_string(failedPvs) + " PV(s) and " + std::to_string(failedSnaps) +
              " snapshot(s) failed; worst: " + message;
  return Json{{"kind", worst}, {"message", message}};
}

int ReconcileReport::exitCode() const {
  Json e = errorJson();
  if (e.is_null()) return 0;
  const std::string kind = e["kind"];
  if (kind == "refused") return 3;
  if (kind == "retryable") return 4;
  return 5;
}

std::string ReconcileReport::resultWord() const {
  if (stopped) return "stopped";
  if (!pvListOk) return "list-failed";
  if (totals.failed > 0 || totals.snapshotsFailed > 0) return "failed";
  if (breaker.tripped || snapshotBreaker.tripped) return "breaker";
  if (exitCode() != 0) return "failed";
  return "ok";
}

namespace {

Json breakerJson(const BreakerVerdict& b) {
  return Json{{"tripped", b.tripped},
              {"reason", b.reason},
              {"candidates", b.candidates},
              {"replicas", b.replicas},
              {"max_share", b.maxShare}};
}

Json totalsJson(const ReconcileTotals& t) {
  return Json{{"selected", t.selected},
              {"synced", t.synced},
              {"unchanged", t.unchanged},
              {"unchanged_by_manifest", t.unchangedByManifest},
              {"failed", t.failed},
              {"not_replicable", t.notReplicable},
              {"never_synced", t.neverSynced},
              {"rpo_exceeded", t.rpoExceeded},
              {"snapshots", t.snapshots},
              {"snapshots_failed", t.snapshotsFailed},
              {"orphans", t.orphans},
              {"orphan_snapshots", t.orphanSnapshots},
              {"orphans_handled", t.orphansHandled},
              {"untracked_dirs", t.untrackedDirs},
              {"bytes", t.bytes}};
}

Json filesJson(const ReconcileReport::Files& f) {
  if (f.json.empty()) return Json::object();
  return Json{{"json", f.json}, {"markdown", f.markdown}, {"html", f.html}};
}

}  // namespace

Json ReconcileReport::toJson() const {
  Json j = summary();
  Json rows = Json::array();
  for (const auto& r : pvs) {
    rows.push_back(Json{{"pv", r.pv},
                        {"status", r.status},
                        {"checked_by", r.checkedBy.empty() ? Json(nullptr) : Json(r.checkedBy)},
                        {"failed", r.failed},
                        {"error", r.errorKind.empty() && r.errorMessage.empty()
                                      ? Json(nullptr)
                                      : Json{{"kind", r.errorKind}, {"message", r.errorMessage}}},
                        {"source", r.source},
                        {"destination", r.destination},
                        {"last_sync_end", optTime(r.lastSyncEnd)},
                        {"last_success", optTime(r.lastSuccess)},
                        {"bytes", r.bytes},
                        {"files", r.files},
                        {"duration_ms", r.duration.count()},
                        {"rpo_seconds", r.rpo ? Json(r.rpo->count()) : Json(nullptr)},
                        {"rpo_exceeded", r.rpoExceeded},
                        {"never_synced", r.neverSynced}});
  }
  j["pvs"] = rows;
  Json snaps = Json::array();
  for (const auto& s : snapshots)
    snaps.push_back(Json{{"snapshot", s.snapshot},
                         {"uid", s.uid},
                         {"source_pv", s.sourcePv},
                         {"status", s.status},
                         {"failed", s.failed},
                         {"error", s.errorMessage.empty()
                                       ? Json(nullptr)
                                       : Json{{"kind", s.errorKind}, {"message", s.errorMessage}}},
                         {"bytes", s.bytes}});
  j["snapshots"] = snaps;
  Json orph = Json::array();
  for (const auto& o : orphans)
    orph.push_back(Json{{"kind", o.kind},
                        {"name", o.name},
                        {"dr_path", o.drPath},
                        {"dr_data_present", o.drDataPresent},
                        {"action", o.action},
                        {"detail", o.detail}});
  j["orphans"] = orph;
  j["untracked_dirs"] = untrackedDirs;
  j["notes"] = notes;
  j["dr_active"] = drActive;
  j["snapshot_breaker"] = breakerJson(snapshotBreaker);
  j["pv_list"] = Json{{"ok", pvListOk}, {"error", pvListError}};
  j["snapshot_list"] = Json{{"ok", snapshotListOk}, {"error", snapshotListError}};
  return j;
}

Json ReconcileReport::summary() const {
  // The summary goes into the catalog's run row and every notify POST: its name lists are
  // bounded (the full report lists every PV); "names_omitted" says how many were left out.
  constexpr std::size_t kMaxNames = 100;
  std::size_t omitted = 0;
  auto names = [&](auto pred) {
    Json a = Json::array();
    for (const auto& r : pvs)
      if (pred(r)) {
        if (a.size() < kMaxNames)
          a.push_back(r.pv);
        else
          ++omitted;
      }
    return a;
  };
  Json orphanNames = Json::array();
  for (const auto& o : orphans)
    orphanNames.push_back(o.kind == "pv" ? o.name
                                         : std::string(events::kSnapshotKeyPrefix) + o.name);
  return Json{
      {"action", "reconcile"},
      {"run_id", runId},
      {"trigger", trigger},
      {"result", resultWord()},
      {"exit_code", exitCode()},
      {"error", errorJson()},
      {"started_at", formatTimeMillis(startedAt)},
      {"finished_at", formatTimeMillis(finishedAt)},
      {"duration_ms",
       std::chrono::duration_cast<std::chrono::milliseconds>(finishedAt - startedAt).count()},
      {"rpo_target_seconds", rpoTarget.count()},
      {"delete_policy", deletePolicy},
      {"totals", totalsJson(totals)},
      {"failed", names([](const PvRow& r) { return r.failed; })},
      {"never_synced",
       names([](const PvRow& r) { return r.neverSynced && r.status != "not-replicable"; })},
      {"rpo_exceeded",
       names([](const PvRow& r) { return r.rpoExceeded && r.status != "not-replicable"; })},
      {"orphans", orphanNames},
      {"breaker", breakerJson(breaker)},
      {"reports", filesJson(files)},
      {"notify", notify},
      {"dr_active", drActive},
      {"names_omitted", omitted},
      {"manifest", Json{{"ran", manifest.ran},
                        {"roots", manifest.roots},
                        {"sessions_failed", manifest.sessionsFailed},
                        {"checked", manifest.checked},
                        {"unchanged", manifest.unchanged},
                        {"cycles", manifest.cycles},
                        {"duration_ms", manifest.duration.count()},
                        {"errors", manifest.errors}}},
  };
}

std::string ReconcileReport::toMarkdown() const {
  std::ostringstream md;
  md << "# ocpv-dr reconcile report\n\n";
  md << "- Run: " << runId << " (" << trigger << "), " << formatTime(startedAt) << " → "
     << formatTime(finishedAt) << "\n";
  md << "- Result: **" << resultWord() << "** (exit code " << exitCode() << ")\n";
  Json err = errorJson();
  if (!err.is_null()) md << "- Error: " << err["message"].get<std::string>() << "\n";
  md << "- RPO target: " << humanAge(rpoTarget) << "; delete policy: " << deletePolicy << "\n";
  md << "- PVs: " << totals.selected << " selected, " << totals.synced << " synced, "
     << totals.unchanged << " unchanged (" << totals.unchangedByManifest << " by the manifest), "
     << totals.failed << " failed, " << totals.notReplicable << " not replicable, "
     << totals.neverSynced << " never synced, " << totals.rpoExceeded << " over the RPO target; "
     << humanBytes(totals.bytes) << " transferred\n";
  if (manifest.ran)
    md << "- Manifest: " << manifest.checked << " extent-mover PV(s) in " << manifest.roots
       << " export root(s), " << manifest.unchanged << " unchanged without a cycle, "
       << manifest.cycles << " cycle(s), " << durationText(manifest.duration)
       << (manifest.sessionsFailed > 0
               ? "; " + std::to_string(manifest.sessionsFailed) + " session(s) failed"
               : std::string())
       << "\n";
  md << "- Snapshots: " << totals.snapshots << " checked, " << totals.snapshotsFailed
     << " failed\n";
  md << "- Orphans: " << totals.orphans << " PV(s), " << totals.orphanSnapshots
     << " snapshot(s); untracked DR directories: " << totals.untrackedDirs << "\n\n";
  if (!pvListOk)
    md << "> **The primary's PersistentVolumes could not be listed** — no orphan check ran: "
       << pvListError << "\n\n";
  if (breaker.tripped)
    md << "> **Circuit breaker tripped** — nothing was quarantined: " << breaker.reason << "\n\n";
  if (snapshotBreaker.tripped)
    md << "> **Snapshot circuit breaker tripped** — no snapshot record was dropped: "
       << snapshotBreaker.reason << "\n\n";
  for (const auto& n : notes) md << "> " << n << "\n\n";

  md << "## PersistentVolumes\n\n";
  md << "| PV | status | last success | bytes | duration | current RPO | error |\n";
  md << "|---|---|---|---|---|---|---|\n";
  for (const auto& r : pvs)
    md << "| " << markdownCell(r.pv) << " | "
       << (r.failed ? "**" + r.statusText() + "**" : r.statusText()) << " | "
       << timeOrDash(r.lastSuccess) << " | " << humanBytes(r.bytes) << " | "
       << durationText(r.duration) << " | " << rpoText(r)
       << (r.rpoExceeded && r.status != "not-replicable" ? " ⚠" : "") << " | "
       << markdownCell(r.errorMessage) << " |\n";
  if (!snapshots.empty()) {
    md << "\n## VolumeSnapshots\n\n| snapshot | source PV | status | bytes | error |\n"
       << "|---|---|---|---|---|\n";
    for (const auto& s : snapshots)
      md << "| " << markdownCell(s.snapshot) << " | " << markdownCell(s.sourcePv) << " | "
         << s.status << " | " << humanBytes(s.bytes) << " | " << markdownCell(s.errorMessage)
         << " |\n";
  }
  if (!orphans.empty()) {
    md << "\n## Orphans (gone at the primary)\n\n| kind | name | DR path | action | detail |\n"
       << "|---|---|---|---|---|\n";
    for (const auto& o : orphans)
      md << "| " << o.kind << " | " << markdownCell(o.name) << " | " << markdownCell(o.drPath)
         << " | " << o.action << " | " << markdownCell(o.detail) << " |\n";
  }
  if (!untrackedDirs.empty()) {
    md << "\n## Untracked DR directories (no record ties them to a PV; left alone)\n\n";
    for (const auto& d : untrackedDirs) md << "- `" << d << "`\n";
  }
  return md.str();
}

// The report page's style sheet (self-contained: no external resources).
constexpr const char* kHtmlStyle =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d1d1f;"
    "background:#fafafa}\n"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}\n"
    ".meta{color:#555;font-size:13px;margin-bottom:16px}\n"
    ".totals{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}\n"
    ".tile{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 14px;"
    "min-width:96px}\n"
    ".tile b{display:block;font-size:20px}.tile span{font-size:12px;color:#666}\n"
    ".banner{padding:10px 14px;border-radius:6px;margin:10px 0;font-size:14px}\n"
    ".bad{background:#fde8e8;border:1px solid #f5a3a3}.warn{background:#fff6dd;"
    "border:1px solid #f0d27a}.good{background:#e6f6ea;border:1px solid #9bd3a8}\n"
    "table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}\n"
    "th,td{border:1px solid #ddd;padding:5px 8px;text-align:left;vertical-align:top}\n"
    "th{background:#f0f0f3}td.num,td.nw{text-align:right;white-space:nowrap}"
    "td.nw{text-align:left}\n"
    "tr.failed td{background:#fdecec}tr.stale td{background:#fff8e5}\n"
    ".st{font-weight:600}.st-failed,.st-refused,.st-busy{color:#b00020}"
    ".st-synced{color:#1a7f37}.st-unchanged{color:#555}\n"
    "code{font-size:12px}\n";

std::string ReconcileReport::toHtml() const {
  std::ostringstream h;
  auto e = [](std::string_view s) { return htmlEscape(s); };
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    << "<title>ocpv-dr reconcile " << e(formatTime(startedAt)) << "</title>\n<style>\n"
    << kHtmlStyle << "</style></head><body>\n";
  h << "<h1>ocpv-dr reconcile report</h1>\n<div class=\"meta\">run " << runId << " (" << e(trigger)
    << ") · " << e(formatTime(startedAt)) << " → " << e(formatTime(finishedAt)) << " · RPO target "
    << e(humanAge(rpoTarget)) << " · delete policy " << e(deletePolicy) << "</div>\n";
  Json err = errorJson();
  if (err.is_null())
    h << "<div class=\"banner good\">All selected PVs are replicated (exit code 0).</div>\n";
  else
    h << "<div class=\"banner bad\"><b>" << e(resultWord()) << "</b> (exit code " << exitCode()
      << "): " << e(err["message"].get<std::string>()) << "</div>\n";
  if (!pvListOk)
    h << "<div class=\"banner bad\">The primary's PersistentVolumes could not be listed; no orphan "
         "check ran: "
      << e(pvListError) << "</div>\n";
  if (breaker.tripped)
    h << "<div class=\"banner warn\"><b>Circuit breaker tripped</b> — nothing was quarantined: "
      << e(breaker.reason) << "</div>\n";
  if (snapshotBreaker.tripped)
    h << "<div class=\"banner warn\"><b>Snapshot circuit breaker tripped</b> — no snapshot record "
         "was dropped: "
      << e(snapshotBreaker.reason) << "</div>\n";
  for (const auto& n : notes) h << "<div class=\"banner warn\">" << e(n) << "</div>\n";

  auto tile = [&](const std::string& label, const std::string& value) {
    h << "<div class=\"tile\"><b>" << e(value) << "</b><span>" << e(label) << "</span></div>";
  };
  h << "<div class=\"totals\">";
  tile("PVs selected", std::to_string(totals.selected));
  tile("synced", std::to_string(totals.synced));
  tile("unchanged", std::to_string(totals.unchanged));
  tile("failed", std::to_string(totals.failed));
  tile("over RPO target", std::to_string(totals.rpoExceeded));
  tile("never synced", std::to_string(totals.neverSynced));
  tile("not replicable", std::to_string(totals.notReplicable));
  tile("transferred", humanBytes(totals.bytes));
  tile("snapshots", std::to_string(totals.snapshots));
  tile("orphans", std::to_string(totals.orphans + totals.orphanSnapshots));
  h << "</div>\n";

  h << "<h2>PersistentVolumes</h2>\n<table id=\"pvs\"><thead><tr><th>PV</th><th>status</th>"
       "<th>last sync</th><th>last success</th><th>bytes</th><th>duration</th>"
       "<th>current RPO</th><th>source → DR</th><th>error</th></tr></thead><tbody>\n";
  for (const auto& r : pvs) {
    const bool stale = r.rpoExceeded && r.status != "not-replicable";
    h << "<tr class=\"pv-row"
      << (r.failed ? " failed"
          : stale  ? " stale"
                   : "")
      << "\" data-pv=\"" << e(r.pv) << "\"><td class=\"nw\">" << e(r.pv)
      << "</td><td class=\"st st-" << e(r.status) << "\">" << e(r.statusText())
      << "</td><td class=\"nw\">" << e(timeOrDash(r.lastSyncEnd)) << "</td><td class=\"nw\">"
      << e(timeOrDash(r.lastSuccess)) << "</td><td class=\"num\">" << e(humanBytes(r.bytes))
      << "</td><td class=\"num\">" << e(durationText(r.duration)) << "</td><td class=\"num\">"
      << e(rpoText(r)) << (stale ? " ⚠" : "") << "</td><td><code>" << e(r.source)
      << "</code><br><code>" << e(r.destination) << "</code></td><td>" << e(r.errorMessage)
      << "</td></tr>\n";
  }
  h << "</tbody><tfoot><tr><th>" << totals.selected << " PVs</th><th>" << totals.failed
    << " failed</th><th></th><th></th><th class=\"num\">" << e(humanBytes(totals.bytes))
    << "</th><th></th><th>" << totals.rpoExceeded
    << " over target</th><th></th><th></th></tr></tfoot></table>\n";

  if (!snapshots.empty()) {
    h << "<h2>VolumeSnapshots</h2>\n<table id=\"snapshots\"><thead><tr><th>snapshot</th>"
         "<th>source PV</th><th>status</th><th>bytes</th><th>error</th></tr></thead><tbody>\n";
    for (const auto& s : snapshots)
      h << "<tr" << (s.failed ? " class=\"failed\"" : "") << "><td>" << e(s.snapshot) << "</td><td>"
        << e(s.sourcePv) << "</td><td class=\"st st-" << e(s.status) << "\">" << e(s.status)
        << "</td><td class=\"num\">" << e(humanBytes(s.bytes)) << "</td><td>" << e(s.errorMessage)
        << "</td></tr>\n";
    h << "</tbody></table>\n";
  }
  if (!orphans.empty()) {
    h << "<h2>Orphans (gone at the primary)</h2>\n<table id=\"orphans\"><thead><tr><th>kind</th>"
         "<th>name</th><th>DR path</th><th>action</th><th>detail</th></tr></thead><tbody>\n";
    for (const auto& o : orphans)
      h << "<tr><td>" << e(o.kind) << "</td><td>" << e(o.name) << "</td><td><code>" << e(o.drPath)
        << "</code></td><td>" << e(o.action) << "</td><td>" << e(o.detail) << "</td></tr>\n";
    h << "</tbody></table>\n";
  }
  if (!untrackedDirs.empty()) {
    h << "<h2>Untracked DR directories</h2>\n<p>No catalog record ties these to a PV; they were "
         "left alone.</p><ul>\n";
    for (const auto& d : untrackedDirs) h << "<li><code>" << e(d) << "</code></li>\n";
    h << "</ul>\n";
  }
  h << "</body></html>\n";
  return h.str();
}

Status writeReportFiles(ReconcileReport& report, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return terminalError("cannot create the report directory " + dir + ": " + ec.message());
  const std::string base = (fs::path(dir) / "report").string();
  report.files = {base + ".json", base + ".md", base + ".html"};
  OCPVDR_TRY(writeFileAtomic(report.files.markdown, report.toMarkdown()));
  OCPVDR_TRY(writeFileAtomic(report.files.html, report.toHtml()));
  // Last, so report.json names all three files.
  OCPVDR_TRY(writeFileAtomic(report.files.json, report.toJson().dump(2) + "\n"));
  return Status::success();
}

}  // namespace ocpvdr::engine
