// `ocpv-dr points list|show|prune|verify`: the recovery points the extent mover keeps at DR
// (wiring only; retention, location and verification live in replication/recovery_points.h,
// docs/replication.md explains them).
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include "catalog/catalog.h"
#include "catalog/points.h"
#include "cli/commands.h"
#include "cli/handler_env.h"
#include "cli/test_hooks.h"
#include "config/config.h"
#include "core/time.h"
#include "replication/recovery_points.h"
#include "replication/volume_lock.h"

namespace ocpvdr::cli {
namespace {

using replication::PointsLocation;

struct PointsArgs {
  std::string pv, id, now;
  std::string mover;  // empty: replication.mover_path
  bool json = false, dryRun = false;
};

std::string ageText(std::int64_t seconds) {
  if (seconds < 0) return "in the future";
  if (seconds < 120) return std::to_string(seconds) + "s";
  if (seconds < 7200) return std::to_string(seconds / 60) + "m";
  if (seconds < 172800) return std::to_string(seconds / 3600) + "h";
  return std::to_string(seconds / 86400) + "d";
}

Json pointJson(const catalog::PointRecord& p, SystemTime now) {
  auto age = std::chrono::duration_cast<std::chrono::seconds>(now - p.dataTime()).count();
  return Json{{"pv", p.pv},
              {"id", p.pointId},
              {"base", p.baseId.empty() ? Json(nullptr) : Json(p.baseId)},
              {"data_time", formatTimeMillis(p.dataTime())},
              {"data_age_seconds", age},
              {"consistency", p.consistency},
              {"group", p.group.empty() ? Json(nullptr) : Json(p.group)},
              {"freeze_ms", p.freezeMs < 0 ? Json(nullptr) : Json(p.freezeMs)},
              {"bytes", p.dataBytes},
              {"stream_bytes", p.streamBytes},
              {"entries", p.entries},
              {"mover", p.mover},
              {"created_at", formatTimeMillis(p.createdAt)},
              {"path", p.path}};
}

void emit(const Json& doc, const std::string& text, bool json) {
  if (json)
    std::cout << doc.dump(2) << "\n";
  else
    std::cout << text;
}

std::string listText(const Json& points) {
  std::ostringstream t;
  t << std::left << std::setw(28) << "PV" << std::setw(24) << "POINT" << std::setw(26)
    << "DATA TIME" << std::setw(8) << "AGE" << std::setw(12) << "CONSISTENCY" << std::setw(24)
    << "GROUP" << std::setw(8) << "FREEZE"
    << "BYTES\n";
  for (const auto& p : points)
    t << std::setw(28) << p["pv"].get<std::string>() << std::setw(24) << p["id"].get<std::string>()
      << std::setw(26) << p["data_time"].get<std::string>() << std::setw(8)
      << ageText(p["data_age_seconds"].get<std::int64_t>()) << std::setw(12)
      << p["consistency"].get<std::string>() << std::setw(24)
      << (p["group"].is_string() ? p["group"].get<std::string>() : std::string("-")) << std::setw(8)
      << (p["freeze_ms"].is_number() ? std::to_string(p["freeze_ms"].get<std::int64_t>()) + "ms"
                                     : std::string("-"))
      << p["bytes"].get<std::int64_t>() << "\n";
  if (points.empty()) t << "(no recovery points)\n";
  return t.str();
}

void addList(CLI::App* cmd, GlobalOptions& g, Outcome& out, const std::shared_ptr<PointsArgs>& a) {
  auto* list = cmd->add_subcommand("list", "List recovery points (oldest first)");
  list->add_option("--pv", a->pv, "Only this PV's points");
  list->add_flag("--json", a->json, "Print one JSON document instead of a table");
  list->add_option("--now", a->now, "")->group("");
  list->callback([a, &g, &out] {
    auto env = openHandlerEnv(g.configPath, pinnedNow(a->now));
    if (!env.ok()) return reportFailure(env.error(), a->json, out);
    catalog::PointStore store(*(*env)->catalog);
    auto rows = store.list(a->pv);
    if (!rows.ok()) return reportFailure(rows.error(), a->json, out);
    if (rows->empty() && !a->pv.empty()) {
      auto where = replication::locatePoints((*env)->config, *(*env)->catalog, a->pv);
      if (!where.ok()) return reportFailure(where.error(), a->json, out);
    }
    const SystemTime now = (*env)->clock->now();
    Json points = Json::array();
    for (const auto& p : *rows) points.push_back(pointJson(p, now));
    emit(Json{{"action", "points list"}, {"result", "ok"}, {"points", points}, {"error", nullptr}},
         listText(points), a->json);
    out.exitCode = 0;
  });
}

Result<catalog::PointRecord> findPoint(HandlerEnv& env, const std::string& pv,
                                       const std::string& id) {
  catalog::PointStore store(*env.catalog);
  OCPVDR_ASSIGN_OR_RETURN(auto p, store.get(pv, id));
  if (p) return *p;
  OCPVDR_ASSIGN_OR_RETURN(auto all, store.list(pv));
  if (all.empty()) return notFoundError("PV " + pv + " has no recovery points in the catalog");
  return notFoundError("PV " + pv + " has no recovery point " + id + " (newest: " +
                       all.back().pointId + "; `ocpv-dr points list --pv " + pv + "`)");
}

void addShow(CLI::App* cmd, GlobalOptions& g, Outcome& out, const std::shared_ptr<PointsArgs>& a) {
  auto* show = cmd->add_subcommand("show", "One recovery point: its record and retention");
  show->add_option("pv", a->pv, "PV name")->required();
  show->add_option("id", a->id, "Point id (see `points list`)")->required();
  show->add_flag("--json", a->json, "Print one JSON document instead of text");
  show->add_option("--now", a->now, "")->group("");
  show->callback([a, &g, &out] {
    auto env = openHandlerEnv(g.configPath, pinnedNow(a->now));
    if (!env.ok()) return reportFailure(env.error(), a->json, out);
    auto p = findPoint(**env, a->pv, a->id);
    if (!p.ok()) return reportFailure(p.error(), a->json, out);
    catalog::PointStore store(*(*env)->catalog);
    auto all = store.list(a->pv);
    if (!all.ok()) return reportFailure(all.error(), a->json, out);
    const SystemTime now = (*env)->clock->now();
    auto d = replication::selectRetention(*all, (*env)->config.replication.recoveryPoints, now);
    Json doc = pointJson(*p, now);
    doc["primary_read_bytes"] = p->primaryReadBytes;
    doc["dr_read_bytes"] = p->drReadBytes;
    doc["group"] = p->group;
    doc["freeze_ms"] = p->freezeMs < 0 ? Json(nullptr) : Json(p->freezeMs);
    doc["kept_by"] = d.keptBy.count(p->pointId) ? Json(d.keptBy[p->pointId]) : Json::array();
    doc["newest"] = all->back().pointId == p->pointId;
    std::error_code ec;
    doc["on_disk"] = std::filesystem::exists(p->path + "/point", ec);
    std::ostringstream t;
    for (const auto& [k, v] : doc.items()) t << std::left << std::setw(20) << k << v.dump() << "\n";
    emit(doc, t.str(), a->json);
    out.exitCode = 0;
  });
}

// Prune of one PV under its replication lock (no cycle of it runs meanwhile).
Result<replication::PruneReport> pruneOne(HandlerEnv& env, const std::string& pv, bool dryRun) {
  OCPVDR_ASSIGN_OR_RETURN(PointsLocation where,
                          replication::locatePoints(env.config, *env.catalog, pv));
  OCPVDR_ASSIGN_OR_RETURN(
      auto lock, replication::lockVolume(env.config, pv, std::chrono::seconds(10), *env.clock));
  catalog::PointStore store(*env.catalog);
  return replication::pruneRecoveryPoints(
      store, pv, where.pointsDir, env.config.replication.recoveryPoints, env.clock->now(), dryRun);
}

void addPrune(CLI::App* cmd, GlobalOptions& g, Outcome& out, const std::shared_ptr<PointsArgs>& a) {
  auto* prune = cmd->add_subcommand(
      "prune", "Remove the points replication.recovery_points does not keep (never the newest)");
  prune->add_option("--pv", a->pv, "Only this PV (default: every PV with points)");
  prune->add_flag("--dry-run", a->dryRun, "Say what would be removed; change nothing");
  prune->add_flag("--json", a->json, "Print one JSON document instead of text");
  prune->add_option("--now", a->now, "")->group("");
  prune->callback([a, &g, &out] {
    auto env = openHandlerEnv(g.configPath, pinnedNow(a->now));
    if (!env.ok()) return reportFailure(env.error(), a->json, out);
    // While DR is active a failover may still need the point it chose (until apply-volumes has
    // put it in place): nothing is removed until `failover release`.
    if (!a->dryRun) {
      auto active = catalog::refuseIfDrActive(*(*env)->catalog, "pruning recovery points");
      if (!active.ok()) return reportFailure(active.error(), a->json, out);
    }
    std::vector<std::string> pvs{a->pv};
    if (a->pv.empty()) {
      catalog::PointStore store(*(*env)->catalog);
      auto all = replication::pvsWithPoints((*env)->config, store);
      if (!all.ok()) return reportFailure(all.error(), a->json, out);
      pvs = *all;
    }
    Json reports = Json::array();
    std::ostringstream t;
    std::size_t removed = 0;
    for (const auto& pv : pvs) {
      auto r = pruneOne(**env, pv, a->dryRun);
      if (!r.ok()) return reportFailure(r.error().wrap("PV " + pv), a->json, out);
      reports.push_back(r->toJson());
      removed += r->pruned.size() + r->orphans.size() + r->partials.size();
      t << pv << ": " << (a->dryRun ? "would prune " : "pruned ") << r->pruned.size() << ", kept "
        << r->kept.size() << ", orphans " << r->orphans.size() << ", partials "
        << r->partials.size() << (r->applyRunning ? " (an apply is running: partials left)" : "")
        << "\n";
    }
    const bool changed = !a->dryRun && removed > 0;
    emit(Json{{"action", "points prune"},
              {"result", a->dryRun ? "dry-run" : (changed ? "pruned" : "unchanged")},
              {"changed", changed},
              {"pvs", reports},
              {"error", nullptr}},
         t.str(), a->json);
    out.exitCode = 0;
  });
}

void addVerify(CLI::App* cmd, GlobalOptions& g, Outcome& out,
               const std::shared_ptr<PointsArgs>& a) {
  auto* verify = cmd->add_subcommand(
      "verify",
      "Re-read one point at DR and compare every file's SHA-256 with the primary's snapshot of "
      "it (when the primary still holds it: it keeps only the newest)");
  verify->add_option("pv", a->pv, "PV name")->required();
  verify->add_option("id", a->id, "Point id (see `points list`)")->required();
  verify->add_option("--mover", a->mover,
                     "ocpv-dr-mover on the primary NFS host (default replication.mover_path)");
  verify->add_flag("--json", a->json, "Print one JSON document instead of text");
  verify->callback([a, &g, &out] {
    auto env = openHandlerEnv(g.configPath, pinnedNow({}));
    if (!env.ok()) return reportFailure(env.error(), a->json, out);
    auto p = findPoint(**env, a->pv, a->id);
    if (!p.ok()) return reportFailure(p.error(), a->json, out);
    auto where = replication::locatePoints((*env)->config, *(*env)->catalog, a->pv);
    if (!where.ok()) return reportFailure(where.error(), a->json, out);
    auto r = replication::verifyRecoveryPoint(
        *p, *where,
        replication::primarySumsVia(
            (*env)->config, *(*env)->runner,
            a->mover.empty() ? (*env)->config.replication.moverPath : a->mover, a->pv, a->id));
    if (!r.ok()) return reportFailure(r.error(), a->json, out);
    Json doc = r->toJson();
    doc["action"] = "points verify";
    doc["result"] = r->ok() ? "verified" : "mismatch";
    std::ostringstream t;
    t << "point " << a->id << " of PV " << a->pv << ": " << r->files << " files, " << r->bytesRead
      << " bytes re-read at DR; "
      << (r->primaryCompared
              ? (r->ok() ? "every checksum equals the primary's snapshot\n"
                         : "DIFFERS from the primary's snapshot\n")
              : "the primary no longer holds this snapshot: only the DR side was checked "
                "(every file readable)\n");
    for (const auto& m : r->mismatched) t << "  differs: " << m << "\n";
    for (const auto& m : r->missingAtDr) t << "  missing at DR: " << m << "\n";
    for (const auto& m : r->extraAtDr) t << "  only at DR: " << m << "\n";
    emit(doc, t.str(), a->json);
    out.exitCode = r->ok() ? 0 : exitCodeFor(ErrorKind::Terminal);
    if (!r->ok()) std::cerr << "ocpv-dr: point " << a->id << " of PV " << a->pv << " differs\n";
  });
}

}  // namespace

void registerPoints(CLI::App& app, GlobalOptions& g, Outcome& out) {
  auto* cmd = app.add_subcommand("points",
                                 "Recovery points at DR (extent mover): list, show, prune, verify");
  cmd->require_subcommand(1);
  auto a = std::make_shared<PointsArgs>();
  addList(cmd, g, out, a);
  addShow(cmd, g, out, a);
  addPrune(cmd, g, out, a);
  addVerify(cmd, g, out, a);
}

}  // namespace ocpvdr::cli
