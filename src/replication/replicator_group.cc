// VM-consistent recovery points (issue 17; docs/consistency.md): a pv sync of a PV that a VM uses
// becomes a cycle of the VM's (or its application group's) every PV —
//
//   1. resolve the group (consistency_group.h) and its PVs; every one must be replicable and
//      served by the extent mover, else the PV is synced alone (per-file) and the report says why;
//   2. under the group's lock: freeze each running VMI that has AgentConnected and no opt-out
//      (unfreezeTimeout = replication.consistency.unfreeze_timeout: KubeVirt's own thaw is the
//      backstop when this process dies); a VM that cannot be frozen makes the point "crash";
//   3. ONE `ocpv-dr-mover snapshot` at the primary takes every PV's reflink snapshot back to
//      back (extent/group_snapshot.h);
//   4. thaw every VMI whose freeze was tried — as soon as the primary reports the clones taken
//      (their fsyncs run after the thaw), and always, also after an error; a thaw that fails is
//      retried, then reported loudly (error log, metric, the report's thaw_errors);
//   5. ship each PV's delta at leisure: the ordinary pv sync of each PV, streaming the group's
//      snapshot (`send --snapshot`), its catalog row saying consistency, group, freeze window and
//      the group's one data time.
// When the group snapshot fails (after the thaw), the PV is synced alone instead (per-file).
#include <algorithm>
#include <cstdio>
#include <map>

#include "core/log.h"
#include "core/paths.h"
#include "core/time.h"
#include "replication/extent_pipe.h"
#include "replication/lock.h"
#include "replication/replicator.h"
#include "replication/replicator_internal.h"

