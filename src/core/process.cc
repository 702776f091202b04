// RealProcessRunner: fork+exec into a new process group (the child dies with the thread that
// started it: PR_SET_PDEATHSIG), one poll loop that feeds stdin and
// drains stdout/stderr together (so neither side can block the other), and a group-wide
// SIGTERM → SIGKILL escalation on timeout or stop.
#include "core/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>

extern char** environ;

namespace ocpvdr {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Output still arriving after the program itself exited comes from a background process that
// inherited the pipes; it is read for this long and then abandoned (the runner does not wait
// for daemons).
constexpr std::chrono::milliseconds kDrainAfterExit{500};
// Without a pidfd the loop polls for the child's exit at this interval.
constexpr std::chrono::milliseconds kExitPollInterval{20};
// A line longer than this is handed to the callback in pieces so its buffer stays bounded.
constexpr std::size_t kMaxLine = 1 << 20;

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    reset(o.release());
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Keeps our pipe ends off 0/1/2 so a dup2 onto a standard descriptor in the child never
// becomes a no-op that leaves FD_CLOEXEC set (possible when the parent closed its stdin).
int moveAboveStdio(int fd) {
  if (fd > 2) return fd;
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  ::close(fd);
  return moved;
}

struct Pipe {
  UniqueFd read, write;
};

Result<Pipe> makePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return terminalError(std::string("creating pipe: ") + std::strerror(errno));
  }
  Pipe p{UniqueFd(moveAboveStdio(fds[0])), UniqueFd(moveAboveStdio(fds[1]))};
  if (!p.read || !p.write) return terminalError("creating pipe: out of descriptors");
  return p;
}

void setNonBlocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// Splits output into lines for the callbacks; "\r\n" counts as one terminator.
class LineSplitter {
 public:
  explicit LineSplitter(const std::function<void(std::string_view)>& cb) : cb_(cb) {}
  void feed(std::string_view data) {
    if (!cb_) return;
    while (!data.empty()) {
      if (lastWasCr_ && data.front() == '\n') data.remove_prefix(1);
      lastWasCr_ = false;
      if (data.empty()) break;
      std::size_t end = data.find_first_of("\r\n");
      if (end == std::string_view::npos) {
        buf_.append(data);
        if (buf_.size() >= kMaxLine) flush();
        return;
      }
      buf_.append(data.substr(0, end));
      lastWasCr_ = data[end] == '\r';
      data.remove_prefix(end + 1);
      flush();
    }
  }
  void finish() {
    if (cb_ && !buf_.empty()) flush();
  }

 private:
  void flush() {
    cb_(buf_);
    buf_.clear();
  }
  const std::function<void(std::string_view)>& cb_;
  std::string buf_;
  bool lastWasCr_ = false;
};

struct OutputStream {
  UniqueFd fd;
  std::string* capture;
  bool* truncated;
  std::size_t max;
  LineSplitter lines;
  bool eof = false;

  // Reads whatever is available; never blocks (the descriptor is non-blocking).
  void drain() {
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n > 0) {
        std::string_view chunk(buf, static_cast<std::size_t>(n));
        std::size_t room = max > capture->size() ? max - capture->size() : 0;
        if (chunk.size() > room) *truncated = true;
        capture->append(chunk.substr(0, std::min(room, chunk.size())));
        lines.feed(chunk);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      close();  // EOF or a read error: either way nothing more will come
      return;
    }
  }
  void close() {
    if (eof) return;
    eof = true;
    fd.reset();
    lines.finish();
  }
};

