// RealProcessRunner against real programs (sh, cat, head, env, pwd): exit status, signals,
// stdin/stdout plumbing, environment, timeouts that kill the whole process group, bounded
// capture, line callbacks, stop tokens, start failures and concurrency.
#include "core/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "support/temp_dir.h"

namespace ocpvdr {
namespace {

using namespace std::chrono_literals;
using ocpvdr::testing::TempDir;

ProcessSpec sh(const std::string& script) {
  ProcessSpec s;
  s.argv = {"sh", "-c", script};
  s.timeout = 60s;  // a safety net; no test should come near it
  return s;
}

ProcessResult mustRun(const ProcessSpec& spec, std::stop_token stop = {}) {
  RealProcessRunner runner;
  auto r = runner.run(spec, stop);
  if (!r.ok()) ADD_FAILURE() << r.error().describe();
  return r.ok() ? std::move(r).value() : ProcessResult{};
}

// Live (non-zombie) processes whose process group is `pgid`, from /proc.
std::vector<int> liveMembersOfGroup(int pgid) {
  std::vector<int> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state = 0;
    int ppid = 0, pgrp = 0;
    rest >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z' && state != 'X') out.push_back(std::stoi(name));
  }
  return out;
}

// A killed process closes its descriptors before it turns into a zombie, so right after a run a
// member may still be finishing its exit: allow that a bounded moment.
std::vector<int> survivorsOfGroup(int pgid) {
  auto deadline = std::chrono::steady_clock::now() + 2s;
  auto live = liveMembersOfGroup(pgid);
  while (!live.empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
    live = liveMembersOfGroup(pgid);
  }
  return live;
}

bool isAlive(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  if (!f) return false;
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  return close != std::string::npos && stat.size() > close + 2 && stat[close + 2] != 'Z';
}

int countOpenFds() {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)e;
    ++n;
  }
  return n;
}

TEST(ProcessTest, ExitCodeAndOutputs) {
  auto r = mustRun(sh("echo out; echo err >&2; exit 7"));
  EXPECT_FALSE(r.signaled);
  EXPECT_EQ(r.exitCode, 7);
  EXPECT_FALSE(r.success());
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_GT(r.pid, 0);
  EXPECT_TRUE(mustRun(sh("true")).success());
}

TEST(ProcessTest, KilledBySignal) {
  auto r = mustRun(sh("kill -KILL $$"));
  EXPECT_TRUE(r.signaled);
  EXPECT_EQ(r.termSignal, SIGKILL);
  EXPECT_FALSE(r.success());
  EXPECT_FALSE(r.timedOut);
}

TEST(ProcessTest, FiveMegabyteStdinRoundTripWithoutDeadlock) {
  // cat writes back while we are still writing: only a runner that services both pipes at
  // once finishes this (each pipe buffers just 64 KiB).
  std::string data(5 * 1024 * 1024, '\0');
  std::mt19937 rng(42);
  for (auto& c : data) c = static_cast<char>(rng());
  ProcessSpec s;
  s.argv = {"cat"};
  s.stdinData = data;
  s.maxCapture = 8 * 1024 * 1024;
  s.timeout = 60s;
  auto r = mustRun(s);
  EXPECT_TRUE(r.success());
  EXPECT_FALSE(r.outTruncated);
  ASSERT_EQ(r.out.size(), data.size());
  EXPECT_TRUE(r.out == data);
}

TEST(ProcessTest, ChildThatIgnoresStdinDoesNotBreakTheRunner) {
  // The child exits without reading; our writes hit EPIPE, which must not raise SIGPIPE here.
  ProcessSpec s = sh("exit 0");
  s.stdinData = std::string(4 * 1024 * 1024, 'x');
  auto r = mustRun(s);
  EXPECT_TRUE(r.success());
}

TEST(ProcessTest, NoStdinMeansDevNull) {
  auto r = mustRun(sh("cat; echo done"));
  EXPECT_EQ(r.out, "done\n");
}

