// Sender process → pipe → extent::apply (see extent_pipe.h).
#include "replication/extent_pipe.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <sstream>
#include <thread>

#include "extent/fs.h"

extern char** environ;

namespace ocpvdr::replication {

namespace {

constexpr size_t kErrTail = 64 * 1024;

// posix_spawn (safe in a threaded process): stdin /dev/null, stdout and stderr the pipes, its own
// process group, default signal dispositions. 0 or the errno.
int spawnSender(const std::vector<std::string>& senderArgv, int outW, int errW, pid_t* pid) {
  std::vector<char*> argv;
  for (const auto& a : senderArgv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, outW, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, errW, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  int rc = ::posix_spawnp(pid, argv[0], &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  return rc;
}

}  // namespace

PipeApplyResult pipeIntoApply(const std::vector<std::string>& senderArgv,
                              const extent::ApplyOptions& opts, std::chrono::milliseconds timeout,
                              std::stop_token stop) {
  PipeApplyResult res;
  if (senderArgv.empty()) {
    res.applied = invalidError("no sender command");
    return res;
  }
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    res.applied = extent::sysError("pipe", errno);
    return res;
  }
  if (::pipe2(err, O_CLOEXEC) != 0) {
    res.applied = extent::sysError("pipe", errno);
    ::close(out[0]);
    ::close(out[1]);
    return res;
  }
  extent::Fd outR(out[0]), outW(out[1]), errR(err[0]), errW(err[1]);

  pid_t pid = -1;
  int rc = spawnSender(senderArgv, outW.get(), errW.get(), &pid);
  outW.reset();
  errW.reset();
  if (rc != 0) {
    res.applied = terminalError("cannot start " + senderArgv[0] + ": " + std::strerror(rc));
    return res;
  }
  res.started = true;

  // stderr: read to the end by its own thread (the sender could block on a full stderr pipe).
  std::string errText;
  std::thread errReader([&errText, fd = errR.get()] {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      errText.append(buf, static_cast<size_t>(n));
      if (errText.size() > 2 * kErrTail) errText.erase(0, errText.size() - kErrTail);
    }
  });

  // The watchdog: stop request or timeout → the sender's process group is terminated.
  std::mutex mu;
  std::condition_variable_any cv;
  bool finished = false;
  bool stoppedFlag = false, timedOutFlag = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> g(mu);
    const auto deadline = timeout.count() > 0 ? std::chrono::steady_clock::now() + timeout
                                              : std::chrono::steady_clock::time_point::max();
    while (!finished) {
      if (stop.stop_requested()) {
        stoppedFlag = true;
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        timedOutFlag = true;
        break;
      }
      cv.wait_for(g, std::chrono::milliseconds(100), [&] { return finished; });
    }
    if (finished) return;
    ::kill(-pid, SIGTERM);
    if (!cv.wait_for(g, std::chrono::seconds(2), [&] { return finished; })) ::kill(-pid, SIGKILL);
  });

  const uint64_t read0 = extent::storageReadBytes();
  res.applied = extent::apply(opts, outR.get());
  res.drReadBytes = extent::storageReadBytes() - read0;
  outR.reset();  // a sender still writing ends on EPIPE

  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  {
    std::lock_guard<std::mutex> g(mu);
    finished = true;
  }
  cv.notify_all();
  watchdog.join();
  errReader.join();
  res.stopped = stoppedFlag;
  res.timedOut = timedOutFlag;
  if (WIFSIGNALED(status)) {
    res.senderSignaled = true;
  } else if (WIFEXITED(status)) {
    res.senderExit = WEXITSTATUS(status);
  }
  res.senderErr = errText.size() > kErrTail ? errText.substr(errText.size() - kErrTail) : errText;
  return res;
}

std::map<std::string, std::string> moverFields(std::string_view text, std::string_view prefix) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.substr(0, prefix.size()) == prefix) {
      std::istringstream in{std::string(line.substr(prefix.size()))};
      std::string kv;
      while (in >> kv) {
        size_t eq = kv.find('=');
        if (eq != std::string::npos) out[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      return out;
    }
    pos = end + 1;
  }
  return out;
}

}  // namespace ocpvdr::replication
