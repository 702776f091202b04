// Failover report: JSON from the journal, Markdown and HTML renderings (see failover_report.h).
#include "failover/failover_report.h"

#include <filesystem>
#include <map>
#include <sstream>

#include "core/files.h"
#include "core/text.h"
#include "core/time.h"
#include "failover/vm_control.h"

namespace ocpvdr::failover {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

Json runTimeOrNull(const std::optional<SystemTime>& t) {
  return t ? Json(formatTimeMillis(*t)) : Json(nullptr);
}

std::string s(const Json& j, const char* key, std::string fallback = "") {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

const Json& at(const Json& j, const char* key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string cell(const Json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return v.dump();
}

// start-vms' per-VM outcome: started and waited for, or left Halted (not meant to run).
std::string startedCell(const Json& vm) {
  const Json& v = at(vm, "started");
  if (!v.is_boolean()) return "-";
  return v.get<bool>() ? "yes" : "no (left Halted, not waited for)";
}

std::string seconds(const Json& v) {
  if (!v.is_number()) return "-";
  return humanDuration(milliseconds(static_cast<std::int64_t>(v.get<double>() * 1000)));
}

// The steps, each with its duration and error; the run's error (the failed step's, else the
// run's own) and the steps' warnings. Returns the first step's start.
std::optional<SystemTime> reportSteps(Json& r, const FailoverRunRecord& run, SystemTime now) {
  std::optional<SystemTime> firstStart;
  for (const auto& st : run.steps) {
    Json j = {{"step", st.step},
              {"state", std::string(toString(st.state))},
              {"startedAt", formatTimeMillis(st.startedAt)},
              {"finishedAt", runTimeOrNull(st.finishedAt)},
              {"attempts", st.attempts}};
    const SystemTime end = st.finishedAt.value_or(now);
    j["durationMs"] = duration_cast<milliseconds>(end - st.startedAt).count();
    j["error"] = st.errorMessage.empty()
                     ? Json(nullptr)
                     : Json{{"kind", st.errorKind}, {"message", st.errorMessage}};
    if (st.state == StepState::Failed)
      r["error"] = {{"step", st.step}, {"kind", st.errorKind}, {"message", st.errorMessage}};
    r["steps"].push_back(std::move(j));
    if (!firstStart || st.startedAt < *firstStart) firstStart = st.startedAt;
    if (const Json& w = at(st.details, "warnings"); w.is_array())
      for (const auto& m : w)
        if (m.is_string()) r["warnings"].push_back({{"step", st.step}, {"message", m}});
  }
  if (r["error"].is_null() && !run.errorMessage.empty())
    r["error"] = {{"step", nullptr}, {"kind", run.errorKind}, {"message", run.errorMessage}};
  return firstStart;
}

// VMs: the final state at DR (start-vms), with what they ran as at the primary (stop-vms).
void reportVms(Json& r, const FailoverRunRecord& run, const Json& pre) {
  std::map<std::string, Json> vms;
  if (const StepRecord* sv = run.step("stop-vms"); sv)
    for (const auto& v : at(sv->details, "vms"))
      vms[s(v, "namespace") + "/" + s(v, "name")]["primaryRunStrategyBefore"] =
          at(v, "runStrategyBefore");
  if (const Json& backupVms = at(pre, "vms"); backupVms.is_array())
    for (const auto& v : backupVms) vms[s(v, "namespace") + "/" + s(v, "name")];
  const StepRecord* start = run.step("start-vms");
  if (start)
    for (const auto& v : at(start->details, "vms")) {
      Json& e = vms[s(v, "namespace") + "/" + s(v, "name")];
      e["printableStatus"] = at(v, "printableStatus");
      e["ready"] = at(v, "ready");
      e["runStrategy"] = at(v, "runStrategy");
      // Whether start-vms started it (it was meant to run) or left it Halted, not waited for.
      if (v.contains("started")) e["started"] = at(v, "started");
    }
  r["vms"] = Json::array();
  for (auto& [key, v] : vms) {
    const auto slash = key.find('/');
    Json e = {{"namespace", key.substr(0, slash)},
              {"name", key.substr(slash + 1)},
              {"printableStatus", nullptr},
              {"ready", false},
              {"runStrategy", nullptr},
              {"primaryRunStrategyBefore", nullptr}};
    for (auto it = v.begin(); it != v.end(); ++it) e[it.key()] = it.value();
    if (e["ready"].is_null()) e["ready"] = false;
    r["vms"].push_back(std::move(e));
  }
}

// RTO: first step start → every VM Running and ready; null when not known.
Json reportRto(const StepRecord* start, const std::optional<SystemTime>& firstStart) {
  if (start && start->state == StepState::Done && firstStart) {
    if (auto readyAt = at(start->details, "readyAt"); readyAt.is_string()) {
      if (auto t = parseTime(readyAt.get<std::string>()); t.ok()) {
        return {{"seconds", duration_cast<milliseconds>(*t - *firstStart).count() / 1000.0},
                {"from", formatTimeMillis(*firstStart)},
                {"to", readyAt}};
      }
    }
  }
  return nullptr;
}

// Volumes and their data age (final sync, the catalog's last successful sync, or the recovery
// point --point chose), and the RPO.
void reportVolumes(Json& r, const FailoverRunRecord& run, const Json& pre) {
  std::map<std::string, Json> vols;
  for (const auto& v : at(pre, "volumes")) {
    vols[s(v, "pv")] = {{"pv", s(v, "pv")},
                        {"claim", at(v, "claim")},
                        {"drServer", at(v, "drServer")},
                        {"drExportPath", at(v, "drExportPath")},
                        {"drHostPath", at(v, "drHostPath")},
                        {"lastSync", nullptr},
                        {"dataAgeSeconds", nullptr},
                        {"basis", "unknown"}};
  }
  if (const StepRecord* fs = run.step("final-sync"); fs && fs->state == StepState::Done) {
    for (const auto& v : at(fs->details, "volumes")) {
      auto it = vols.find(s(v, "pv"));
      if (it == vols.end()) continue;
      it->second["lastSync"] = at(v, "syncedAt");
      it->second["dataAgeSeconds"] = 0;
      it->second["basis"] = "final sync after the VMs stopped";
    }
  }
  if (const StepRecord* dl = run.step("data-loss"); dl && dl->state == StepState::Done) {
    for (const auto& v : at(dl->details, "volumes")) {
      auto it = vols.find(s(v, "pv"));
      if (it == vols.end()) continue;
      it->second["lastSync"] = at(v, "lastSuccess");
      it->second["dataAgeSeconds"] = at(v, "dataLossSeconds");
      it->second["basis"] = at(v, "dataLossSeconds").is_null() ? "no successful sync recorded"
                                                               : "catalog: last successful sync";
    }
  }
  // --point: the DR data is the chosen recovery point, as of its data time (point_choice.h).
  if (const StepRecord* av = run.step("apply-volumes"); av) {
    for (const auto& c : at(at(av->details, "points"), "volumes")) {
      auto it = vols.find(s(c, "pv"));
      if (it == vols.end() || !at(c, "point").is_string()) continue;
      it->second["point"] = at(c, "point");
      it->second["lastSync"] = at(c, "dataTime");
      it->second["dataAgeSeconds"] = at(c, "dataAgeSeconds");
      it->second["basis"] = "recovery point " + s(c, "point") + " (its data time)";
    }
  }
  r["volumes"] = Json::array();
  Json worst = nullptr;
  for (auto& [name, v] : vols) {
    const Json& age = v["dataAgeSeconds"];
    if (age.is_number() && (worst.is_null() || age.get<double>() > worst.get<double>()))
      worst = age;
    r["volumes"].push_back(v);
  }
  r["rpo"] = {{"worstDataAgeSeconds", worst}, {"volumes", r["volumes"].size()}};
}

}  // namespace

Json buildReport(const FailoverRunRecord& run, SystemTime now) {
  Json r;
  r["runId"] = run.runId;
  r["mode"] = run.mode;
  r["state"] = run.state;
  r["startedAt"] = formatTimeMillis(run.startedAt);
  r["finishedAt"] = runTimeOrNull(run.finishedAt);
  r["abandonedAt"] = runTimeOrNull(run.abandonedAt);  // `failover abandon`
  r["generatedAt"] = formatTimeMillis(now);
  r["error"] = nullptr;
  r["warnings"] = Json::array();
  r["steps"] = Json::array();

  const StepRecord* preflight = run.step("preflight");
  const Json& pre = preflight ? preflight->details : Json();
  r["backup"] = {{"name", run.backup.empty() ? s(at(pre, "backup"), "name") : run.backup},
                 {"completed", at(at(pre, "backup"), "completed")}};
  r["namespaces"] = at(pre, "namespaces").is_array() ? at(pre, "namespaces") : Json::array();

  const std::optional<SystemTime> firstStart = reportSteps(r, run, now);
  reportVms(r, run, pre);
  r["rto"] = reportRto(run.step("start-vms"), firstStart);
  reportVolumes(r, run, pre);

  if (const StepRecord* rs = run.step("restore"); rs)
    r["restore"] = rs->details;
  else
    r["restore"] = nullptr;
  return r;
}

std::string renderMarkdown(const Json& r) {
  std::ostringstream o;
  o << "# Failover report — run " << s(r, "runId") << "\n\n";
  o << "| | |\n|---|---|\n";
  o << "| mode | " << s(r, "mode") << " |\n";
  o << "| state | " << s(r, "state") << " |\n";
  o << "| backup | " << s(at(r, "backup"), "name", "-") << " (completed "
    << cell(at(at(r, "backup"), "completed")) << ") |\n";
  o << "| started | " << s(r, "startedAt") << " |\n";
  o << "| finished | " << cell(at(r, "finishedAt")) << " |\n";
  const Json& rto = at(r, "rto");
  o << "| RTO (first step → VMs ready) | "
    << (rto.is_object() ? seconds(at(rto, "seconds")) : std::string("-")) << " |\n";
  o << "| worst data age (RPO achieved) | " << seconds(at(at(r, "rpo"), "worstDataAgeSeconds"))
    << " |\n\n";
  if (const Json& e = at(r, "error"); e.is_object())
    o << "**Failed** at step `" << cell(at(e, "step")) << "` (" << s(e, "kind")
      << "): " << markdownCell(s(e, "message")) << "\n\n";

  o << "## Timeline\n\n| step | state | started | duration | attempts | error |\n"
    << "|---|---|---|---|---|---|\n";
  for (const auto& st : at(r, "steps"))
    o << "| " << s(st, "step") << " | " << s(st, "state") << " | " << s(st, "startedAt") << " | "
      << humanDuration(milliseconds(at(st, "durationMs").get<std::int64_t>())) << " | "
      << cell(at(st, "attempts")) << " | "
      << markdownCell(at(st, "error").is_object() ? s(at(st, "error"), "message") : "") << " |\n";

  o << "\n## Virtual machines\n\n| VM | status at DR | ready | run strategy | at primary before "
       "| started |\n"
    << "|---|---|---|---|---|---|\n";
  for (const auto& v : at(r, "vms"))
    o << "| " << s(v, "namespace") << "/" << s(v, "name") << " | " << cell(at(v, "printableStatus"))
      << " | " << cell(at(v, "ready")) << " | " << cell(at(v, "runStrategy")) << " | "
      << cell(at(v, "primaryRunStrategyBefore")) << " | " << startedCell(v) << " |\n";

  o << "\n## Volumes (achieved RPO)\n\n| PV | claim | DR export | last sync | data age | basis |\n"
    << "|---|---|---|---|---|---|\n";
  for (const auto& v : at(r, "volumes"))
    o << "| " << s(v, "pv") << " | " << cell(at(v, "claim")) << " | " << cell(at(v, "drServer"))
      << ":" << cell(at(v, "drExportPath")) << " | " << cell(at(v, "lastSync")) << " | "
      << seconds(at(v, "dataAgeSeconds")) << " | " << cell(at(v, "basis")) << " |\n";

  o << "\n## Warnings\n\n";
  if (at(r, "warnings").empty()) o << "None.\n";
  for (const auto& w : at(r, "warnings"))
    o << "- `" << s(w, "step") << "`: " << markdownCell(s(w, "message")) << "\n";
  o << "\n_Generated " << s(r, "generatedAt") << " by ocpv-dr._\n";
  return o.str();
}

std::string renderHtml(const Json& r) {
  std::ostringstream o;
  auto td = [&](const std::string& t) { o << "<td>" << htmlEscape(t) << "</td>"; };
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    << "<title>Failover report " << htmlEscape(s(r, "runId")) << "</title>\n<style>"
    << "body{font-family:sans-serif;margin:2em;color:#222}"
    << "table{border-collapse:collapse;margin:1em 0}"
    << "th,td{border:1px solid #bbb;padding:4px 8px;text-align:left;font-size:14px}"
    << "th{background:#eee}.ok{color:#176d1a}.bad{color:#b00020;font-weight:bold}"
    << ".warn{color:#8a5a00}</style></head><body>\n";
  const bool failed = at(r, "error").is_object();
  o << "<h1>Failover report — run " << htmlEscape(s(r, "runId")) << "</h1>\n";
  o << "<p class=\"" << (failed ? "bad" : (s(r, "state") == "done" ? "ok" : "warn")) << "\">"
    << htmlEscape(s(r, "mode")) << " failover, state " << htmlEscape(s(r, "state")) << "</p>\n";
  if (failed)
    o << "<p class=\"bad\">Failed at step " << htmlEscape(cell(at(at(r, "error"), "step"))) << ": "
      << htmlEscape(s(at(r, "error"), "message")) << "</p>\n";
  const Json& rto = at(r, "rto");
  o << "<table><tbody>";
  auto row = [&](const std::string& k, const std::string& v) {
    o << "<tr><th>" << htmlEscape(k) << "</th>";
    td(v);
    o << "</tr>";
  };
  row("backup", s(at(r, "backup"), "name", "-") + " (completed " +
                    cell(at(at(r, "backup"), "completed")) + ")");
  row("started", s(r, "startedAt"));
  row("finished", cell(at(r, "finishedAt")));
  row("RTO (first step to VMs ready)",
      rto.is_object() ? seconds(at(rto, "seconds")) : std::string("-"));
  row("worst data age (RPO achieved)", seconds(at(at(r, "rpo"), "worstDataAgeSeconds")));
  o << "</tbody></table>\n<h2>Timeline</h2>\n<table><thead><tr><th>step</th><th>state</th>"
    << "<th>started</th><th>duration</th><th>attempts</th><th>error</th></tr></thead><tbody>";
  for (const auto& st : at(r, "steps")) {
    o << "<tr>";
    td(s(st, "step"));
    o << "<td class=\""
      << (s(st, "state") == "failed" ? "bad"
          : s(st, "state") == "done" ? "ok"
                                     : "warn")
      << "\">" << htmlEscape(s(st, "state")) << "</td>";
    td(s(st, "startedAt"));
    td(humanDuration(milliseconds(at(st, "durationMs").get<std::int64_t>())));
    td(cell(at(st, "attempts")));
    td(at(st, "error").is_object() ? s(at(st, "error"), "message") : "");
    o << "</tr>";
  }
  o << "</tbody></table>\n<h2>Virtual machines</h2>\n<table><thead><tr><th>VM</th>"
    << "<th>status at DR</th><th>ready</th><th>run strategy</th><th>at primary before</th>"
    << "<th>started</th></tr></thead><tbody>";
  for (const auto& v : at(r, "vms")) {
    o << "<tr>";
    td(s(v, "namespace") + "/" + s(v, "name"));
    const bool up = at(v, "ready").is_boolean() && at(v, "ready").get<bool>();
    o << "<td class=\"" << (up ? "ok" : "bad") << "\">"
      << htmlEscape(cell(at(v, "printableStatus"))) << "</td>";
    td(cell(at(v, "ready")));
    td(cell(at(v, "runStrategy")));
    td(cell(at(v, "primaryRunStrategyBefore")));
    td(startedCell(v));
    o << "</tr>";
  }
  o << "</tbody></table>\n<h2>Volumes (achieved RPO)</h2>\n<table><thead><tr><th>PV</th>"
    << "<th>claim</th><th>DR export</th><th>last sync</th><th>data age</th><th>basis</th>"
    << "</tr></thead><tbody>";
  for (const auto& v : at(r, "volumes")) {
    o << "<tr>";
    td(s(v, "pv"));
    td(cell(at(v, "claim")));
    td(cell(at(v, "drServer")) + ":" + cell(at(v, "drExportPath")));
    td(cell(at(v, "lastSync")));
    td(seconds(at(v, "dataAgeSeconds")));
    td(cell(at(v, "basis")));
    o << "</tr>";
  }
  o << "</tbody></table>\n<h2>Warnings</h2>\n";
  if (at(r, "warnings").empty())
    o << "<p>None.</p>\n";
  else {
    o << "<ul>";
    for (const auto& w : at(r, "warnings"))
      o << "<li class=\"warn\"><code>" << htmlEscape(s(w, "step"))
        << "</code>: " << htmlEscape(s(w, "message")) << "</li>";
    o << "</ul>\n";
  }
  o << "<p><small>Generated " << htmlEscape(s(r, "generatedAt"))
    << " by ocpv-dr.</small></p>\n</body></html>\n";
  return o.str();
}

Result<std::vector<std::string>> writeReportFiles(const Json& report, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return terminalError("cannot create report directory " + dir + ": " + ec.message());
  std::vector<std::string> files;
  const std::pair<const char*, std::string> outputs[] = {{"report.json", report.dump(2) + "\n"},
                                                         {"report.md", renderMarkdown(report)},
                                                         {"report.html", renderHtml(report)}};
  for (const auto& [name, text] : outputs) {
    const std::string path = dir + "/" + name;
    OCPVDR_TRY(writeFileAtomic(path, text));
    files.push_back(path);
  }
  return files;
}

}  // namespace ocpvdr::failover