TEST(ProcessTest, EnvironmentInheritedWithOverridesOrClean) {
  ::setenv("OCPVDR_TEST_PARENT", "from-parent", 1);
  ProcessSpec s = sh("printf '%s|%s' \"$OCPVDR_TEST_PARENT\" \"$OCPVDR_TEST_CHILD\"");
  s.env = {{"OCPVDR_TEST_CHILD", "from-spec"}};
  EXPECT_EQ(mustRun(s).out, "from-parent|from-spec");

  ProcessSpec clean;
  clean.argv = {"env"};  // found through our PATH even though the child has none
  clean.inheritEnv = false;
  clean.env = {{"A", "1"}, {"B", "two words"}};
  auto r = mustRun(clean);
  EXPECT_EQ(r.out, "A=1\nB=two words\n");

  ProcessSpec badName = sh("true");
  badName.env = {{"A=B", "x"}};
  RealProcessRunner runner;
  auto bad = runner.run(badName);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::Invalid);
}

TEST(ProcessTest, WorkingDirectory) {
  TempDir dir;
  ProcessSpec s;
  s.argv = {"pwd", "-P"};
  s.cwd = dir.str();
  EXPECT_EQ(mustRun(s).out, std::filesystem::canonical(dir.path()).string() + "\n");

  s.cwd = (dir / "missing").string();
  RealProcessRunner runner;
  auto r = runner.run(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Terminal);
  EXPECT_NE(r.error().message.find((dir / "missing").string()), std::string::npos);
}

TEST(ProcessTest, TimeoutKillsTheWholeGroupIncludingGrandchild) {
  std::string grandchild;
  ProcessSpec s = sh("sleep 100 & echo $!; sleep 100");
  s.timeout = 300ms;
  // A long grace makes "SIGTERM sufficed" measurable with a bound a loaded machine keeps.
  s.killGrace = 20s;
  s.onStdoutLine = [&](std::string_view l) { grandchild = std::string(l); };
  auto r = mustRun(s);
  EXPECT_TRUE(r.timedOut);
  EXPECT_FALSE(r.stopped);
  EXPECT_TRUE(r.signaled);
  EXPECT_EQ(r.termSignal, SIGTERM);
  EXPECT_GE(r.elapsed, 300ms);
  EXPECT_LT(r.elapsed, 10s);  // SIGTERM sufficed; no wait for the kill grace
  ASSERT_FALSE(grandchild.empty());
  EXPECT_EQ(survivorsOfGroup(r.pid), std::vector<int>{});
  EXPECT_FALSE(isAlive(std::stoi(grandchild))) << "background sleep survived";
}

// "R", "S", "Z", ... of /proc/<pid>/stat; "" when the process is gone.
std::string procState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return "";
  auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() ? "" : line.substr(close + 2, 1);
}

// A process that runs a child through the runner and is then SIGKILLed (serve killed while its
// rsync writes into a DR directory) must not leave the child running: PR_SET_PDEATHSIG.
TEST(ProcessTest, AChildDiesWithTheProcessThatStartedIt) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t runnerPid = ::fork();
  ASSERT_GE(runnerPid, 0);
  if (runnerPid == 0) {
    ::close(fds[0]);
    RealProcessRunner r;
    ProcessSpec spec;
    spec.argv = {"/bin/sh", "-c", "echo $$; exec sleep 120"};
    spec.onStdoutLine = [&](std::string_view line) {
      std::string l(line);
      l += "\n";
      (void)!::write(fds[1], l.data(), l.size());
    };
    (void)r.run(spec);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string got;
  char buf[64];
  for (ssize_t n; got.find('\n') == std::string::npos && (n = ::read(fds[0], buf, sizeof buf)) > 0;)
    got.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  ASSERT_NE(got.find('\n'), std::string::npos) << "the child never said its pid";
  const pid_t child = static_cast<pid_t>(std::stol(got));
  ASSERT_FALSE(procState(child).empty()) << "the child " << child << " runs";
  ::kill(runnerPid, SIGKILL);
  ::waitpid(runnerPid, nullptr, 0);
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    const std::string st = procState(child);
    gone = st.empty() || st == "Z" || st == "X";
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!gone) ::kill(child, SIGKILL);  // do not leave it behind either way
  EXPECT_TRUE(gone) << "the child outlived the process that started it";
}

