// The Replicator's part of the reconcile's cheap full pass (issue 16; see replicator.h
// extentSource / primaryManifest and engine/reconcile.h step 2).
#include "extent/manifest.h"
#include "replication/replicator.h"
#include "replication/replicator_internal.h"

namespace ocpvdr::replication {

Result<std::optional<Replicator::ExtentSource>> Replicator::extentSource(const Json& pv) {
  if (cfg_.replication.mover == config::MoverKind::Rsync) return std::optional<ExtentSource>{};
  OCPVDR_ASSIGN_OR_RETURN(PvInfo info, describePv(pv));
  if (!info.nfs) return std::optional<ExtentSource>{};
  OCPVDR_ASSIGN_OR_RETURN(VolumePaths p, mapVolume(cfg_, info.nfs->server, info.nfs->exportPath));
  OCPVDR_ASSIGN_OR_RETURN(MoverChoice c, chooseMover(p));
  if (!c.extent) return std::optional<ExtentSource>{};
  return std::optional<ExtentSource>{
      ExtentSource{info.name, p.primaryRoot, p.primaryHostPath, p.drHostPath}};
}

Result<std::map<std::string, std::string>> Replicator::primaryManifest(
    const std::string& root, const std::vector<ExtentSource>& pvs, std::stop_token stop) {
  std::map<std::string, std::string> digests;
  if (pvs.empty()) return digests;
  OCPVDR_TRY(ensurePrimaryMover());
  // The PV list goes on stdin: thousands of PVs do not fit one remote command line.
  std::string list;
  for (const auto& s : pvs) list += s.pv + "=" + s.primaryDir + "\n";
  std::vector<std::string> argv;
  const bool local = cfg_.replication.transport == config::Transport::Local;
  if (local) {
    argv = {localMoverPath(), "manifest", "--root", root, "--stdin"};
  } else {
    argv = ssh_.remoteArgv(shellQuote(cfg_.replication.moverPath) + " manifest --root " +
                           shellQuote(root) + " --stdin");
  }
  ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.stdinData = std::move(list);
  spec.timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg_.replication.rsync.maxDuration);
  spec.maxCapture = 64 * 1024;  // the lines are parsed as they come, never kept whole
  bool ended = false;
  spec.onStdoutLine = [&](std::string_view line) {
    extent::ManifestLine m;
    if (!extent::parseManifestLine(std::string(line), &m)) return;
    if (m.end) ended = true;
    if (!m.end && m.state == "ok" && !m.digest.empty()) digests[m.pv] = m.digest;
  };
  auto r = runner_.run(spec, stop);
  if (!r.ok()) return r.error().wrap("the manifest session for " + root);
  if (!r->success()) {
    std::string err = r->err.size() > 500 ? r->err.substr(r->err.size() - 500) : r->err;
    if (r->exitCode == 255) return retryableError("ssh to the primary failed: " + err);
    return retryableError("ocpv-dr-mover manifest for " + root + " failed (exit " +
                          std::to_string(r->exitCode) + "): " + err);
  }
  // A session that broke off vouches for nothing it did not finish: the PVs it printed stand
  // (each line is complete), the rest have no digest and get cycles.
  if (!ended) return retryableError("the manifest session for " + root + " ended early");
  return digests;
}

}  // namespace ocpvdr::replication
