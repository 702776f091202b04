// Replica status rows and their JSON / table forms (see replica_status.h).
#include "engine/replica_status.h"

#include <algorithm>
#include <sstream>

#include "core/text.h"
#include "core/time.h"
#include "engine/reconcile_report.h"

namespace ocpvdr::engine {

Result<std::vector<ReplicaStatus>> replicaStatuses(catalog::Catalog& catalog, SystemTime now,
                                                   std::chrono::seconds rpoTarget,
                                                   const ChangeView* view) {
  OCPVDR_ASSIGN_OR_RETURN(auto records, catalog.replicas());
  std::vector<ReplicaStatus> rows;
  rows.reserve(records.size());
  for (auto& r : records) {
    ReplicaStatus s;
    s.pv = r.pv;
    s.state = r.state;
    s.result = r.result;
    s.lastSyncStart = r.lastSyncStart;
    s.lastSyncEnd = r.lastSyncEnd;
    s.lastSuccess = r.lastSuccess;
    s.syncing = r.lastSyncStart && (!r.lastSyncEnd || *r.lastSyncEnd < *r.lastSyncStart);
    s.bytes = r.bytes;
    s.errorKind = r.errorKind;
    s.errorMessage = r.errorMessage;
    s.drPath = r.drPath;
    s.target = rpoTarget;
    if (r.state == "active" || r.state == "restored") {
      if (view != nullptr)
        if (auto p = view->pending.find(r.pv);
            p != view->pending.end() && (!r.lastSuccess || p->second >= *r.lastSuccess))
          s.pendingSince = p->second;
      if (r.lastSuccess)
        s.rpo = std::chrono::duration_cast<std::chrono::seconds>(now - *r.lastSuccess);
      if (view != nullptr && view->trusted) {
        const auto behind =
            s.pendingSince ? std::chrono::duration_cast<std::chrono::seconds>(now - *s.pendingSince)
                           : std::chrono::seconds(0);
        s.behind = std::max(behind, std::chrono::seconds(0));
        s.caughtUp = r.lastSuccess.has_value() && !s.pendingSince;
        s.rpoExceeded = !r.lastSuccess || *s.behind > rpoTarget;
      } else if (r.lastSuccess) {
        s.rpoExceeded = *s.rpo > rpoTarget;
        s.caughtUp = !s.rpoExceeded && !s.pendingSince;
        s.behind = s.rpoExceeded ? *s.rpo - rpoTarget : std::chrono::seconds(0);
      } else {
        s.rpoExceeded = true;
      }
    }
    rows.push_back(std::move(s));
  }
  std::sort(rows.begin(), rows.end(), [](const ReplicaStatus& a, const ReplicaStatus& b) {
    return std::make_tuple(!a.rpoExceeded, a.pv) < std::make_tuple(!b.rpoExceeded, b.pv);
  });
  return rows;
}

namespace {

Json statusTime(const std::optional<SystemTime>& t) {
  return t ? Json(formatTime(*t)) : Json(nullptr);
}

}  // namespace

Json statusJson(const std::vector<ReplicaStatus>& rows, SystemTime now,
                std::chrono::seconds rpoTarget) {
  Json list = Json::array();
  int active = 0, exceeded = 0, failing = 0;
  for (const auto& s : rows) {
    const bool isActive = s.state == "active" || s.state == "restored";
    active += isActive ? 1 : 0;
    exceeded += s.rpoExceeded ? 1 : 0;
    failing += !s.errorKind.empty() ? 1 : 0;
    list.push_back(Json{
        {"pv", s.pv},
        {"state", s.state},
        {"result", s.result},
        {"syncing", s.syncing},
        {"last_sync_start", statusTime(s.lastSyncStart)},
        {"last_sync_end", statusTime(s.lastSyncEnd)},
        {"last_success", statusTime(s.lastSuccess)},
        {"rpo_seconds", s.rpo ? Json(s.rpo->count()) : Json(nullptr)},
        {"rpo_exceeded", s.rpoExceeded},
        {"bytes", s.bytes},
        {"error", s.errorKind.empty() ? Json(nullptr)
                                      : Json{{"kind", s.errorKind}, {"message", s.errorMessage}}},
        {"dr_path", s.drPath},
        {"data_age_seconds", s.rpo ? Json(s.rpo->count()) : Json(nullptr)},
        {"target_seconds", s.target.count()},
        {"last_cycle", s.lastSyncEnd
                           ? Json{{"at", formatTime(*s.lastSyncEnd)}, {"result", s.result}}
                           : Json(nullptr)},
        {"caught_up", s.caughtUp},
        {"behind_seconds", s.behind ? Json(s.behind->count()) : Json(nullptr)},
        {"pending_since", statusTime(s.pendingSince)},
    });
  }
  return Json{{"generated_at", formatTime(now)},
              {"rpo_target_seconds", rpoTarget.count()},
              {"replicas", list},
              {"totals",
               {{"replicas", rows.size()},
                {"active", active},
                {"rpo_exceeded", exceeded},
                {"failing", failing}}}};
}

std::string statusTable(const std::vector<ReplicaStatus>& rows, std::chrono::seconds rpoTarget) {
  std::size_t w = 2;
  for (const auto& s : rows) w = std::max(w, s.pv.size());
  std::ostringstream out;
  auto pad = [](std::string s, std::size_t n) {
    if (s.size() < n) s.append(n - s.size(), ' ');
    return s;
  };
  out << pad("PV", w) << "  " << pad("STATE", 11) << "  " << pad("LAST RESULT", 14) << "  "
      << pad("LAST SUCCESS", 20) << "  " << pad("RPO", 10) << "  " << pad("OVER TARGET", 11) << "  "
      << pad("CAUGHT UP", 9) << "  " << pad("BEHIND", 8) << "  ERROR\n";
  int exceeded = 0;
  for (const auto& s : rows) {
    exceeded += s.rpoExceeded ? 1 : 0;
    std::string rpo = s.rpo ? humanAge(*s.rpo) : (s.lastSuccess ? "-" : "never");
    if (!(s.state == "active" || s.state == "restored")) rpo = "-";
    std::string err = s.errorMessage;
    if (err.size() > 80) err = err.substr(0, 77) + "...";
    out << pad(s.pv, w) << "  " << pad(s.state, 11) << "  "
        << pad(s.syncing ? "syncing" : s.result, 14) << "  "
        << pad(s.lastSuccess ? formatTime(*s.lastSuccess) : "never", 20) << "  " << pad(rpo, 10)
        << "  " << pad(s.rpoExceeded ? "YES" : "no", 11) << "  "
        << pad(s.behind ? (s.caughtUp ? "yes" : "no") : "-", 9) << "  "
        << pad(s.behind && s.behind->count() > 0 ? humanAge(*s.behind) : "-", 8) << "  " << err
        << "\n";
  }
  out << rows.size() << " replica(s), " << exceeded << " over the RPO target of "
      << humanAge(rpoTarget) << "\n";
  return out.str();
}

}  // namespace ocpvdr::engine