TEST(ProcessTest, SigkillAfterGraceWhenTermIsIgnored) {
  // trap '' TERM makes the shell and the sleep it starts ignore SIGTERM.
  ProcessSpec s = sh("trap '' TERM; sleep 100 & sleep 100");
  s.timeout = 200ms;
  s.killGrace = 300ms;
  auto r = mustRun(s);
  EXPECT_TRUE(r.timedOut);
  EXPECT_TRUE(r.signaled);
  EXPECT_EQ(r.termSignal, SIGKILL);
  EXPECT_GE(r.elapsed, 500ms);
  EXPECT_LT(r.elapsed, 5s);
  EXPECT_EQ(survivorsOfGroup(r.pid), std::vector<int>{});
}

TEST(ProcessTest, StopKillsAMemberThatIgnoresTermAndLeftThePipes) {
  // The background member ignores TERM and writes nowhere we read, so neither pipe EOF nor the
  // leader's death shows it is still there; the runner must still kill it.
  std::string member;
  ProcessSpec s = sh("(trap '' TERM; exec sleep 100 >/dev/null 2>&1) & echo $!; exec sleep 100");
  s.timeout = 200ms;
  s.killGrace = 10s;
  s.onStdoutLine = [&](std::string_view l) { member = std::string(l); };
  auto r = mustRun(s);
  EXPECT_TRUE(r.timedOut);
  EXPECT_EQ(r.termSignal, SIGTERM);
  EXPECT_LT(r.elapsed, 5s);  // no wait for the 10 s grace: the leader died and the pipes closed
  ASSERT_FALSE(member.empty());
  EXPECT_EQ(survivorsOfGroup(r.pid), std::vector<int>{});
}

TEST(ProcessTest, BackgroundChildHoldingThePipesDoesNotHangTheRun) {
  // The program exits at once but leaves a child that inherited stdout. Waiting for EOF would
  // take as long as that child lives; the runner gives up on the pipes shortly after the exit.
  std::string bg;
  ProcessSpec s = sh("sleep 20 & echo $!; echo done");
  s.onStdoutLine = [&](std::string_view l) {
    if (bg.empty()) bg = std::string(l);
  };
  auto r = mustRun(s);
  EXPECT_TRUE(r.success());
  EXPECT_FALSE(r.timedOut);
  EXPECT_TRUE(r.out.ends_with("done\n")) << r.out;
  EXPECT_LT(r.elapsed, 5s);
  ASSERT_FALSE(bg.empty());
  ::kill(std::stoi(bg), SIGKILL);  // not the runner's to kill (no timeout or stop); clean up
}

TEST(ProcessTest, BoundedCaptureKeepsDrainingSoTheChildFinishes) {
  ProcessSpec s;
  s.argv = {"head", "-c", "3000000", "/dev/zero"};
  s.maxCapture = 1000;
  s.timeout = 60s;
  auto r = mustRun(s);
  EXPECT_TRUE(r.success());  // not blocked on a full pipe, not killed
  EXPECT_EQ(r.out.size(), 1000u);
  EXPECT_TRUE(r.outTruncated);
  EXPECT_FALSE(r.errTruncated);

  ProcessSpec e = sh("head -c 200000 /dev/zero >&2; echo fine");
  e.maxCapture = 100;
  auto re = mustRun(e);
  EXPECT_EQ(re.err.size(), 100u);
  EXPECT_TRUE(re.errTruncated);
  EXPECT_EQ(re.out, "fine\n");
  EXPECT_FALSE(re.outTruncated);
}