namespace ocpvdr::replication {

namespace {

constexpr const char* kFreezeWindow = "ocpvdr_freeze_window_seconds";
constexpr const char* kFreezesFailed = "ocpvdr_freezes_failed_total";
constexpr const char* kThawsFailed = "ocpvdr_thaws_failed_total";
constexpr const char* kGroupPoints = "ocpvdr_group_points_total";
// Freeze window histogram buckets (seconds).
constexpr double kBuckets[] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

std::string stringAt(const Json& j, const char* a, const char* b) {
  if (!j.is_object() || !j.contains(a) || !j[a].is_object() || !j[a].contains(b) ||
      !j[a][b].is_string())
    return {};
  return j[a][b].get<std::string>();
}

// status.conditions[] has AgentConnected True (the guest agent is there to freeze).
bool agentConnected(const Json& vmi) {
  if (!vmi.contains("status") || !vmi["status"].is_object()) return false;
  const Json& st = vmi["status"];
  if (!st.contains("conditions") || !st["conditions"].is_array()) return false;
  for (const auto& c : st["conditions"])
    if (c.is_object() && c.value("type", "") == "AgentConnected" && c.value("status", "") == "True")
      return true;
  return false;
}

std::string lockKeyOf(const std::string& groupId) {
  std::string k = "group-";
  for (char c : groupId) k += (c == '/') ? '+' : c;
  return k;
}

std::string formatG(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string tail(const std::string& s, std::size_t n = 600) {
  return s.size() > n ? s.substr(s.size() - n) : s;
}

}  // namespace

void Replicator::setMetrics(MetricsRegistry* metrics) {
  metrics_ = metrics;
  if (metrics_ == nullptr) return;
  metrics_->describe(std::string(kFreezeWindow) + "_bucket", "counter",
                     "Guest freeze windows (first freeze call → last thaw done), cumulative by "
                     "upper bound le in seconds (histogram buckets)");
  metrics_->describe(std::string(kFreezeWindow) + "_sum", "counter",
                     "Sum of the guest freeze windows in seconds");
  metrics_->describe(std::string(kFreezeWindow) + "_count", "counter",
                     "Number of guest freeze windows measured");
  metrics_->describe(kFreezesFailed, "counter", "Guest freezes that failed (point is crash)");
  metrics_->describe(kThawsFailed, "counter",
                     "Guest thaws that failed after retries: a guest may still be frozen");
  metrics_->describe(kGroupPoints, "counter", "Group recovery points by consistency");
}

Result<extent::GroupSnapshotReport> Replicator::groupSnapshot(
    const std::vector<std::pair<std::string, VolumePaths>>& members,
    const std::function<void()>& onCloned) {
  const bool local = cfg_.replication.transport == config::Transport::Local;
  std::vector<std::string> a{local ? localMoverPath() : cfg_.replication.moverPath, "snapshot"};
  for (const auto& [pv, p] : members)
    a.insert(a.end(), {"--pv", pv, "--root", p.primaryRoot, "--dir", p.primaryHostPath});
  ProcessSpec spec;
  if (local) {
    spec.argv = a;
  } else {
    std::string cmd;
    for (const auto& x : a) cmd += (cmd.empty() ? "" : " ") + shellQuote(x);
    spec.argv = ssh_.remoteArgv(cmd);
  }
  spec.onStdoutLine = [&onCloned](std::string_view line) {
    if (line.rfind("OCPVDR-MOVER snapshot ", 0) == 0 && onCloned) onCloned();
  };
  spec.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      cfg_.replication.consistency.unfreezeTimeout + std::chrono::seconds(30));
  auto r = runner_.run(spec);
  if (!r.ok()) return r.error().wrap("group snapshot at the primary");
  if (r->timedOut) return retryableError("group snapshot at the primary timed out");
  if (!r->success()) {
    const std::string why = "group snapshot at the primary failed (exit " +
                            std::to_string(r->exitCode) + "): " + tail(r->err);
    return r->exitCode == 255 || r->exitCode == 4 ? Error(retryableError(why))
                                                  : Error(terminalError(why));
  }
  auto f = moverFields(r->out, "OCPVDR-MOVER snapshot");
  if (f["id"].empty() || f["data_time_ns"].empty())
    return terminalError("group snapshot: no report line from the primary: " + tail(r->out));
  extent::GroupSnapshotReport rep;
  rep.id = f["id"];
  try {
    rep.dataTimeNs = std::stoll(f["data_time_ns"]);
    rep.tookNs = f["took_ns"].empty() ? 0 : std::stoll(f["took_ns"]);
  } catch (const std::exception&) {
    return terminalError("group snapshot: unreadable report line: " + tail(r->out));
  }
  return rep;
}

std::optional<SyncReport> Replicator::syncViaGroup(const Json& doc, const SyncOptions& opts) {
  if (opts.alone) return std::nullopt;
  // An event already processed is skipped by the PV's own sync: no group cycle for it.
  if (!opts.eventId.empty()) {
    auto seen = catalog_.eventProcessed(opts.eventId);
    if (seen.ok() && *seen) return std::nullopt;
  }
  auto u = unwrapObject(doc, "PersistentVolume");
  if (!u.ok()) return std::nullopt;
  auto info = describePv(u->object);
  if (!info.ok() || !info->nfs || info->claimName.empty()) return std::nullopt;
  // Groups need the extent mover (its snapshots); the rsync mover never asks the API.
  auto paths = mapVolume(cfg_, info->nfs->server, info->nfs->exportPath);
  if (!paths.ok()) return std::nullopt;
  auto choice = chooseMover(*paths);
  if (!choice.ok() || !choice->extent) return std::nullopt;
  Json summary;
  auto g = findGroupOfClaim(*consistency_, info->claimNamespace, info->claimName);
  std::optional<SyncReport> r;
  if (!g.ok()) {
    summary = Json{{"skipped", "the PV's VM could not be resolved: " + g.error().message}};
  } else if (!g->has_value()) {
    return std::nullopt;  // no VM uses it: a per-PV point, as before
  } else {
    r = runGroup(**g, info->name, opts, summary);
  }
  if (!r) {
    log::info("pv sync: synced alone, not as a consistency group",
              {{"pv", info->name}, {"why", summary.value("skipped", summary.value("error", ""))}});
    SyncOptions o = opts;
    o.alone = true;
    auto alone = syncPv(doc, o);
    if (!alone.ok()) return std::nullopt;
    r = *alone;
  }
  r->details["consistency_group"] = summary;
  return r;
}

// One group cycle's state, step by step (runGroup).
struct Replicator::GroupRun {
  struct Guest {
    std::string ns, name;
    bool tried = false;
  };
  Replicator& rep;
  const ConsistencyGroup& g;
  const std::string& pv;
  const SyncOptions& opts;
  Json& summary;
  std::vector<std::pair<std::string, VolumePaths>> members;
  std::map<std::string, Json> docs;
  std::vector<Guest> guests;
  std::string consistency = "application";
  Json notes = Json::object();
  Json frozen = Json::array();
  Json thawErrors = Json::array();
  std::int64_t freezeMs = -1;

  // Every PV of the group, replicable and served by the extent mover; "" or why not.
  std::string resolveMembers() {
    for (const auto& name : g.pvs()) {
      auto doc = rep.primary_->getPersistentVolume(name);
      if (!doc.ok()) return "reading PV " + name + ": " + doc.error().message;
      auto info = describePv(*doc);
      if (!info.ok()) return "PV " + name + ": " + info.error().message;
      if (!info->nfs) return "PV " + name + " is not replicable: " + info->notReplicableReason;
      auto paths = mapVolume(rep.cfg_, info->nfs->server, info->nfs->exportPath);
      if (!paths.ok()) return "PV " + name + ": " + paths.error().message;
      auto choice = rep.chooseMover(*paths);
      if (!choice.ok()) return "PV " + name + ": " + choice.error().message;
      if (!choice->extent)
        return "PV " + name + " is not served by the extent mover: " + choice->reason;
      members.emplace_back(name, *paths);
      docs[name] = *doc;
    }
    if (docs.count(pv) == 0) return "PV " + pv + " is not among the group's bound PVs";
    return {};
  }

