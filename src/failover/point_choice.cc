// The recovery point each failed-over PV is brought to (see point_choice.h).
#include "failover/point_choice.h"

#include <chrono>
#include <map>

#include "catalog/points.h"
#include "core/time.h"
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

Json pointEntry(const PointTarget& t, const catalog::PointRecord& p, const std::string& newestId,
                SystemTime now) {
  auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - p.dataTime());
  return Json{{"pv", t.pv},
              {"point", p.pointId},
              {"dataTime", formatTimeMillis(p.dataTime())},
              {"dataAgeSeconds", static_cast<double>(age.count()) / 1000.0},
              {"newest", p.pointId == newestId},
              {"consistency", p.consistency},
              {"group", p.group.empty() ? Json(nullptr) : Json(p.group)},
              {"tree", p.path + "/tree"},
              {"target", t.drHostPath}};
}

// --point latest-consistent: per consistency group, the newest point id every PV of the group
// has — application-consistent first, else crash-consistent (warning), else each PV's newest
// (warning); PVs of no group get their newest point.
Result<Json> chooseConsistent(catalog::PointStore& store, const std::vector<PointTarget>& targets,
                              SystemTime now) {
  std::map<std::string, std::vector<catalog::PointRecord>> all;   // pv → points, oldest first
  std::map<std::string, std::vector<const PointTarget*>> groups;  // group → its targets
  std::map<std::string, std::string> groupOf;
  for (const auto& t : targets) {
    OCPVDR_ASSIGN_OR_RETURN(all[t.pv], store.list(t.pv));
    const auto& pts = all[t.pv];
    for (auto it = pts.rbegin(); it != pts.rend(); ++it)
      if (!it->group.empty()) {
        groupOf[t.pv] = it->group;
        groups[it->group].push_back(&t);
        break;
      }
  }
  std::map<std::string, Json> byPv;
  for (const auto& [group, members] : groups) {
    // Point ids of the group every member has, with the weakest consistency among them.
    std::map<std::string, std::pair<int, std::string>> common;  // id → (count, weakest)
    std::map<std::string, std::int64_t> dataTime;
    for (const PointTarget* t : members)
      for (const auto& p : all[t->pv]) {
        if (p.group != group) continue;
        auto& c = common[p.pointId];
        ++c.first;
        if (c.second.empty() || p.consistency != "application") c.second = p.consistency;
        dataTime[p.pointId] = p.dataTimeNs;
      }
    std::string bestApp, bestAny;
    for (const auto& [id, c] : common) {
      if (c.first != static_cast<int>(members.size())) continue;
      if (bestAny.empty() || dataTime[id] >= dataTime[bestAny]) bestAny = id;
      if (c.second == "application" && (bestApp.empty() || dataTime[id] >= dataTime[bestApp]))
        bestApp = id;
    }
    const std::string chosen = !bestApp.empty() ? bestApp : bestAny;
    std::string warning;
    if (bestApp.empty() && !bestAny.empty())
      warning = "group " + group +
                " has no application-consistent point on all its PVs: "
                "its newest crash-consistent point " +
                bestAny + " is used";
    else if (chosen.empty())
      warning = "group " + group +
                " has no point common to all its PVs: each PV's newest "
                "point is used (the VMs' disks are NOT from one instant)";
    for (const PointTarget* t : members) {
      const auto& pts = all[t->pv];
      const catalog::PointRecord* p = &pts.back();
      if (!chosen.empty())
        for (const auto& x : pts)
          if (x.pointId == chosen) p = &x;
      Json e = pointEntry(*t, *p, pts.back().pointId, now);
      if (!warning.empty()) e["warning"] = warning;
      byPv[t->pv] = std::move(e);
    }
  }
  Json out = Json::array();
  for (const auto& t : targets) {
    if (auto it = byPv.find(t.pv); it != byPv.end()) {
      out.push_back(it->second);
    } else if (all[t.pv].empty()) {
      out.push_back(noPoint(t, "no recovery points (rsync mover): the DR PV directory as it is"));
    } else {
      Json e = pointEntry(t, all[t.pv].back(), all[t.pv].back().pointId, now);
      e["warning"] = "PV " + t.pv + " belongs to no consistency group: its newest point (" +
                     all[t.pv].back().consistency + ") is used";
      out.push_back(std::move(e));
    }
  }
  return out;
}

}  // namespace

Status validatePointSpec(std::string_view spec) {
  if (spec.empty() || spec == "latest" || spec == kLatestConsistent) return Status::success();
  auto t = parseTime(spec);
  if (!t.ok())
    return invalidError("--point \"" + std::string(spec) +
                        "\": expected latest, latest-consistent or an RFC 3339 time "
                        "(2026-12-07T14:30:00Z)");
  return Status::success();
}

Json pointGroups(const Json& chosen) {
  std::map<std::string, Json> groups;
  for (const auto& c : chosen) {
    if (!c.contains("group") || !c["group"].is_string()) continue;
    Json& g = groups[c["group"].get<std::string>()];
    if (g.is_null())
      g = Json{{"group", c["group"]},
               {"point", c["point"]},
               {"consistency", c.value("consistency", "")},
               {"pvs", Json::array()}};
    if (g["point"] != c["point"]) g["point"] = "(differs per PV)";
    if (c.value("consistency", "") != "application") g["consistency"] = c.value("consistency", "");
    g["pvs"].push_back(c["pv"]);
  }
  Json out = Json::array();
  for (auto& [k, v] : groups) out.push_back(std::move(v));
  return out;
}

Result<Json> choosePoints(catalog::Catalog& catalog, std::string_view spec,
                          const std::vector<PointTarget>& targets, SystemTime now,
                          std::vector<std::string>& problems) {
  OCPVDR_TRY(validatePointSpec(spec));
  Json out = Json::array();
  if (spec.empty()) return out;
  catalog::PointStore store(catalog);
  if (spec == kLatestConsistent) return chooseConsistent(store, targets, now);
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
    out.push_back(pointEntry(t, *p, newest->pointId, now));
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
