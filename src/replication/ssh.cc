// ssh command lines for replication (see ssh.h).
#include "replication/ssh.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "replication/volume_lock.h"

namespace ocpvdr::replication {
namespace {

// Longest control dir that leaves room for "/" + 40 hex digits of %C + the ".XXXXXXXXXXXXXXXX"
// suffix ssh adds while creating the socket, inside sun_path (108 bytes with the NUL).
constexpr std::size_t kMaxControlDir = 107 - 1 - 40 - 17;

// rsync splits -e on spaces and honours single/double quotes (no backslashes).
std::string quoteForRsync(const std::string& arg) {
  if (!arg.empty() && arg.find_first_of(" \t\"'") == std::string::npos) return arg;
  return "'" + arg + "'";
}

}  // namespace

SshCommand::SshCommand(const config::SshAccess& access, std::string fallbackHost,
                       std::string controlDir)
    : access_(access),
      host_(access.host.empty() ? std::move(fallbackHost) : access.host),
      controlDir_(std::move(controlDir)) {}

std::vector<std::string> SshCommand::baseArgv() const {
  std::vector<std::string> a{"ssh", "-p", std::to_string(access_.port)};
  if (!access_.keyFile.empty()) {
    a.insert(a.end(), {"-i", access_.keyFile, "-o", "IdentitiesOnly=yes"});
  }
  if (!access_.knownHostsFile.empty())
    a.insert(a.end(), {"-o", "UserKnownHostsFile=" + access_.knownHostsFile});
  a.insert(
      a.end(),
      {"-o", std::string("StrictHostKeyChecking=") + (access_.strictHostKeyChecking ? "yes" : "no"),
       "-o", "BatchMode=yes", "-o",
       "ConnectTimeout=" + std::to_string(std::max<long long>(1, access_.connectTimeout.count())),
       "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4", "-o", "LogLevel=ERROR"});
  if (multiplexing()) {
    a.insert(a.end(), {"-o", "ControlMaster=auto", "-o", "ControlPath=" + controlDir_ + "/%C", "-o",
                       "ControlPersist=" + std::to_string(access_.controlPersist.count()) + "s"});
  } else {
    a.insert(a.end(), {"-o", "ControlMaster=no", "-o", "ControlPath=none"});
  }
  return a;
}

std::string SshCommand::rsyncShellCommand() const {
  std::string out;
  for (const auto& arg : baseArgv()) {
    if (!out.empty()) out += ' ';
    out += quoteForRsync(arg);
  }
  return out;
}

std::string SshCommand::destination() const {
  return (access_.user.empty() ? std::string() : access_.user + "@") + host_;
}

std::string SshCommand::remoteSpec(std::string_view path) const {
  std::string host = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  return (access_.user.empty() ? std::string() : access_.user + "@") + host + ":" +
         std::string(path);
}

std::vector<std::string> SshCommand::remoteArgv(const std::string& command) const {
  auto a = baseArgv();
  a.push_back(destination());
  a.push_back(command);
  return a;
}

std::vector<std::string> SshCommand::exitMasterArgv() const {
  auto a = baseArgv();
  a.insert(a.end(), {"-O", "exit", destination()});
  return a;
}

Status SshCommand::validate() const {
  if (host_.empty())
    return invalidError("sites.primary.ssh.host and sites.primary.nfs.server are both empty");
  if (host_.front() == '-' || (!access_.user.empty() && access_.user.front() == '-'))
    return invalidError("sites.primary.ssh: host and user must not start with '-'");
  for (const auto* v :
       {&access_.keyFile, &access_.knownHostsFile, &controlDir_, &host_, &access_.user}) {
    if (v->find_first_of("'\n\r") != std::string::npos)
      return invalidError("sites.primary.ssh: \"" + *v +
                          "\" contains a quote or newline, which rsync -e cannot pass");
  }
  return Status::success();
}

std::string chooseControlDir(const std::string& preferred) {
  if (!preferred.empty() && preferred.size() <= kMaxControlDir) return preferred;
  return "/tmp/ocpv-dr-ssh-" + std::to_string(::getuid());
}

SshCommand primarySsh(const config::Config& cfg) {
  return SshCommand(cfg.primary.ssh, cfg.primary.nfsServer,
                    chooseControlDir(effectiveLockDir(cfg) + "/ssh"));
}

Status ensureControlDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return terminalError("cannot create ssh control directory " + dir + ": " + ec.message());
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return terminalError("ssh control directory " + dir + " is not a directory");
  // Another user's directory in /tmp could hijack the sockets: insist on our own.
  if (st.st_uid != ::getuid())
    return refusedError("ssh control directory " + dir + " belongs to another user");
  ::chmod(dir.c_str(), 0700);
  return Status::success();
}

}  // namespace ocpvdr::replication
