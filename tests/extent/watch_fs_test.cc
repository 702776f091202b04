// `ocpv-dr-mover watch` on a loop-mounted XFS, both backends (fanotify, inotify): writes in two PV
// directories give changed records for exactly those; a burst folds into one record; the cap
// flushes while writes continue; a forced queue overflow (a small max_queued_events, the watcher
// stopped during a burst) gives a rescan. Root (loop mounts, fanotify, the sysctls).
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "core/files.h"
#include "extent/loop_fs.h"
#include "extent/watch.h"
#include "support/eventually.h"
#include "support/spawned.h"
#include "support/temp_dir.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using extent::WatchRecord;

std::int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A sysctl set for the test's duration (restore() or the destructor puts the old value back).
class Sysctl {
 public:
  Sysctl(std::string path, const std::string& value) : path_(std::move(path)) {
    old_ = readFile(path_).valueOr("");
    std::ofstream(path_) << value << "\n";
  }
  ~Sysctl() { restore(); }
  void restore() {
    if (!old_.empty()) std::ofstream(path_) << old_;
    old_.clear();
  }

 private:
  std::string path_, old_;
};

class WatchFsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto f = LoopFs::create("xfs", 300ull << 20);
    if (!f.ok()) GTEST_SKIP() << f.error().message;
    lfs = std::move(f).value();
    root = fs::path(lfs->mountPoint()) / "ocp";
    for (const char* d : {"a", "b", "c", "marker", ".ocpv-dr"}) fs::create_directories(root / d);
    fs::create_directories(root / "b/deep/er");
    fs::create_directories(fs::path(lfs->mountPoint()) / "elsewhere");
    log = (fs::path(lfs->mountPoint()) / "watch.log").string();
  }
  void TearDown() override { proc.reset(); }

  void startWatch(int settleMs, int capMs) {
    proc = std::make_unique<Spawned>(
        std::vector<std::string>{binaryPath("src/extent/ocpv-dr-mover").string(), "watch", "--root",
                                 root.string(), "--settle", std::to_string(settleMs), "--cap",
                                 std::to_string(capMs), "--heartbeat", "500", "--backend",
                                 GetParam()},
        log);
    ASSERT_TRUE(eventually([&] { return count(WatchRecord::Type::Rescan, "", "start") == 1; }, 10s))
        << proc->log();
    ASSERT_NE(proc->log().find("backend=" + GetParam()), std::string::npos) << proc->log();
  }

  std::vector<WatchRecord> records() {
    std::vector<WatchRecord> out;
    std::istringstream in(proc->log());
    for (std::string l; std::getline(in, l);)
      if (auto r = extent::parseWatchRecord(l)) out.push_back(*r);
    return out;
  }
  int count(WatchRecord::Type t, const std::string& pvdir, const std::string& reason = "") {
    int n = 0;
    for (const auto& r : records())
      if (r.type == t && r.pvdir == pvdir && (reason.empty() || r.reason == reason)) ++n;
    return n;
  }
  std::multiset<std::string> changedDirs() {
    std::multiset<std::string> out;
    for (const auto& r : records())
      if (r.type == WatchRecord::Type::Changed) {
        EXPECT_EQ(r.root, root.string());
        out.insert(r.pvdir);
      }
    return out;
  }
  // A write to the marker PV, then its record: every record of an earlier change came before it
  // (the same settle delay, an earlier change).
  void fence(int n) {
    std::ofstream(root / "marker/m", std::ios::app) << "x";
    ASSERT_TRUE(eventually([&] { return count(WatchRecord::Type::Changed, "marker") == n; }, 10s))
        << proc->log();
  }

  std::unique_ptr<LoopFs> lfs;
  fs::path root;
  std::string log;
  std::unique_ptr<Spawned> proc;
};