  // Which guests to freeze; what the point will be when every freeze works.
  void planFreeze() {
    const auto& cc = rep.cfg_.replication.consistency;
    for (const auto& vm : g.vms) {
      const std::string key = vm.ns + "/" + vm.name;
      if (!cc.freeze) {
        crash(key, "not frozen: replication.consistency.freeze is false");
        continue;
      }
      if (vm.freezeOptOut) {
        crash(key, "not frozen: opted out (" + std::string(kFreezeLabel) + "=false)");
        continue;
      }
      auto vmi = rep.consistency_->getVirtualMachineInstance(vm.ns, vm.name);
      if (!vmi.ok()) {
        if (vmi.error().kind == ErrorKind::NotFound)
          notes[key] = "not running: nothing writes its disks";
        else
          crash(key, "not frozen: reading its VMI failed: " + vmi.error().message);
        continue;
      }
      const std::string phase = stringAt(*vmi, "status", "phase");
      if (phase != "Running")
        crash(key, "not frozen: VMI phase " + (phase.empty() ? std::string("unknown") : phase));
      else if (!agentConnected(*vmi))
        crash(key, "not frozen: no guest agent (AgentConnected is not True)");
      else
        guests.push_back({vm.ns, vm.name});
    }
  }
  void crash(const std::string& key, const std::string& why) {
    consistency = "crash";
    notes[key] = why;
  }

  // Freeze → group snapshot → thaw (always); the freeze window measured around all of it.
  Result<extent::GroupSnapshotReport> freezeSnapshotThaw() {
    const auto& cc = rep.cfg_.replication.consistency;
    const auto t0 = rep.clock_.monotonic();
    std::optional<SteadyTime> firstFrozen;
    for (auto& gu : guests) {
      gu.tried = true;  // a freeze whose outcome is unknown must be followed by an unfreeze
      Status f = rep.consistency_->freezeGuest(gu.ns, gu.name, cc.unfreezeTimeout);
      if (f.ok()) {
        if (!firstFrozen) firstFrozen = rep.clock_.monotonic();
        frozen.push_back(gu.ns + "/" + gu.name);
        continue;
      }
      crash(gu.ns + "/" + gu.name, "freeze failed: " + f.error().message);
      log::warn("guest freeze failed; the group point will be crash-consistent",
                {{"group", g.id}, {"vm", gu.ns + "/" + gu.name}, {"error", f.error().message}});
      if (rep.metrics_) rep.metrics_->inc(kFreezesFailed);
    }
    // Thaw as soon as the clones exist (the primary's fsyncs run after), or after a failure.
    bool thawed = false;
    SteadyTime t1{};
    Status hookAfter;
    auto thawOnce = [&] {
      if (thawed) return;
      thawed = true;
      thawAll();
      t1 = rep.clock_.monotonic();
    };
    Result<extent::GroupSnapshotReport> snap = [&]() -> Result<extent::GroupSnapshotReport> {
      if (opts.groupHook) OCPVDR_TRY(opts.groupHook("frozen"));
      OCPVDR_ASSIGN_OR_RETURN(auto s, rep.groupSnapshot(members, [&] {
        if (opts.groupHook) hookAfter = opts.groupHook("snapshotted");
        thawOnce();
      }));
      OCPVDR_TRY(hookAfter);
      return s;
    }();
    thawOnce();
    if (std::any_of(guests.begin(), guests.end(), [](const Guest& x) { return x.tried; }))
      freezeMs = std::chrono::duration_cast<std::chrono::milliseconds>(t1 - t0).count();
    // A freeze that lasted past unfreeze_timeout may have been thawed by KubeVirt mid-snapshot.
    if (firstFrozen && consistency == "application" && t1 - *firstFrozen >= cc.unfreezeTimeout)
      crash("window", "the freeze window outlasted replication.consistency.unfreeze_timeout");
    return snap;
  }