TEST(ProcessTest, LineCallbacksSplitOnNewlineAndCarriageReturn) {
  std::vector<std::string> out, err;
  ProcessSpec s = sh("printf 'a\\nb\\r\\nc\\rd'; printf 'x\\n\\ny' >&2");
  s.onStdoutLine = [&](std::string_view l) { out.emplace_back(l); };
  s.onStderrLine = [&](std::string_view l) { err.emplace_back(l); };
  auto r = mustRun(s);
  EXPECT_EQ(out, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(err, (std::vector<std::string>{"x", "", "y"}));
  EXPECT_EQ(r.out, "a\nb\r\nc\rd");  // capture is byte-exact
}

TEST(ProcessTest, LinesArriveWhileTheProgramRunsAndStopTokenEndsIt) {
  // The first line is delivered while the child is still sleeping; the callback then requests
  // stop, which must end the run long before the sleep would.
  std::stop_source stop;
  std::vector<std::string> lines;
  ProcessSpec s = sh("echo first; sleep 30; echo second");
  s.onStdoutLine = [&](std::string_view l) {
    lines.emplace_back(l);
    stop.request_stop();
  };
  auto r = mustRun(s, stop.get_token());
  EXPECT_TRUE(r.stopped);
  EXPECT_FALSE(r.timedOut);
  EXPECT_TRUE(r.signaled);
  EXPECT_LT(r.elapsed, 5s);
  EXPECT_EQ(lines, std::vector<std::string>{"first"});
  EXPECT_EQ(survivorsOfGroup(r.pid), std::vector<int>{});
}

TEST(ProcessTest, StopFromAnotherThread) {
  std::stop_source stop;
  std::thread stopper;
  ProcessSpec s = sh("echo started; exec sleep 30");
  s.onStdoutLine = [&](std::string_view) { stopper = std::thread([&] { stop.request_stop(); }); };
  auto r = mustRun(s, stop.get_token());
  stopper.join();
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.termSignal, SIGTERM);
  EXPECT_LT(r.elapsed, 5s);
}

