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

void Replicator::preflightPrimary(const std::vector<std::string>& primaryRoots) {
  if (cfg_.replication.mover == config::MoverKind::Rsync ||
      cfg_.replication.transport == config::Transport::Local)
    return;
  std::vector<std::string> roots;
  {
    std::lock_guard<std::mutex> g(moverMu_);
    for (const auto& r : primaryRoots)
      if (!probes_.count("primary:" + r)) roots.push_back(r);
    if (moverReady_ && roots.empty()) return;
  }
  ProcessSpec v;
  v.argv = {localMoverPath(), "version"};
  v.timeout = std::chrono::seconds(10);
  auto lv = runner_.run(v);
  if (!lv.ok() || !lv->success()) return;
  const std::string want = lv->out.substr(0, lv->out.find('\n'));
  if (!ssh_.validate().ok()) return;
  if (ssh_.multiplexing() && !ensureControlDir(ssh_.controlDir()).ok()) return;
  const std::string m = shellQuote(cfg_.replication.moverPath);
  std::string cmd = m + " version";
  for (const auto& r : roots) cmd += " && " + m + " probe --root " + shellQuote(r);
  ProcessSpec p;
  p.argv = ssh_.remoteArgv(cmd);
  p.timeout = std::chrono::seconds(30);
  auto got = runner_.run(p);
  if (!got.ok()) return;
  std::vector<std::string> lines;
  for (size_t pos = 0; pos < got->out.size();) {
    size_t nl = got->out.find('\n', pos);
    lines.push_back(got->out.substr(pos, nl == std::string::npos ? nl : nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  if (lines.empty() || lines.front() != want) return;  // missing or another version
  std::lock_guard<std::mutex> g(moverMu_);
  moverReady_ = true;
  // One line per probe that ran, in order (`&&` stops at a probe that could not run).
  for (size_t i = 0; i < roots.size() && i + 1 < lines.size(); ++i) {
    const std::string& line = lines[i + 1];
    auto f = moverFields(line, "OCPVDR-MOVER probe");
    if (f.empty()) break;
    std::string why;
    if (f["reflink"] != "yes") {
      auto k = line.find("reflink=no ");
      why = k == std::string::npos ? "probe said: " + line : line.substr(k + 11);
    }
    probes_["primary:" + roots[i]] = why;
  }
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