  // Every guest whose freeze was tried; a thaw that still fails after retries is reported loudly.
  void thawAll() {
    for (auto it = guests.rbegin(); it != guests.rend(); ++it) {
      if (!it->tried) continue;
      Status u = retryableError("not tried");
      for (int attempt = 0; attempt < 3 && !u.ok(); ++attempt) {
        if (attempt > 0) rep.clock_.sleepFor(std::chrono::milliseconds(200 * attempt));
        u = rep.consistency_->unfreezeGuest(it->ns, it->name);
      }
      if (u.ok()) continue;
      const std::string key = it->ns + "/" + it->name;
      thawErrors.push_back(key + ": " + u.error().message);
      log::error(
          "GUEST THAW FAILED: the guest may still be frozen; thaw it now "
          "(virtctl unfreeze) — KubeVirt's own thaw was cancelled by the unfreeze call",
          {{"group", g.id}, {"vm", key}, {"error", u.error().message}});
      if (rep.metrics_) rep.metrics_->inc(kThawsFailed, {{"vm", key}});
    }
  }

  void recordFreeze() {
    summary["consistency"] = consistency;
    summary["freeze_ms"] = freezeMs >= 0 ? Json(freezeMs) : Json(nullptr);
    summary["frozen"] = frozen;
    summary["notes"] = notes;
    summary["thaw_errors"] = thawErrors;
    if (rep.metrics_ == nullptr || freezeMs < 0) return;
    const double secs = static_cast<double>(freezeMs) / 1000.0;
    for (double b : kBuckets)
      if (secs <= b)
        rep.metrics_->inc(std::string(kFreezeWindow) + "_bucket", {{"le", formatG(b)}});
    rep.metrics_->inc(std::string(kFreezeWindow) + "_bucket", {{"le", "+Inf"}});
    rep.metrics_->inc(std::string(kFreezeWindow) + "_sum", {}, secs);
    rep.metrics_->inc(std::string(kFreezeWindow) + "_count");
  }

  // Every PV's delta from the group snapshot, by the ordinary pv sync; this PV's report.
  std::optional<SyncReport> ship(const extent::GroupSnapshotReport& snap) {
    GroupPoint gp{snap.id, snap.dataTimeNs, consistency, g.id, freezeMs};
    std::optional<SyncReport> mine;
    Json per = Json::array();
    for (const auto& [name, paths] : members) {
      SyncOptions o;
      o.wait = opts.wait;
      o.stop = opts.stop;
      o.groupPoint = &gp;
      o.extentApplyHook = opts.extentApplyHook;
      if (name == pv) {
        o.force = opts.force;
        o.eventId = opts.eventId;
        o.onProgress = opts.onProgress;
      }
      auto r = rep.syncPv(docs[name], o);
      SyncReport one;
      if (r.ok()) {
        one = *r;
      } else {
        one.action = "pv sync";
        one.pv = name;
        detail::fail(one, r.error());
      }
      per.push_back(Json{{"pv", name},
                         {"result", std::string(toString(one.result))},
                         {"point", one.details.value("point", Json(nullptr))},
                         {"error", one.error ? Json(one.error->message) : Json(nullptr)}});
      if (name == pv) mine = one;
    }
    summary["pv_results"] = per;
    return mine;
  }
};

std::optional<SyncReport> Replicator::runGroup(const ConsistencyGroup& g, const std::string& pv,
                                               const SyncOptions& opts, Json& summary) {
  summary = Json{{"group", g.id}, {"pvs", g.pvs()}};
  Json vms = Json::array();
  for (const auto& vm : g.vms) vms.push_back(vm.ns + "/" + vm.name);
  summary["vms"] = vms;
  auto skip = [&](const std::string& why) -> std::optional<SyncReport> {
    summary["skipped"] = why;
    return std::nullopt;
  };
  if (primary_ == nullptr) return skip("no primary API to read the group's PVs");
  if (Status d = catalog::refuseIfDrActive(catalog_, "group sync of " + g.id); !d.ok())
    return skip(d.error().message);
  GroupRun run{*this, g, pv, opts, summary};
  if (std::string why = run.resolveMembers(); !why.empty()) return skip(why);

  auto lock = FileLock::acquire(lockDir_, lockKeyOf(g.id), opts.wait, clock_, opts.stop);
  if (!lock.ok()) {
    SyncReport busy;
    busy.action = "pv sync";
    busy.pv = pv;
    (void)detail::lockNotTaken(lock, busy);
    return busy;
  }
  run.planFreeze();
  auto snap = run.freezeSnapshotThaw();
  run.recordFreeze();
  if (!snap.ok()) {
    summary["error"] = snap.error().message;
    log::warn("group snapshot failed; the PV is synced alone",
              {{"group", g.id}, {"error", snap.error().message}});
    return std::nullopt;
  }
  summary["snapshot"] = snap->id;
  summary["data_time"] = formatTimeMillis(fromEpochNanos(snap->dataTimeNs));
  summary["snapshot_ms"] = snap->tookNs / 1'000'000;
  if (metrics_) metrics_->inc(kGroupPoints, {{"consistency", run.consistency}});
  return run.ship(*snap);
}

}  // namespace ocpvdr::replication
