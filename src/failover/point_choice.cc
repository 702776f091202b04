// The recovery point each failed-over PV is brought to (see point_choice.h).
#include "failover/point_choice.h"

#include <chrono>

#include "catalog/points.h"
#include "extent/materialize.h"

namespace ocpvdr::failover {
namespace {

Json noPoint(const PointTarget& t, std::string note) {
  return Json{{"pv", t.pv},
              {"point", nullptr},
              {"dataTime", nullptr},
              {"dataAgeSeconds", nullptr},
              {"target", t.drHostPath},
              {"note", std::move(note)}};
}

}  // namespace

Status validatePointSpec(std::string_view spec) {
  if (spec.empty() || spec == "latest") return Status::success();
  auto t = parseTime(spec);
  if (!t.ok())
    return invalidError("--point \"" + std::string(spec) +
                        "\": expected latest or an RFC 3339 time (2026-12-07T14:30:00Z)");
  return Status::success();
}

Result<Json> choosePoints(catalog::Catalog& catalog, std::string_view spec,
                          const std::vector<PointTarget>& targets, SystemTime now,
                          std::vector<std::string>& problems) {
  OCPVDR_TRY(validatePointSpec(spec));
  Json out = Json::array();
  if (spec.empty()) return out;
  catalog::PointStore store(catalog);
  const bool latest = spec == "latest";
  const SystemTime at = latest ? now : parseTime(spec).value();
  for (const auto& t : targets) {
    OCPVDR_ASSIGN_OR_RETURN(auto newest, store.latest(t.pv));
    if (!newest) {
      out.push_back(noPoint(t, "no recovery points (rsync mover): the DR PV directory as it is"));
      continue;
    }
    std::optional<catalog::PointRecord> p = *newest;
    if (!latest) {
      OCPVDR_ASSIGN_OR_RETURN(p, store.latestAtOrBefore(t.pv, at));
    }
    if (!p) {
      OCPVDR_ASSIGN_OR_RETURN(auto all, store.list(t.pv));
      problems.push_back("PV " + t.pv + " has no recovery point at or before " + std::string(spec) +
                         " (its oldest is from " + formatTimeMillis(all.front().dataTime()) +
                         "): choose a later --point, or fail over without one");
      out.push_back(noPoint(t, "no recovery point at or before the time"));
      continue;
    }
    auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - p->dataTime());
    out.push_back(Json{{"pv", t.pv},
                       {"point", p->pointId},
                       {"dataTime", formatTimeMillis(p->dataTime())},
                       {"dataAgeSeconds", static_cast<double>(age.count()) / 1000.0},
                       {"newest", p->pointId == newest->pointId},
                       {"consistency", p->consistency},
                       {"tree", p->path + "/tree"},
                       {"target", t.drHostPath}});
  }
  return out;
}

Status materializeChosen(Json& chosen) {
  for (auto& c : chosen) {
    if (!c["point"].is_string()) continue;
    const std::string tree = c["tree"].get<std::string>();
    const std::string target = c["target"].get<std::string>();
    auto r = extent::materialize(tree, target);
    if (!r.ok())
      return r.error().wrap("putting recovery point " + c["point"].get<std::string>() + " of PV " +
                            c["pv"].get<std::string>() + " in place at " + target);
    c["materialized"] = {{"filesCloned", r->filesCloned},
                         {"filesUnchanged", r->filesUnchanged},
                         {"removed", r->removed},
                         {"bytesCloned", r->bytesCloned}};
  }
  return Status::success();
}

}  // namespace ocpvdr::failover