// Blocks SIGPIPE in this thread while we write the child's stdin, so a child that exits
// without reading turns into EPIPE rather than killing us; a SIGPIPE raised meanwhile is
// consumed before the mask is restored.
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    wasPending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~SigpipeBlock() {
    if (!wasPending_) {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGPIPE);
      timespec zero{0, 0};
      while (sigtimedwait(&set, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t old_;
  bool wasPending_ = false;
};

bool isExecutableFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

Result<std::string> resolveProgram(const std::string& prog, const std::string& pathVar) {
  if (prog.find('/') != std::string::npos) return prog;
  std::size_t pos = 0;
  while (pos <= pathVar.size()) {
    std::size_t colon = pathVar.find(':', pos);
    if (colon == std::string::npos) colon = pathVar.size();
    std::string dir = pathVar.substr(pos, colon - pos);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + prog;
    if (isExecutableFile(candidate)) return candidate;
    pos = colon + 1;
  }
  return terminalError("starting " + prog + ": program not found in PATH");
}

// Kills and reaps the child if run() leaves early (an exception from a line callback), so no
// process or zombie outlives the call.
struct ChildGuard {
  pid_t pid = -1;
  bool reaped = false;
  ~ChildGuard() {
    if (pid <= 0 || reaped) return;
    ::kill(-pid, SIGKILL);
    int status;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
};

// --- the steps of RealProcessRunner::run ---------------------------------------------------

Status checkArgv(const ProcessSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return invalidError("running a process: empty argv");
  }
  const std::string& prog = spec.argv[0];
  for (const auto& a : spec.argv) {
    if (a.find('\0') != std::string::npos) {
      return invalidError("running " + prog + ": argument contains a NUL byte");
    }
  }
  return Status::success();
}

// argv/envp for posix_spawn: pointers into `v`, null-terminated.
std::vector<char*> cStrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The child's environment as KEY=VALUE strings, built before spawning (the child must not
// allocate).
Result<std::vector<std::string>> childEnvironment(const ProcessSpec& spec,
                                                  const std::string& prog) {
  std::map<std::string, std::string> envMap;
  if (spec.inheritEnv) {
    for (char** e = environ; e && *e; ++e) {
      std::string_view kv(*e);
      auto eq = kv.find('=');
      if (eq == std::string_view::npos) continue;
      envMap.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
  }
  for (const auto& [k, v] : spec.env) {
    if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos ||
        v.find('\0') != std::string::npos) {
      return invalidError("running " + prog + ": invalid environment variable name \"" + k + "\"");
    }
    envMap[k] = v;
  }
  std::vector<std::string> envStrings;
  envStrings.reserve(envMap.size());
  for (const auto& [k, v] : envMap) envStrings.push_back(k + "=" + v);
  return envStrings;
}

std::string childPathVar(const ProcessSpec& spec) {
  std::string pathVar;
  if (auto it = spec.env.find("PATH"); it != spec.env.end()) {
    pathVar = it->second;
  } else if (const char* p = ::getenv("PATH")) {
    pathVar = p;
  } else {
    pathVar = "/usr/local/bin:/usr/bin:/bin";
  }
  return pathVar;
}

Status checkWorkingDirectory(const ProcessSpec& spec, const std::string& prog) {
  if (!spec.cwd.empty()) {
    struct stat st {};
    if (::stat(spec.cwd.c_str(), &st) != 0) {
      return terminalError("starting " + prog + ": working directory " + spec.cwd + ": " +
                           std::strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
      return terminalError("starting " + prog + ": working directory " + spec.cwd +
                           " is not a directory");
    }
  }

  return Status::success();
}

// In the forked child, before exec: only async-signal-safe calls (no allocation). Returns the
// errno of the step that failed; on success it does not return.
[[noreturn]] void execChild(const ProcessSpec& spec, const char* program, char* const* argv,
                            char* const* envp, pid_t parent, const Pipe& inPipe,
                            const Pipe& outPipe, const Pipe& errPipe, int reportFd) {
  auto fail = [reportFd](int err) {
    (void)!::write(reportFd, &err, sizeof err);
    ::_exit(127);
  };
  // Default dispositions (the parent ignores SIGPIPE) and nothing blocked.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::setpgid(0, 0) != 0) fail(errno);
  // Dies with the thread that started it: a killed ocpv-dr (serve SIGKILLed while its rsync
  // runs, a lost Lease's process ended by its supervisor) leaves no orphan writing into DR
  // directories that the next active instance syncs. The parent may already be gone.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(errno);
  if (::getppid() != parent) ::_exit(127);
  if (spec.stdinData) {
    if (::dup2(inPipe.read.get(), 0) < 0) fail(errno);
  } else {
    int devNull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devNull < 0 || ::dup2(devNull, 0) < 0) fail(errno);
  }
  if (::dup2(outPipe.write.get(), 1) < 0 || ::dup2(errPipe.write.get(), 2) < 0) fail(errno);
  // Descriptors opened elsewhere in the process without O_CLOEXEC (by a library, say) must not
  // leak into the child; the report pipe (O_CLOEXEC) stays open until the exec.
  if (reportFd > 3) (void)::close_range(3, static_cast<unsigned>(reportFd) - 1, 0);
  (void)::close_range(static_cast<unsigned>(reportFd) + 1, ~0U, 0);
  if (!spec.cwd.empty() && ::chdir(spec.cwd.c_str()) != 0) fail(errno);
  ::execve(program, argv, envp);
  fail(errno);
  ::_exit(127);  // not reached: fail() exits
}

// Spawns `program` in a process group of its own, with the pipes as stdin/stdout/stderr. A fork
// rather than posix_spawn: the child must ask for PR_SET_PDEATHSIG before it execs, and
// posix_spawn has no step for that. A CLOEXEC pipe carries the errno of a failed exec (or chdir)
// back, so a missing program is still an error here and not an exit status 127 later.
Result<pid_t> spawnChild(const ProcessSpec& spec, const std::string& prog,
                         const std::string& program, std::vector<char*>& argvp,
                         std::vector<char*>& envp, Pipe& inPipe, Pipe& outPipe, Pipe& errPipe) {
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0)
    return terminalError("starting " + prog + ": pipe: " + std::strerror(errno));
  UniqueFd reportRead(report[0]), reportWrite(report[1]);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return terminalError("starting " + prog + ": fork: " + std::strerror(errno));
  if (pid == 0)
    execChild(spec, program.c_str(), argvp.data(), envp.data(), parent, inPipe, outPipe, errPipe,
              reportWrite.get());
  reportWrite.reset();
  int childErr = 0;
  ssize_t n;
  do {
    n = ::read(reportRead.get(), &childErr, sizeof childErr);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof childErr)) {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return terminalError("starting " + prog + " (" + program + "): " + std::strerror(childErr));
  }
  return pid;
}

