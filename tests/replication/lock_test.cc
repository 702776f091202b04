// Per-key flock locks: exclusion across threads and processes, busy answers, waiting on the
// injected clock, release on holder death.
#include "replication/lock.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "replication/ssh.h"
#include "replication/volume_lock.h"
#include "support/temp_dir.h"

namespace ocpvdr::replication {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

TEST(FileLock, SecondHolderIsBusyUntilReleased) {
  TempDir tmp;
  RealClock clock;
  auto a = FileLock::acquire(tmp.str(), "pvc-1", 0ms, clock);
  ASSERT_TRUE(a.ok());
  auto b = FileLock::acquire(tmp.str(), "pvc-1", 0ms, clock);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().kind, ErrorKind::Retryable);
  EXPECT_NE(b.error().message.find("busy"), std::string::npos);
  auto other = FileLock::acquire(tmp.str(), "pvc-2", 0ms, clock);
  EXPECT_TRUE(other.ok());
  a->release();
  EXPECT_TRUE(FileLock::acquire(tmp.str(), "pvc-1", 0ms, clock).ok());
}

// What failover takes for a volume (volume_lock.h) is the very lock a sync of that PV holds: the
// per-PV key in the lock directory next to the catalog (replication.lock_dir unset).
TEST(VolumeLock, IsThePerPvLockOfReplication) {
  TempDir tmp;
  RealClock clock;
  config::Config cfg;
  cfg.catalog.path = tmp.str() + "/catalog.db";
  cfg.replication.lockDir.clear();
  ASSERT_EQ(effectiveLockDir(cfg), tmp.str() + "/locks");
  auto held = lockVolume(cfg, "pvc-1", 0ms, clock);
  ASSERT_TRUE(held.ok()) << held.error().message;
  auto sync = FileLock::acquire(tmp.str() + "/locks", "pvc-1", 0ms, clock);
  ASSERT_FALSE(sync.ok());
  EXPECT_EQ(sync.error().kind, ErrorKind::Retryable);
  EXPECT_TRUE(FileLock::acquire(tmp.str() + "/locks", "pvc-2", 0ms, clock).ok());
  held->release();
  EXPECT_TRUE(FileLock::acquire(tmp.str() + "/locks", "pvc-1", 0ms, clock).ok());
}

// Fencing reaches the primary NFS host with replication's ssh settings and shares its control
// sockets (under the lock directory).
TEST(VolumeLock, PrimarySshSharesReplicationsControlDir) {
  config::Config cfg;
  cfg.catalog.path = "/var/lib/ocpv-dr/catalog.db";
  cfg.replication.lockDir = "/var/lib/ocpv-dr/locks";
  cfg.primary.nfsServer = "nfs.primary.example";
  const SshCommand ssh = primarySsh(cfg);
  EXPECT_EQ(ssh.controlDir(), "/var/lib/ocpv-dr/locks/ssh");
  EXPECT_NE(ssh.destination().find("nfs.primary.example"), std::string::npos);
}

TEST(FileLock, WaiterGetsTheLockWhenTheHolderLetsGo) {
  TempDir tmp;
  ManualClock clock;
  auto held = FileLock::acquire(tmp.str(), "k", 0ms, clock);
  ASSERT_TRUE(held.ok());
  std::optional<Result<FileLock>> got;
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    got.emplace(FileLock::acquire(tmp.str(), "k", 10s, clock));
    done = true;
  });
  while (clock.sleepers() == 0) std::this_thread::yield();
  clock.advance(1s);  // still held: the waiter polls again and keeps waiting
  EXPECT_FALSE(done);
  held->release();
  while (!done) {
    if (clock.sleepers() > 0) clock.advance(100ms);
    std::this_thread::yield();
  }
  waiter.join();
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->ok());
}

TEST(FileLock, WaiterGivesUpAtTheDeadline) {
  TempDir tmp;
  ManualClock clock;
  auto held = FileLock::acquire(tmp.str(), "k", 0ms, clock);
  std::optional<Result<FileLock>> got;
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    got.emplace(FileLock::acquire(tmp.str(), "k", 2s, clock));
    done = true;
  });
  int advances = 0;
  while (!done) {
    if (clock.sleepers() == 0) {
      std::this_thread::yield();
      continue;
    }
    clock.advance(100ms);
    ++advances;
  }
  waiter.join();
  EXPECT_GE(advances, 20);  // it waited (on the manual clock) for the whole 2 s
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(got->ok());
  EXPECT_EQ(got->error().kind, ErrorKind::Retryable);
}

TEST(FileLock, OtherProcessHoldsAndItsDeathReleases) {
  TempDir tmp;
  RealClock clock;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto l = FileLock::acquire(tmp.str(), "pvc-x", 0ms, clock);
    char c = l.ok() ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    ::pause();
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  EXPECT_FALSE(FileLock::acquire(tmp.str(), "pvc-x", 0ms, clock).ok());
  ::kill(pid, SIGKILL);  // a crashed holder must not leave a stale lock
  ::waitpid(pid, nullptr, 0);
  EXPECT_TRUE(FileLock::acquire(tmp.str(), "pvc-x", 0ms, clock).ok());
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(FileLock, KeysMustBePlainNames) {
  TempDir tmp;
  RealClock clock;
  for (const char* bad : {"", ".", "..", "a/b", "../x"})
    EXPECT_EQ(FileLock::acquire(tmp.str(), bad, 0ms, clock).error().kind, ErrorKind::Invalid)
        << bad;
}

}  // namespace
}  // namespace ocpvdr::replication