TEST(ProcessTest, MissingProgramIsTerminalAndNamesIt) {
  RealProcessRunner runner;
  ProcessSpec s;
  s.argv = {"ocpvdr-no-such-program-xyz", "--flag"};
  auto r = runner.run(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Terminal);
  EXPECT_NE(r.error().message.find("ocpvdr-no-such-program-xyz"), std::string::npos);

  s.argv = {"/nonexistent/dir/prog"};
  r = runner.run(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Terminal);
  EXPECT_NE(r.error().message.find("/nonexistent/dir/prog"), std::string::npos);
  EXPECT_NE(r.error().message.find("No such file"), std::string::npos) << r.error().message;

  TempDir dir;
  auto notExec = dir.write("script.sh", "#!/bin/sh\necho hi\n");
  s.argv = {notExec.string()};
  r = runner.run(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Terminal);
  EXPECT_NE(r.error().message.find("Permission denied"), std::string::npos) << r.error().message;

  s.argv = {};
  r = runner.run(s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
}

TEST(ProcessTest, ParentDescriptorsDoNotLeakIntoChild) {
  int leaky = ::open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  ASSERT_GE(leaky, 3);
  auto r = mustRun(sh("ls /proc/$$/fd"));
  ::close(leaky);
  std::istringstream in(r.out);
  std::vector<std::string> fds;
  for (std::string l; std::getline(in, l);) fds.push_back(l);
  EXPECT_EQ(std::count(fds.begin(), fds.end(), std::to_string(leaky)), 0) << r.out;
}

TEST(ProcessTest, FiftyConcurrentRunsFromEightThreads) {
  const int before = countOpenFds();
  std::atomic<int> ok{0}, next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      RealProcessRunner runner;
      for (int i = next++; i < 50; i = next++) {
        ProcessSpec s;
        s.argv = {"sh", "-c", "cat; echo \"$0-$1\" >&2", "run", std::to_string(i)};
        s.stdinData = std::string(100000 + i, 'q');
        s.timeout = 60s;
        auto r = runner.run(s);
        if (r.ok() && r->success() && r->out.size() == static_cast<std::size_t>(100000 + i) &&
            r->err == "run-" + std::to_string(i) + "\n") {
          ++ok;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 50);
  EXPECT_EQ(countOpenFds(), before);  // every pipe, pidfd and eventfd closed
}

// Streaming stdout (onStdoutFd): the callback reads the pipe itself, in the calling thread; the
// runner still captures stderr, feeds stdin, and the timeout ends the whole group — which ends the
// stream the callback reads.
std::string readAll(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

TEST(ProcessStreamTest, TheCallbackReadsStdoutWhileStderrAndStdinAreHandled) {
  ProcessSpec s = sh("cat; echo done >&2; exit 3");
  s.stdinData = std::string(3 << 20, 'x');
  std::string got;
  std::thread::id callbackThread;
  s.onStdoutFd = [&](int fd) {
    callbackThread = std::this_thread::get_id();
    got = readAll(fd);
  };
  auto r = mustRun(s);
  EXPECT_EQ(callbackThread, std::this_thread::get_id());
  EXPECT_EQ(got.size(), 3u << 20);
  EXPECT_TRUE(r.out.empty()) << "streamed, not captured";
  EXPECT_EQ(r.err, "done\n");
  EXPECT_EQ(r.exitCode, 3);
}

TEST(ProcessStreamTest, TimeoutKillsTheGroupAndEndsTheStream) {
  ProcessSpec s = sh("sleep 100 & echo $!; exec sleep 100");
  s.timeout = 300ms;
  std::string got;
  s.onStdoutFd = [&](int fd) { got = readAll(fd); };  // EOF only once the group is dead
  auto r = mustRun(s);
  EXPECT_TRUE(r.timedOut);
  EXPECT_TRUE(r.signaled);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(survivorsOfGroup(r.pid), std::vector<int>{});
  EXPECT_FALSE(isAlive(std::stoi(got))) << "background sleep survived";
}

TEST(ProcessStreamTest, ACallbackThatStopsReadingEndsAWriterOnEpipeAndStopWorks) {
  // The child writes forever; the callback reads a little and returns: the closed pipe ends it.
  ProcessSpec s = sh("exec yes");
  std::string head;
  s.onStdoutFd = [&](int fd) {
    char buf[16];
    head.assign(buf, static_cast<std::size_t>(std::max<ssize_t>(0, ::read(fd, buf, sizeof buf))));
  };
  auto r = mustRun(s);
  EXPECT_FALSE(head.empty());
  EXPECT_TRUE(r.signaled);
  EXPECT_EQ(r.termSignal, SIGPIPE);
  EXPECT_FALSE(r.timedOut);

  std::stop_source stop;
  ProcessSpec t = sh("exec sleep 100");
  t.onStdoutFd = [&](int fd) {
    stop.request_stop();
    (void)readAll(fd);
  };
  auto q = mustRun(t, stop.get_token());
  EXPECT_TRUE(q.stopped);
  EXPECT_LT(q.elapsed, 10s);
}

TEST(ShellQuoteTest, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(shellQuote("rsync"), "rsync");
  EXPECT_EQ(shellQuote("/exports/pv-a/disk.img"), "/exports/pv-a/disk.img");
  EXPECT_EQ(shellQuote(""), "''");
  EXPECT_EQ(shellQuote("a b"), "'a b'");
  EXPECT_EQ(shellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(shellQuote("A=B"), "'A=B'");
  EXPECT_EQ(shellQuote("~root"), "'~root'");
}

TEST(ShellQuoteTest, ShellReadsBackTheExactArgument) {
  for (std::string arg :
       {"plain", "", "with space", "quote'in", "''", "$(touch /tmp/x)", "`id`", "back\\slash",
        "new\nline", "glob*?[a]", "semi;colon|pipe&", "\"double\"", "-n", "tab\there"}) {
    auto r = mustRun(sh("printf '%s' " + shellQuote(arg)));
    EXPECT_EQ(r.out, arg) << "quoted as " << shellQuote(arg);
  }
}

}  // namespace
}  // namespace ocpvdr
