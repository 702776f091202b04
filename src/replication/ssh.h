// The ssh command replication uses to reach the primary NFS host: for rsync (`-e`) and for the
// small remote checks (realpath confinement, empty-source guard) over the same connection.
//
// Connection reuse: with sites.primary.ssh.control_persist > 0 every ssh runs with
// ControlMaster=auto and ControlPath=<control dir>/%C. %C is a hash of (local host, remote host,
// port, user), so one master exists per (user, host, port) and parallel syncs share it; when two
// start at the same moment, one becomes master and the other falls back to its own connection.
// Unix socket paths are limited (~107 bytes): a control dir too long for that falls back to
// /tmp/ocpv-dr-ssh-<uid>.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/process.h"
#include "core/result.h"

namespace ocpvdr::replication {

class SshCommand {
 public:
  // `access.host` empty: `fallbackHost` (the site's nfs.server) is dialled.
  SshCommand(const config::SshAccess& access, std::string fallbackHost, std::string controlDir);

  // ssh and its options, without destination or command.
  std::vector<std::string> baseArgv() const;
  // The same as one string for rsync's -e (arguments quoted where needed).
  std::string rsyncShellCommand() const;
  std::string destination() const;  // user@host
  // "user@host:/path/" (IPv6 literals bracketed).
  std::string remoteSpec(std::string_view path) const;
  // ssh argv running `command` (a shell command line) on the host.
  std::vector<std::string> remoteArgv(const std::string& command) const;
  // ssh -O exit: ends the shared master connection, if any.
  std::vector<std::string> exitMasterArgv() const;

  const std::string& controlDir() const { return controlDir_; }
  bool multiplexing() const { return access_.controlPersist.count() > 0; }

  // Rejects option values rsync's -e parser cannot carry (single quotes, newlines).
  [[nodiscard]] Status validate() const;

 private:
  config::SshAccess access_;
  std::string host_;
  std::string controlDir_;
};

// Chooses the control socket directory: `preferred` when short enough, else a per-uid /tmp dir.
std::string chooseControlDir(const std::string& preferred);

// The ssh command replication reaches the primary NFS host with (sites.primary.ssh, dialling
// sites.primary.nfs.server when no host is set), its control sockets under the lock directory:
// what every other user of that host (failover fencing) takes, sharing replication's master.
SshCommand primarySsh(const config::Config& cfg);

// Creates the control directory (mode 0700).
[[nodiscard]] Status ensureControlDir(const std::string& dir);

}  // namespace ocpvdr::replication