// Writes what the child's stdin can take now; closes it once everything is written.
void feedStdin(UniqueFd& stdinFd, std::string_view& stdinLeft) {
  while (!stdinLeft.empty()) {
    std::size_t chunk = std::min<std::size_t>(stdinLeft.size(), 1 << 16);
    ssize_t w = ::write(stdinFd.get(), stdinLeft.data(), chunk);
    if (w > 0) {
      stdinLeft.remove_prefix(static_cast<std::size_t>(w));
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    stdinLeft = {};  // EPIPE: the child stopped reading; that is its business
  }
  if (stdinLeft.empty()) stdinFd.reset();
}

// The state of run()'s poll loop over a started child: its output streams and stdin, its pidfd,
// the stop wake-up, and the kill sequence (SIGTERM to the group on stop or timeout, SIGKILL
// after killGrace). The loop calls the steps in order: requestKill, escalateKill, finished,
// pollOnce, checkExited.
struct ChildWatch {
  ChildWatch(pid_t pid, const ProcessSpec& spec, ProcessResult& res, OutputStream (&streams)[2],
             UniqueFd& stdinFd, std::string_view& stdinLeft, UniqueFd& pidFd, UniqueFd& wakeFd,
             SteadyClock::time_point start)
      : pid(pid),
        spec(spec),
        res(res),
        streams(streams),
        stdinFd(stdinFd),
        stdinLeft(stdinLeft),
        pidFd(pidFd),
        wakeFd(wakeFd),
        hasDeadline(spec.timeout.count() > 0),
        deadline(start + spec.timeout) {}

  // A stop or the deadline: SIGTERM to the group, SIGKILL due after the grace period.
  void requestKill(SteadyClock::time_point now, const std::stop_token& stop) {
    if (killRequested) return;
    if (stop.stop_requested()) {
      res.stopped = killRequested = true;
    } else if (hasDeadline && now >= deadline) {
      res.timedOut = killRequested = true;
    }
    if (killRequested) {
      // The whole group: a shell's children, ssh under rsync.
      ::kill(-pid, SIGTERM);
      killAt = now + spec.killGrace;
      stdinFd.reset();
    }
  }

  bool outputOpen() const { return !streams[0].eof || !streams[1].eof; }

  // SIGKILL once the grace period is over, unless the child exited and its output is closed.
  void escalateKill(SteadyClock::time_point now) {
    if (killRequested && !killSent && now >= killAt && (!exited || outputOpen())) {
      ::kill(-pid, SIGKILL);
      killSent = true;
      killSentAt = now;
    }
  }

  SteadyClock::time_point abandonAt() const {
    return std::max(exitedAt, killSent ? killSentAt : exitedAt) + kDrainAfterExit;
  }

  // The child exited and its output is read to the end, or stragglers kept the pipes too long.
  bool finished(SteadyClock::time_point now) const {
    const bool open = outputOpen();
    if (exited && !open) return true;
    if (exited) {
      // Stragglers still hold the pipes. After a kill, wait for the SIGKILL to go out first.
      const bool mayAbandon = !killRequested || killSent;
      if (mayAbandon && now >= abandonAt()) return true;
    }
    return false;
  }

  // How long poll may wait: until the next deadline of the kill sequence or the drain.
  std::chrono::milliseconds pollWait(SteadyClock::time_point now) const {
    auto wait = std::chrono::milliseconds(60'000);
    auto until = [&](SteadyClock::time_point t) {
      auto d = std::chrono::ceil<std::chrono::milliseconds>(t - now);
      wait = std::min(wait, std::max(d, std::chrono::milliseconds(0)));
    };
    if (hasDeadline && !killRequested) until(deadline);
    if (killRequested && !killSent) until(killAt);
    if (exited) until(abandonAt());
    if (!pidFd && !exited) wait = std::min(wait, kExitPollInterval);
    return wait;
  }

  // One poll: reads the output, feeds stdin, empties the stop wake-up.
  Status pollOnce(SteadyClock::time_point now, const std::string& prog) {
    std::vector<pollfd> fds;
    enum Slot { kOut, kErr, kIn, kPid, kWake };
    std::vector<Slot> slots;
    for (int i = 0; i < 2; ++i) {
      if (!streams[i].eof) {
        fds.push_back({streams[i].fd.get(), POLLIN, 0});
        slots.push_back(i == 0 ? kOut : kErr);
      }
    }
    if (stdinFd) {
      fds.push_back({stdinFd.get(), POLLOUT, 0});
      slots.push_back(kIn);
    }
    if (pidFd && !exited) {
      fds.push_back({pidFd.get(), POLLIN, 0});
      slots.push_back(kPid);
    }
    if (wakeFd && !killRequested) {
      fds.push_back({wakeFd.get(), POLLIN, 0});
      slots.push_back(kWake);
    }

    int n = ::poll(fds.data(), fds.size(), static_cast<int>(pollWait(now).count()));
    if (n < 0 && errno != EINTR) {
      return terminalError(std::string("running ") + prog + ": poll: " + std::strerror(errno));
    }
    for (std::size_t i = 0; n > 0 && i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      switch (slots[i]) {
        case kOut:
          streams[0].drain();
          break;
        case kErr:
          streams[1].drain();
          break;
        case kIn:
          feedStdin(stdinFd, stdinLeft);
          break;
        case kPid:
          break;  // checked below
        case kWake: {
          std::uint64_t v;
          [[maybe_unused]] auto r = ::read(wakeFd.get(), &v, sizeof v);
          break;
        }
      }
    }
    return Status::success();
  }

  void checkExited() {
    if (exited) return;
    // WNOWAIT: the child stays a zombie until the end, so its pid (our process group id)
    // cannot be reused while we may still signal the group.
    siginfo_t si{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        si.si_pid == pid) {
      exited = true;
      exitedAt = SteadyClock::now();
      stdinFd.reset();
    }
  }

  void killGroupAfterTerm() const {
    if (killRequested && !killSent) {
      // The program died of SIGTERM, but a member that ignores TERM and no longer holds our
      // pipes would survive unnoticed; a timeout or stop ends the whole group. The leader is not
      // yet reaped, so the group id cannot have been reused.
      ::kill(-pid, SIGKILL);
    }
  }

  const pid_t pid;
  const ProcessSpec& spec;
  ProcessResult& res;
  OutputStream (&streams)[2];
  UniqueFd& stdinFd;
  std::string_view& stdinLeft;
  UniqueFd& pidFd;
  UniqueFd& wakeFd;
  // A plain time_point plus flag: GCC 12 misreports std::optional<time_point> as uninitialised.
  const bool hasDeadline;
  const SteadyClock::time_point deadline;
  bool killRequested = false, killSent = false, exited = false;
  SteadyClock::time_point killAt{}, exitedAt{}, killSentAt{};
};

void recordExitStatus(int status, ProcessResult& res) {
  if (WIFSIGNALED(status)) {
    res.signaled = true;
    res.termSignal = WTERMSIG(status);
  } else if (WIFEXITED(status)) {
    res.exitCode = WEXITSTATUS(status);
  }
}

// ProcessSpec::onStdoutFd: the callback reads the child's stdout in this thread while `watch`
// (stdin, stderr, timeout, stop) runs in a helper thread. A watch that fails kills the group,
// which ends the stream the callback reads; a callback that throws kills it too.
Status watchWhileStreaming(const ProcessSpec& spec, pid_t pid, UniqueFd& streamOut,
                           const std::function<Status()>& watch) {
  Status watched = Status::success();
  std::thread watcher([&] {
    watched = watch();
    if (!watched.ok()) ::kill(-pid, SIGKILL);
  });
  try {
    spec.onStdoutFd(streamOut.get());
  } catch (...) {
    streamOut.reset();
    ::kill(-pid, SIGKILL);
    watcher.join();
    throw;  // the caller's ChildGuard reaps
  }
  streamOut.reset();  // a child still writing ends on EPIPE
  watcher.join();
  return watched;
}

}  // namespace

Result<ProcessResult> RealProcessRunner::run(const ProcessSpec& spec, std::stop_token stop) {
  OCPVDR_TRY(checkArgv(spec));
  const std::string& prog = spec.argv[0];

  OCPVDR_ASSIGN_OR_RETURN(std::vector<std::string> envStrings, childEnvironment(spec, prog));
  std::vector<char*> envp = cStrings(envStrings);
  std::vector<std::string> argvCopy = spec.argv;
  std::vector<char*> argvp = cStrings(argvCopy);

  const std::string pathVar = childPathVar(spec);
  OCPVDR_ASSIGN_OR_RETURN(std::string program, resolveProgram(prog, pathVar));

  OCPVDR_TRY(checkWorkingDirectory(spec, prog));

  OCPVDR_ASSIGN_OR_RETURN(Pipe outPipe, makePipe());
  OCPVDR_ASSIGN_OR_RETURN(Pipe errPipe, makePipe());
  Pipe inPipe;
  if (spec.stdinData) {
    OCPVDR_ASSIGN_OR_RETURN(inPipe, makePipe());
  }

  const auto start = SteadyClock::now();
  OCPVDR_ASSIGN_OR_RETURN(pid_t pid,
                          spawnChild(spec, prog, program, argvp, envp, inPipe, outPipe, errPipe));
  ChildGuard guard{pid};

  outPipe.write.reset();
  errPipe.write.reset();
  inPipe.read.reset();

  ProcessResult res;
  res.pid = pid;
  // Streaming: the callback owns the stdout pipe; the loop sees no stdout (already at its end).
  UniqueFd streamOut;
  if (spec.onStdoutFd) streamOut = std::move(outPipe.read);
  static const std::function<void(std::string_view)> noLines;
  OutputStream streams[2] = {
      {std::move(outPipe.read), &res.out, &res.outTruncated, spec.maxCapture,
       LineSplitter(spec.onStdoutFd ? noLines : spec.onStdoutLine)},
      {std::move(errPipe.read), &res.err, &res.errTruncated, spec.maxCapture,
       LineSplitter(spec.onStderrLine)},
  };
  if (spec.onStdoutFd) streams[0].eof = true;
  for (auto& s : streams)
    if (s.fd) setNonBlocking(s.fd.get());

  UniqueFd stdinFd = std::move(inPipe.write);
  std::string_view stdinLeft = spec.stdinData ? std::string_view(*spec.stdinData) : "";
  if (stdinFd) {
    setNonBlocking(stdinFd.get());
    if (stdinLeft.empty()) stdinFd.reset();
  }

  UniqueFd pidFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  UniqueFd wakeFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  std::stop_callback onStop(stop, [&] {
    std::uint64_t one = 1;
    if (wakeFd) {
      [[maybe_unused]] auto n = ::write(wakeFd.get(), &one, sizeof one);
    }
  });

  ChildWatch w{pid, spec, res, streams, stdinFd, stdinLeft, pidFd, wakeFd, start};
  auto watch = [&]() -> Status {
    SigpipeBlock sigpipeBlock;  // in the thread that writes stdin
    for (;;) {
      const auto now = SteadyClock::now();
      w.requestKill(now, stop);
      w.escalateKill(now);
      if (w.finished(now)) return Status::success();
      OCPVDR_TRY(w.pollOnce(now, prog));
      w.checkExited();
    }
  };
  OCPVDR_TRY(spec.onStdoutFd ? watchWhileStreaming(spec, pid, streamOut, watch) : watch());
  w.killGroupAfterTerm();
  for (auto& s : streams) s.close();
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  guard.reaped = true;
  res.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
  recordExitStatus(status, res);
  return res;
}

std::string shellQuote(std::string_view arg) {
  // Words made only of these characters mean the same quoted or not; '=' and '~' are absent
  // because a bare word containing them can be an assignment or a tilde expansion.
  auto safe = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '/' || c == ':' || c == ',' || c == '@' || c == '%' || c == '+' ||
           c == '-';
  };
  if (!arg.empty() && std::all_of(arg.begin(), arg.end(), safe)) return std::string(arg);
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

}  // namespace ocpvdr
