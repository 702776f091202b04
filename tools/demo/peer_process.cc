// Starting, watching and stopping the demo's child processes (see peer_process.h).
#include "demo/peer_process.h"

#include "core/files.h"
#include "core/json_util.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace ocpvdr::demo {
namespace {

using namespace std::chrono_literals;

std::string readAll(const std::filesystem::path& p) {
  return readFile(p.string()).valueOr("");
}

int decodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::string findProgram(const std::string& program) {
  if (program.find('/') != std::string::npos)
    return ::access(program.c_str(), X_OK) == 0 ? program : std::string();
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

Result<std::unique_ptr<PeerProcess>> PeerProcess::start(PeerSpec spec) {
  if (spec.argv.empty()) return invalidError(spec.name + ": empty command line");
  std::unique_ptr<PeerProcess> p(new PeerProcess(std::move(spec)));
  const std::string program = findProgram(p->spec_.argv.front());
  if (program.empty())
    return notFoundError(p->spec_.name + ": " + p->spec_.argv.front() + " not found");
  std::filesystem::create_directories(p->spec_.logFile.parent_path());

  // Everything the child needs is built before fork: it may only call async-signal-safe functions.
  std::vector<std::string> args = p->spec_.argv;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> envStore;
  for (char** e = environ; *e; ++e) {
    std::string entry(*e);
    const std::string key = entry.substr(0, entry.find('='));
    if (!p->spec_.env.count(key)) envStore.push_back(std::move(entry));
  }
  for (const auto& [k, v] : p->spec_.env)
    if (!v.empty()) envStore.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : envStore) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string logFile = p->spec_.logFile.string();
  const pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) return terminalError(p->spec_.name + ": fork: " + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(125);  // the demo died between fork and prctl
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int fd = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execve(program.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent: no race with an early kill of the group
  p->pid_ = pid;
  return p;
}

PeerProcess::~PeerProcess() {
  stop();
}

void PeerProcess::reaped(int waitStatus) {
  exitStatus_ = decodeWaitStatus(waitStatus);
  pid_ = -1;
}

bool PeerProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped(status);
    return false;
  }
  return true;
}

Result<std::string> PeerProcess::waitForLog(const std::regex& pattern,
                                            std::chrono::milliseconds timeout,
                                            std::stop_token stop) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const std::string log = readAll(spec_.logFile);
    std::smatch m;
    if (std::regex_search(log, m, pattern)) return m.size() > 1 ? m[1].str() : m[0].str();
    if (!running())
      return terminalError(spec_.name + " exited (status " + std::to_string(exitStatus_) +
                           ") before it was ready: " + logTail());
    if (stop.stop_requested()) return terminalError("interrupted");
    if (std::chrono::steady_clock::now() > deadline)
      return retryableError(spec_.name + " not ready within " +
                            std::to_string(timeout.count() / 1000) + " s: " + logTail());
    std::this_thread::sleep_for(50ms);
  }
}

Result<std::string> PeerProcess::waitForFile(const std::filesystem::path& file,
                                             std::chrono::milliseconds timeout,
                                             std::stop_token stop) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    std::string text = readAll(file);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (!text.empty()) return text;
    if (!running())
      return terminalError(spec_.name + " exited (status " + std::to_string(exitStatus_) +
                           ") before it was ready: " + logTail());
    if (stop.stop_requested()) return terminalError("interrupted");
    if (std::chrono::steady_clock::now() > deadline)
      return retryableError(spec_.name + " did not write " + file.string() + " within " +
                            std::to_string(timeout.count() / 1000) + " s: " + logTail());
    std::this_thread::sleep_for(50ms);
  }
}

int PeerProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return exitStatus_;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      const pid_t group = pid_;
      reaped(status);
      ::kill(-group, SIGKILL);  // helpers it left in its group (rsync, ssh), if any
      return exitStatus_;
    }
    std::this_thread::sleep_for(20ms);
  }
  ::kill(-pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  reaped(status);
  return exitStatus_;
}

std::string PeerProcess::logTail(std::size_t bytes) const {
  std::string log = readAll(spec_.logFile);
  if (log.size() > bytes) log = "..." + log.substr(log.size() - bytes);
  return log;
}

}  // namespace ocpvdr::demo