TEST_P(WatchFsTest, WritesInTwoPvDirsGiveRecordsForExactlyThose) {
  startWatch(200, 5000);
  if (IsSkipped()) return;
  const std::int64_t before = nowNs();
  // Ignored: outside the root, the mover's state dir, the root itself.
  std::ofstream(fs::path(lfs->mountPoint()) / "elsewhere/x") << "x";
  std::ofstream(root / ".ocpv-dr/state") << "x";
  fs::permissions(root, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  std::ofstream(root / "a/disk.img") << "data";
  std::ofstream(root / "b/deep/er/file") << "data";
  fence(1);
  EXPECT_EQ(changedDirs(), (std::multiset<std::string>{"a", "b", "marker"}));
  for (const auto& r : records()) {
    if (r.type == WatchRecord::Type::Changed) {
      EXPECT_GE(r.timeNs, before);
      EXPECT_LE(r.timeNs, nowNs());
    }
  }
  // A directory created after the start is watched too (inotify adds it), and a PV dir made.
  fs::create_directories(root / "c/new/sub");
  std::ofstream(root / "c/new/sub/f") << "x";
  fs::create_directory(root / "d");
  fence(2);
  EXPECT_EQ(changedDirs(), (std::multiset<std::string>{"a", "b", "marker", "c", "d", "marker"}));
}

TEST_P(WatchFsTest, ABurstFoldsIntoOneRecord) {
  startWatch(400, 60'000);
  if (IsSkipped()) return;
  {
    std::ofstream f(root / "a/disk.img");
    for (int i = 0; i < 500; ++i) f << std::string(4096, 'x') << std::flush;
  }
  for (int i = 0; i < 50; ++i) std::ofstream(root / ("a/f" + std::to_string(i))) << i;
  fence(1);
  EXPECT_EQ(count(WatchRecord::Type::Changed, "a"), 1) << proc->log();
}

TEST_P(WatchFsTest, TheCapFlushesWhileWritesContinue) {
  startWatch(2000, 300);
  if (IsSkipped()) return;
  // Writes every 50 ms never leave the settle delay of quiet: only the cap can flush them. The
  // writer goes on until it has seen three records (or gives up after 10 s).
  std::ofstream f(root / "a/disk.img");
  const auto end = std::chrono::steady_clock::now() + 10s;
  int seen = 0;
  while (std::chrono::steady_clock::now() < end &&
         (seen = count(WatchRecord::Type::Changed, "a")) < 3) {
    f << "x" << std::flush;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GE(seen, 3) << proc->log();
}

TEST_P(WatchFsTest, AQueueOverflowMeansRescan) {
  const std::string sysctl = GetParam() == "fanotify" ? "/proc/sys/fs/fanotify/max_queued_events"
                                                      : "/proc/sys/fs/inotify/max_queued_events";
  if (!fs::exists(sysctl)) GTEST_SKIP() << sysctl << " missing";
  {
    // The queue's size is fixed when the watcher starts; other processes get the default back
    // as soon as it is running.
    Sysctl small(sysctl, "64");
    startWatch(200, 5000);
    small.restore();
  }
  if (IsSkipped()) return;
  ASSERT_EQ(::kill(proc->pid(), SIGSTOP), 0);
  for (int i = 0; i < 2000; ++i) std::ofstream(root / ("b/burst" + std::to_string(i))) << i;
  ASSERT_EQ(::kill(proc->pid(), SIGCONT), 0);
  ASSERT_TRUE(
      eventually([&] { return count(WatchRecord::Type::Rescan, "", "overflow") >= 1; }, 10s))
      << proc->log();
  for (const auto& r : records()) {
    if (r.type == WatchRecord::Type::Rescan && r.reason == "overflow") {
      EXPECT_EQ(r.root, root.string());
    }
  }
}

TEST_P(WatchFsTest, TheWatcherEndsWhenItsReaderIsGone) {
  // stdout a pipe whose reader closes: the next heartbeat fails and the watcher exits (a cut ssh
  // channel leaves no watcher behind on the primary).
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(p[1], 1);
    ::close(p[0]);
    ::close(p[1]);
    std::string bin = binaryPath("src/extent/ocpv-dr-mover").string();
    std::string r = root.string();
    ::execl(bin.c_str(), bin.c_str(), "watch", "--root", r.c_str(), "--heartbeat", "100",
            "--backend", GetParam().c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(p[1]);
  char buf[256];
  ASSERT_GT(::read(p[0], buf, sizeof buf), 0);  // it is running
  ::close(p[0]);
  int st = 0;
  ASSERT_TRUE(eventually([&] { return ::waitpid(pid, &st, WNOHANG) == pid; }, 10s));
  EXPECT_TRUE(WIFEXITED(st));
}

INSTANTIATE_TEST_SUITE_P(Backends, WatchFsTest, ::testing::Values("fanotify", "inotify"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace ocpvdr::testing
