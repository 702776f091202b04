// pv sync with the extent mover (issue 15; see docs/replication.md "Point-in-time replication"):
// choosing the mover, installing ocpv-dr-mover on the primary, one cycle (sender over ssh piped
// into the applier), the catalog row of the new point, and bringing the DR PV directory to it.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "catalog/points.h"
#include "core/log.h"
#include "core/paths.h"
#include "extent/applier.h"
#include "extent/fs.h"
#include "extent/materialize.h"
#include "replication/extent_pipe.h"
#include "replication/guards.h"
#include "replication/recovery_points.h"
#include "replication/replicator.h"
#include "replication/replicator_internal.h"

namespace ocpvdr::replication {
namespace fs = std::filesystem;

namespace {

std::string firstLine(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

std::string stderrTail(const std::string& s, size_t n = 2000) {
  return s.size() > n ? s.substr(s.size() - n) : s;
}

// Why a cycle whose applier did not make a point failed, as an error of the right kind.
Error failedCycle(const PipeApplyResult& res) {
  if (res.stopped) return retryableError("extent cycle stopped; the previous point stays");
  if (res.timedOut)
    return retryableError(
        "extent cycle ran longer than replication.rsync.max_duration; the "
        "previous point stays");
  Error e = res.applied.error();
  {
    std::string sender = stderrTail(res.senderErr, 800);
    // The sender's end matters when the stream broke off (a killed or failed sender), not when
    // DR stopped reading (the sender then only died of the closed pipe).
    const bool streamBroke = e.kind == ErrorKind::Invalid || e.kind == ErrorKind::Retryable;
    if (streamBroke && (res.senderSignaled || res.senderExit != 0))
      e = e.wrap("the sender " + std::string(res.senderSignaled ? "was killed" : "exited ") +
                 (res.senderSignaled ? "" : std::to_string(res.senderExit)) +
                 (sender.empty() ? "" : " (" + sender + ")"));
    // A broken connection is worth another try; a full DR file system or a corrupt stream is
    // not (the error's kind says which). A sender that failed on its own ("OCPVDR-MOVER error
    // <kind>: …", exit code of that kind) gives its kind.
    if (streamBroke && !res.senderSignaled && res.senderExit > 0) {
      switch (res.senderExit) {
        case 255:
          return retryableError(e.message);
        case 3:
          return refusedError(e.message);
        case 4:
          return retryableError(e.message);
        default:
          return terminalError(e.message);
      }
    }
    return e;
  }
}

}  // namespace

std::string Replicator::localMoverPath() const {
  if (!cfg_.replication.moverLocalPath.empty()) return cfg_.replication.moverLocalPath;
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "ocpv-dr-mover";
  return (self.parent_path() / "ocpv-dr-mover").string();
}

Status Replicator::ensurePrimaryMover() {
  std::lock_guard<std::mutex> g(moverMu_);
  if (moverReady_) return {};
  const std::string local = localMoverPath();
  ProcessSpec v;
  v.argv = {local, "version"};
  v.timeout = std::chrono::seconds(10);
  auto lv = runner_.run(v);
  if (!lv.ok() || !lv->success())
    return refusedError("the local extent mover " + local + " does not run" +
                        (lv.ok() ? ": " + stderrTail(lv->err, 300) : ": " + lv.error().message) +
                        " (replication.mover_local_path)");
  const std::string want = firstLine(lv->out);
  if (cfg_.replication.transport == config::Transport::Local) {
    moverReady_ = true;
    return {};
  }
  OCPVDR_TRY(ssh_.validate());
  if (ssh_.multiplexing()) OCPVDR_TRY(ensureControlDir(ssh_.controlDir()));
  const std::string remote = cfg_.replication.moverPath;
  ProcessSpec rv;
  rv.argv = ssh_.remoteArgv(shellQuote(remote) + " version");
  rv.timeout = std::chrono::seconds(30);
  auto got = runner_.run(rv);
  if (!got.ok()) return got.error().wrap("asking the primary for its ocpv-dr-mover version");
  if (got->exitCode == 255)
    return retryableError("ssh to the primary failed: " + stderrTail(got->err));
  if (got->success() && firstLine(got->out) == want) {
    moverReady_ = true;
    return {};
  }
  // Missing or another version: copy ours over the same ssh settings (temporary name, rename).
  std::ifstream f(local, std::ios::binary);
  std::ostringstream bin;
  bin << f.rdbuf();
  if (!f || bin.str().empty()) return terminalError("cannot read the local mover " + local);
  const std::string dir = fs::path(remote).parent_path().string();
  const std::string tmp = remote + ".new";
  ProcessSpec in;
  in.argv =
      ssh_.remoteArgv("umask 022 && mkdir -p " + shellQuote(dir) + " && cat > " + shellQuote(tmp) +
                      " && chmod 0755 " + shellQuote(tmp) + " && mv -f " + shellQuote(tmp) + " " +
                      shellQuote(remote) + " && " + shellQuote(remote) + " version");
  in.stdinData = bin.str();
  in.timeout = std::chrono::seconds(120);
  auto put = runner_.run(in);
  if (!put.ok()) return put.error().wrap("installing ocpv-dr-mover on the primary");
  if (!put->success() || firstLine(put->out) != want)
    return terminalError("installing ocpv-dr-mover at " + remote + " on the primary failed (exit " +
                         std::to_string(put->exitCode) + "): " + stderrTail(put->err, 500));
  log::info("installed ocpv-dr-mover on the primary",
            {{"path", remote},
             {"version", want},
             {"replaced", got->success() ? firstLine(got->out) : std::string("none")}});
  moverReady_ = true;
  return {};
}

Result<std::vector<std::string>> Replicator::primaryMoverArgv(
    const std::vector<std::string>& args) {
  OCPVDR_TRY(ensurePrimaryMover());
  if (cfg_.replication.transport == config::Transport::Local) {
    std::vector<std::string> a{localMoverPath()};
    a.insert(a.end(), args.begin(), args.end());
    return a;
  }
  std::string cmd = shellQuote(cfg_.replication.moverPath);
  for (const auto& x : args) cmd += " " + shellQuote(x);
  return ssh_.remoteArgv(cmd);
}

Result<std::string> Replicator::probeRoot(bool primarySide, const std::string& root) {
  const std::string key = (primarySide ? "primary:" : "dr:") + root;
  {
    std::lock_guard<std::mutex> g(moverMu_);
    if (auto it = probes_.find(key); it != probes_.end()) return it->second;
  }
  std::string why;  // "" = can reflink
  if (!primarySide || cfg_.replication.transport == config::Transport::Local) {
    Status s = extent::probeReflink(root);
    if (!s.ok()) {
      if (s.error().kind != ErrorKind::Refused) return s.error();
      why = s.error().message;
    }
  } else {
    ProcessSpec p;
    p.argv = ssh_.remoteArgv(shellQuote(cfg_.replication.moverPath) + " probe --root " +
                             shellQuote(root));
    p.timeout = std::chrono::seconds(30);
    auto r = runner_.run(p);
    if (!r.ok()) return r.error();
    if (!r->success())
      return retryableError("probing " + root +
                            " on the primary failed: " + stderrTail(r->err, 500));
    auto f = moverFields(r->out, "OCPVDR-MOVER probe");
    if (f["reflink"] != "yes") {
      std::string line = firstLine(r->out);
      auto k = line.find("reflink=no ");
      why = k == std::string::npos ? "probe said: " + line : line.substr(k + 11);
    }
  }
  std::lock_guard<std::mutex> g(moverMu_);
  probes_[key] = why;
  return why;
}

Result<Replicator::MoverChoice> Replicator::chooseMover(const VolumePaths& p) {
  const auto kind = cfg_.replication.mover;
  if (kind == config::MoverKind::Rsync) return MoverChoice{false, "replication.mover is rsync"};
  const bool must = kind == config::MoverKind::Extent;
  auto fallback = [&](const Error& e) -> Result<MoverChoice> {
    if (must) return e.wrap("replication.mover is extent");
    return MoverChoice{false, e.message};
  };
  if (paths::isUnder(p.drRoot, p.drHostPath) || paths::isUnder(p.primaryRoot, p.primaryHostPath))
    return fallback(
        refusedError("the PV is a whole export root (the extent mover keeps its "
                     "snapshots and points there)"));
  // DR first: it needs no ssh.
  auto dr = probeRoot(false, p.drRoot);
  if (!dr.ok()) return fallback(dr.error());
  if (!dr->empty()) return fallback(refusedError("DR export root " + p.drRoot + ": " + *dr));
  if (Status m = ensurePrimaryMover(); !m.ok()) return fallback(m.error());
  auto pr = probeRoot(true, p.primaryRoot);
  if (!pr.ok()) return fallback(pr.error());
  if (!pr->empty())
    return fallback(refusedError("primary export root " + p.primaryRoot + ": " + *pr));
  return MoverChoice{true, "both export roots reflink"};
}

Status Replicator::extentTransfer(ExtentTransfer& t) {
  const auto& p = t.paths;
  if (paths::isUnder(p.drHostPath, p.drRoot + "/" + std::string(kTrashDirName)))
    return refusedError("DR path " + p.drHostPath + " lies inside the DR trash");
  OCPVDR_TRY(detail::refuseStateDir(p));
  // materialize() removes what a point lacks: a PV at the export root would take the points.
  if (paths::isUnder(p.drRoot, p.drHostPath))
    return refusedError("DR path " + p.drHostPath +
                        " is the export root: the extent mover keeps its points there; use "
                        "replication.mover: rsync for a PV that is a whole export");
  OCPVDR_ASSIGN_OR_RETURN(t.dr, probeLocal(p.drRoot, p.drHostPath));
  OCPVDR_TRY(checkConfined(t.dr, "DR", p.drHostPath));
  if (t.dr.exists && !t.dr.isDir)
    return refusedError("DR path " + p.drHostPath + " exists and is not a directory");
  const bool drHasData = t.dr.exists && t.dr.isDir && !t.dr.empty;
  const bool refuseEmpty = drHasData && !t.force;
  const std::string drReal = t.dr.exists ? t.dr.real : p.drHostPath;

  t.pointsDir = pointsDirFor(t.dr.rootReal.empty() ? p.drRoot : t.dr.rootReal, t.pv);
  OCPVDR_ASSIGN_OR_RETURN(auto have, extent::listPoints(t.pointsDir));
  std::string base = have.empty() ? std::string() : have.back();

  const bool local = cfg_.replication.transport == config::Transport::Local;
  auto senderArgv = [&](const std::string& b) {
    std::vector<std::string> a{local ? localMoverPath() : cfg_.replication.moverPath,
                               "send",
                               "--root",
                               p.primaryRoot,
                               "--pv",
                               t.pv,
                               "--dir",
                               p.primaryHostPath};
    if (!b.empty()) a.insert(a.end(), {"--base", b});
    if (!refuseEmpty) a.push_back("--allow-empty");
    const auto& area = cfg_.replication.snapshotArea;
    if (area.minFreePercent > 0)
      a.insert(a.end(), {"--min-free-percent", std::to_string(area.minFreePercent)});
    if (area.maxBytes > 0) a.insert(a.end(), {"--max-base-bytes", std::to_string(area.maxBytes)});
    if (t.group != nullptr) a.insert(a.end(), {"--snapshot", t.group->snapshotId});
    if (local) return a;
    std::string cmd;
    for (const auto& x : a) cmd += (cmd.empty() ? "" : " ") + shellQuote(x);
    return ssh_.remoteArgv(cmd);
  };
  extent::ApplyOptions ao;
  ao.pointsDir = t.pointsDir;
  ao.hook = t.applyHook;
  ao.onChecksumMismatch = [&t](const extent::ChecksumMismatch& m) { t.mismatch = m; };
  if (bandwidth_)
    ao.throttle = [this, stop = t.stop](uint64_t n) { return bandwidth_->take(n, stop); };
  const auto timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.replication.rsync.maxDuration);
  PipeApplyResult res;
  for (int attempt = 0; attempt < 2; ++attempt) {
    t.ran = true;
    ++extentCycles_;
    res = pipeIntoApply(runner_, senderArgv(base), ao, timeout, t.stop);
    // DR lost the base the primary was asked to diff against: ask again for a full stream.
    if (!res.applied.ok() && res.applied.error().kind == ErrorKind::NotFound && !base.empty() &&
        res.applied.error().message.find("base point") != std::string::npos) {
      log::info("base point missing at DR; asking for a full stream",
                {{"pv", t.pv}, {"base", base}});
      base.clear();
      t.fullResendReason = "base-missing-at-dr";
      continue;
    }
    break;
  }
  t.sent = moverFields(res.senderErr, "OCPVDR-MOVER sent");
  t.drReadBytes = res.drReadBytes;
  if (auto it = t.sent.find("read_bytes"); it != t.sent.end())
    t.primaryReadBytes = std::stoll(it->second);
  if (auto it = t.sent.find("full_resend_reason"); it != t.sent.end() && it->second != "-") {
    t.fullResendReason = it->second;
    log::info("extent cycle: full resend", {{"pv", t.pv}, {"reason", it->second}});
  }
  if (auto guard = parseGuardReport(res.senderErr); guard && guard->verdict != "ok") {
    t.ran = false;
    return detail::sourceCheckError(p, drReal, refuseEmpty, drHasData, guard->verdict, guard->path);
  }
  // A point the applier made visible is complete, even when a stop or the timeout came after
  // its trailer: it is recorded like any other.
  if (!res.applied.ok() && t.mismatch)
    return terminalError("checksum mismatch: PV " + t.pv + ", file \"" + t.mismatch->path +
                         "\", range at offset " + std::to_string(t.mismatch->offset) + " (" +
                         std::to_string(t.mismatch->length) +
                         " bytes): the stream from the primary is corrupt; the new point is "
                         "discarded, the previous point and the DR PV directory are unchanged");
  if (!res.applied.ok()) return failedCycle(res);
  t.applied = *res.applied;
  t.pointMade = true;
  t.forced = t.force && drHasData && t.sent["entries"] == "1";
  return {};
}

Status Replicator::recordAndMaterialize(ExtentTransfer& t, const std::string& drTarget) {
  catalog::PointStore points(catalog_);
  catalog::PointRecord row;
  row.pv = t.pv;
  row.pointId = t.applied.pointId;
  row.baseId = t.applied.baseId;
  row.dataTimeNs = t.applied.dataTimeNs;
  row.createdAt = clock_.now();
  row.path = t.pointsDir + "/" + t.applied.pointId;
  row.mover = "extent";
  row.entries = static_cast<std::int64_t>(t.applied.entries);
  row.dataBytes = static_cast<std::int64_t>(t.applied.dataBytes);
  row.streamBytes = static_cast<std::int64_t>(t.applied.streamBytes);
  row.primaryReadBytes = std::max<std::int64_t>(0, t.primaryReadBytes);
  row.drReadBytes = static_cast<std::int64_t>(t.drReadBytes);
  if (t.applyHook) OCPVDR_TRY(t.applyHook("point-complete"));
  if (t.group != nullptr) {  // one data time, consistency and freeze window for the group
    row.dataTimeNs = t.group->dataTimeNs;
    row.consistency = t.group->consistency;
    row.group = t.group->group;
    row.freezeMs = t.group->freezeMs;
  }
  if (auto d = t.sent.find("source_digest"); d != t.sent.end() && d->second != "-")
    row.sourceDigest = d->second;
  if (Status s = points.add(row); !s.ok())
    return s.error().wrap("recording point " + row.pointId + " in the catalog");
  if (t.applyHook) OCPVDR_TRY(t.applyHook("recorded"));
  const uint64_t read0 = extent::storageReadBytes();
  auto m = extent::materialize(row.path + "/tree", drTarget, t.applyHook);
  t.drReadBytes += extent::storageReadBytes() - read0;
  if (!m.ok())
    return m.error().wrap("point " + row.pointId +
                          " is at DR, but the DR PV directory was not "
                          "brought to it");
  t.materialized = *m;
  // Retention (replication.recovery_points) after every cycle: the new point is the newest, which
  // is never pruned. A failed prune is logged and retried by the next cycle; the sync stands.
  auto pruned = pruneRecoveryPoints(points, t.pv, t.pointsDir, cfg_.replication.recoveryPoints,
                                    clock_.now(), false);
  if (!pruned.ok())
    log::warn("recovery points: prune after the cycle failed",
              {{"pv", t.pv}, {"error", pruned.error().message}});
  else
    t.pruned = pruned->pruned.size();
  return {};
}

}  // namespace ocpvdr::replication
