// rsync dry run before the final sync (see final_sync.h).
#include "failover/final_sync.h"

#include "replication/rsync.h"

namespace ocpvdr::failover {

Json DryRunDiff::toJson() const {
  return {{"changes", changes}, {"deletions", deletions}, {"sample", sample}};
}

bool isItemizeLine(std::string_view line) {
  if (line.rfind("*deleting", 0) == 0) return true;
  if (line.size() < 13 || line[11] != ' ') return false;
  const std::string_view y = "<>ch.*", x = "fdLDS";
  return y.find(line[0]) != std::string_view::npos && x.find(line[1]) != std::string_view::npos;
}

Result<DryRunDiff> dryRunDiff(const config::Config& cfg, const replication::SshCommand& ssh,
                              ProcessRunner& runner, const replication::VolumePaths& paths,
                              std::size_t sampleLines, std::stop_token stop) {
  replication::RsyncInvocation inv;
  const bool local = cfg.replication.transport == config::Transport::Local;
  inv.source = local ? paths.primaryHostPath + "/" : ssh.remoteSpec(paths.primaryHostPath + "/");
  inv.destination = paths.drHostPath + "/";
  if (!local) inv.sshCommand = ssh.rsyncShellCommand();
  DryRunDiff diff;
  diff.argv = replication::buildRsyncArgv(cfg.replication.rsync, inv);
  diff.argv.insert(diff.argv.begin() + 1, "--dry-run");
  ProcessSpec spec;
  spec.argv = diff.argv;
  spec.timeout = std::chrono::minutes(30);
  spec.onStdoutLine = [&](std::string_view line) {
    if (!isItemizeLine(line)) return;
    if (line.rfind("*deleting", 0) == 0) {
      ++diff.deletions;
    } else {
      ++diff.changes;
    }
    if (diff.sample.size() < sampleLines) diff.sample.emplace_back(line);
  };
  OCPVDR_ASSIGN_OR_RETURN(ProcessResult r, runner.run(spec, stop));
  if (!r.success()) {
    std::string err = r.err;
    if (err.size() > 500) err = err.substr(err.size() - 500);
    return retryableError("rsync --dry-run for " + paths.primaryHostPath + " exited " +
                          std::to_string(r.exitCode) + ": " + err);
  }
  return diff;
}

}  // namespace ocpvdr::failover
