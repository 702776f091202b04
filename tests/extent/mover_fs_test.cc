// The extent mover on real file systems: loop-mounted XFS (reflink=1) and btrfs, as root.
// Primary export root and DR points directory live on separate loop file systems of the same
// type, as they would on two hosts. A writer thread does random 4–64 KiB writes into a sparse
// disk.img while cycles run; each cycle pauses it, records the image's checksum, runs snapshot +
// send + apply, and resumes it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "extent/applier.h"
#include "extent/fs.h"
#include "extent/loop_fs.h"
#include "extent/materialize.h"
#include "extent/sender.h"
#include "extent/snapshot.h"
#include "extent/stream.h"
#include "support/eventually.h"
#include "support/temp_dir.h"

namespace ocpvdr::extent {
namespace {

using ocpvdr::testing::LoopFs;
using ocpvdr::testing::shell;
using ocpvdr::testing::TempDir;
namespace fs = std::filesystem;

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB;

std::string hexSum(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return "missing:" + path;
  struct stat st {};
  ::fstat(fd.get(), &st);
  std::string buf(static_cast<size_t>(st.st_size), '\0');
  if (!buf.empty() && !preadAll(fd.get(), buf.data(), buf.size(), 0).ok()) return "unreadable";
  Sha256 s = sha256(reinterpret_cast<const uint8_t*>(buf.data()), buf.size());
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (uint8_t b : s) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

uint64_t allocatedBytes(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

// One line per entry: kind, mode, owner, mtime, size, content checksum or link target.
std::string treeDigest(const std::string& root) {
  std::map<std::string, std::string> lines;
  auto describe = [&](const std::string& rel, const fs::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return;
    std::string l = std::to_string(st.st_mode) + " " + std::to_string(st.st_uid) + ":" +
                    std::to_string(st.st_gid) + " mtime=" + std::to_string(st.st_mtim.tv_sec) +
                    "." + std::to_string(st.st_mtim.tv_nsec);
    if (S_ISREG(st.st_mode)) l += " size=" + std::to_string(st.st_size) + " " + hexSum(p);
    if (S_ISLNK(st.st_mode)) l += " -> " + fs::read_symlink(p).string();
    lines[rel] = l;
  };
  describe(".", root);
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    describe(it->path().lexically_relative(root).string(), it->path());
  }
  std::string out;
  for (auto& [k, v] : lines) out += k + " " + v + "\n";
  return out;
}

// Random 4–64 KiB writes (4 KiB aligned) into a file, pausable; records what it wrote since the
// last take().
class Writer {
 public:
  Writer(std::string path, uint64_t size, unsigned seed)
      : path_(std::move(path)), size_(size), rng_(seed) {}
  ~Writer() { stop(); }

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
      paused_ = false;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  // Returns once the writer sits between writes (nothing in flight).
  void pause() {
    std::unique_lock<std::mutex> g(mu_);
    paused_ = true;
    cv_.wait(g, [&] { return idle_ || stop_; });
  }
  void resume() {
    {
      std::lock_guard<std::mutex> g(mu_);
      paused_ = false;
    }
    cv_.notify_all();
  }
  // Resumes and returns after n more writes, paused again.
  void writeMore(uint64_t n) {
    std::unique_lock<std::mutex> g(mu_);
    uint64_t target = writes_ + n;
    paused_ = false;
    cv_.notify_all();
    cv_.wait(g, [&] { return writes_ >= target; });
    paused_ = true;
    cv_.wait(g, [&] { return idle_; });
  }
  // Bytes covered by the writes since the last call (union of the ranges).
  uint64_t takeChangedBytes() {
    std::lock_guard<std::mutex> g(mu_);
    uint64_t total = 0;
    uint64_t end = 0;
    std::sort(ranges_.begin(), ranges_.end());
    for (auto [off, len] : ranges_) {
      uint64_t s = std::max(off, end);
      if (off + len > s) total += off + len - s;
      end = std::max(end, off + len);
    }
    ranges_.clear();
    return total;
  }

 private:
  void run() {
    Fd fd(::open(path_.c_str(), O_WRONLY | O_CLOEXEC));
    std::string buf(64 * KiB, '\0');
    for (;;) {
      {
        std::unique_lock<std::mutex> g(mu_);
        idle_ = true;
        cv_.notify_all();
        cv_.wait(g, [&] { return !paused_ || stop_; });
        if (stop_) return;
        idle_ = false;
      }
      uint64_t len = (1 + rng_() % 16) * 4 * KiB;
      uint64_t off = (rng_() % ((size_ - len) / (4 * KiB))) * 4 * KiB;
      for (size_t i = 0; i < len; i += 8) {
        uint64_t v = rng_();
        std::memcpy(&buf[i], &v, 8);
      }
      ASSERT_TRUE(pwriteAll(fd.get(), buf.data(), len, off).ok());
      std::lock_guard<std::mutex> g(mu_);
      ranges_.emplace_back(off, len);
      ++writes_;
      cv_.notify_all();
    }
  }

  std::string path_;
  uint64_t size_;
  std::mt19937_64 rng_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool paused_ = true, idle_ = false, stop_ = false;
  uint64_t writes_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> ranges_;
};

class MoverFs : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto p = LoopFs::create(GetParam(), 1024 * MiB);
    if (!p.ok() && p.error().kind == ErrorKind::NotFound) GTEST_SKIP() << p.error().message;
    ASSERT_TRUE(p.ok()) << p.error().describe();
    primary_ = std::move(p).value();
    auto d = LoopFs::create(GetParam(), 1024 * MiB);
    ASSERT_TRUE(d.ok()) << d.error().describe();
    dr_ = std::move(d).value();
    root_ = primary_->mountPoint() + "/export";
    pvDir_ = root_ + "/pv-a";
    points_ = dr_->mountPoint() + "/points/pv-a";
    fs::create_directories(pvDir_);
  }

  // send into a file (the "wire"), then apply it. Returns the applied point id.
  struct Cycle {
    SendReport sent;
    Result<ApplyReport> applied = invalidError("not run");
    std::string streamFile;
  };
  Cycle cycle(const std::string& base, const ApplyOptions* applyOpts = nullptr) {
    Cycle c;
    c.streamFile = wire_.str() + "/stream-" + std::to_string(n_++);
    Fd out(::open(c.streamFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    auto s = send({root_, "pv-a", pvDir_, base, "", false}, out.get());
    EXPECT_TRUE(s.ok()) << s.error().describe();
    if (!s.ok()) return c;
    c.sent = *s;
    c.applied = applyFile(c.streamFile, applyOpts);
    return c;
  }
  Result<ApplyReport> applyFile(const std::string& file, const ApplyOptions* o = nullptr) {
    Fd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    ApplyOptions opts;
    if (o) opts = *o;
    opts.pointsDir = points_;
    return apply(opts, in.get());
  }
  std::string pointTree(const std::string& id) { return points_ + "/" + id + "/tree"; }
  std::vector<std::string> points() { return listPoints(points_).valueOr({}); }
  // Every name in the points directory not hidden by a leading '.': what a reader would take for
  // a point (stricter than listPoints, which also wants the `point` file).
  std::vector<std::string> visible() {
    std::vector<std::string> v;
    for (auto& e : fs::directory_iterator(points_))
      if (e.path().filename().string()[0] != '.') v.push_back(e.path().filename().string());
    std::sort(v.begin(), v.end());
    return v;
  }
  bool partialLeft() {
    for (auto& e : fs::directory_iterator(points_))
      if (e.path().filename().string().find(".partial") != std::string::npos) return true;
    return false;
  }

  std::unique_ptr<LoopFs> primary_, dr_;
  std::string root_, pvDir_, points_;
  TempDir wire_{"ocpvdr-extent-wire"};
  int n_ = 0;
};

TEST_P(MoverFs, EveryPointIsTheImageAtItsDataTimeAndIncrementalsSendOnlyTheChanges) {
  const std::string img = pvDir_ + "/disk.img";
  const uint64_t size = 256 * MiB;
  ASSERT_EQ(shell("truncate -s " + std::to_string(size) + " " + img), 0);
  Writer w(img, size, 7);
  w.start();
  w.writeMore(400);  // ~13 MiB scattered over a 256 MiB sparse image
  std::map<std::string, std::string> sumAt;
  std::string base;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) w.writeMore(60);
    uint64_t changed = w.takeChangedBytes();
    std::string sum = hexSum(img);  // the writer is paused: this is the image at the data time
    Cycle c = cycle(base);
    w.resume();  // the writer runs while we check this cycle
    ASSERT_TRUE(c.applied.ok()) << c.applied.error().describe();
    EXPECT_EQ(c.applied->baseId, base);
    sumAt[c.sent.snapshotId] = sum;
    if (i == 0) {
      // No base: exactly the allocated extents.
      EXPECT_EQ(c.sent.dataBytes, c.sent.allocatedBytes);
      EXPECT_LT(c.sent.allocatedBytes, size / 4) << "the image is sparse";
    } else {
      EXPECT_GE(c.sent.dataBytes, changed) << "cycle " << i;
      EXPECT_LE(c.sent.dataBytes, 2 * changed + MiB)
          << "cycle " << i << ": sent " << c.sent.dataBytes << " for " << changed;
      EXPECT_LE(c.sent.streamBytes, c.sent.dataBytes + c.sent.dataBytes / 100 + 64 * KiB);
    }
    // Sparse stays sparse: DR allocates about what the primary's snapshot holds.
    uint64_t prim =
        allocatedBytes(root_ + "/.ocpv-dr/snapshots/pv-a/" + c.sent.snapshotId + "/tree/disk.img");
    uint64_t drAlloc = allocatedBytes(pointTree(c.sent.snapshotId) + "/disk.img");
    EXPECT_LE(drAlloc, prim + prim / 10 + 2 * MiB) << "cycle " << i;
    EXPECT_GE(drAlloc + 2 * MiB, prim - prim / 10) << "cycle " << i;
    base = c.sent.snapshotId;
    w.pause();
  }
  w.stop();
  // Every point still holds its own data time's image (later points did not disturb it).
  ASSERT_EQ(points().size(), 4u);
  for (auto& [id, sum] : sumAt) EXPECT_EQ(hexSum(pointTree(id) + "/disk.img"), sum) << id;
  // The primary keeps only the base DR acknowledged and the newest snapshot.
  EXPECT_LE(listSnapshots(root_ + "/.ocpv-dr/snapshots/pv-a").valueOr({}).size(), 2u);
}

TEST_P(MoverFs, ShrinkGrowDeleteRenameModesOwnersTimesComeOutRight) {
  auto write = [&](const std::string& rel, uint64_t off, uint64_t len, char c) {
    std::string p = pvDir_ + "/" + rel;
    Fd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    std::string buf(len, c);
    ASSERT_TRUE(pwriteAll(fd.get(), buf.data(), len, off).ok());
  };
  fs::create_directories(pvDir_ + "/a/deep");
  write("a/f1", 0, 300 * KiB, 'a');
  write("f2", 1 * MiB, 128 * KiB, 'b');
  write("empty", 0, 0, 'x');
  write("gone", 0, 10 * KiB, 'g');
  fs::create_directories(pvDir_ + "/d2");
  write("d2/inner", 0, 5000, 'i');
  fs::create_symlink("a/f1", pvDir_ + "/link");
  ASSERT_EQ(::chown((pvDir_ + "/a/f1").c_str(), 1000, 1001), 0);
  Cycle c1 = cycle("");
  ASSERT_TRUE(c1.applied.ok()) << c1.applied.error().describe();
  const std::string digest1 = treeDigest(pvDir_);
  EXPECT_EQ(treeDigest(pointTree(c1.sent.snapshotId)), digest1);

  ASSERT_EQ(::truncate((pvDir_ + "/a/f1").c_str(), 10 * KiB + 3), 0);  // shrinks
  fs::rename(pvDir_ + "/a/f1", pvDir_ + "/a/deep/g1");                 // and moves
  write("f2", 3 * MiB, 64 * KiB, 'c');                                 // grows
  {
    Fd fd(::open((pvDir_ + "/f2").c_str(), O_WRONLY | O_CLOEXEC));  // hole punched mid-file
    ASSERT_TRUE(punchHole(fd.get(), 1 * MiB, 64 * KiB).ok());
  }
  fs::remove(pvDir_ + "/gone");
  fs::remove_all(pvDir_ + "/d2");
  write("d2", 0, 100, 'd');  // a directory became a file
  fs::remove(pvDir_ + "/link");
  fs::create_symlink("a/deep/g1", pvDir_ + "/link");
  ASSERT_EQ(::chmod((pvDir_ + "/f2").c_str(), 04750), 0);
  ASSERT_EQ(::chown((pvDir_ + "/f2").c_str(), 4321, 8765), 0);
  ASSERT_EQ(::lchown((pvDir_ + "/link").c_str(), 77, 78), 0);
  ASSERT_EQ(::chmod((pvDir_ + "/a").c_str(), 0710), 0);
  struct timespec ts[2] = {{1600000000, 5}, {1500000000, 123456789}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (pvDir_ + "/empty").c_str(), ts, 0), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (pvDir_ + "/link").c_str(), ts, AT_SYMLINK_NOFOLLOW), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, (pvDir_ + "/a").c_str(), ts, 0), 0);

  Cycle c2 = cycle(c1.sent.snapshotId);
  ASSERT_TRUE(c2.applied.ok()) << c2.applied.error().describe();
  EXPECT_EQ(c2.applied->removed, 2u) << "gone and a/f1 (d2's content went with d2)";
  EXPECT_EQ(treeDigest(pointTree(c2.sent.snapshotId)), treeDigest(pvDir_));
  EXPECT_EQ(treeDigest(pointTree(c1.sent.snapshotId)), digest1) << "the older point is untouched";
  // The punched hole is a hole at DR too.
  EXPECT_LE(allocatedBytes(pointTree(c2.sent.snapshotId) + "/f2"),
            allocatedBytes(pvDir_ + "/f2") + 256 * KiB);
  // Only the changes went: f2's 64 KiB tail, g1's 10 KiB (a new path), d2's 100 bytes.
  EXPECT_LE(c2.sent.dataBytes, 64 * KiB + 12 * KiB + 4 * KiB);
}

TEST_P(MoverFs, AFailedOrTruncatedApplyLeavesThePreviousPointAndNoVisiblePartial) {
  const std::string img = pvDir_ + "/disk.img";
  ASSERT_EQ(shell("truncate -s 32M " + img), 0);
  Writer w(img, 32 * MiB, 3);
  w.start();
  w.writeMore(100);
  Cycle c1 = cycle("");
  ASSERT_TRUE(c1.applied.ok()) << c1.applied.error().describe();
  const std::string sum1 = hexSum(pointTree(c1.sent.snapshotId) + "/disk.img");
  const std::string digest1 = treeDigest(pointTree(c1.sent.snapshotId));
  w.writeMore(50);
  w.stop();

  for (std::string phase : {"cloned", "entry disk.img", "trailer", "before-rename"}) {
    ApplyOptions o;
    o.hook = [&](std::string_view p) -> Status {
      if (p == phase) return terminalError("injected failure at " + phase);
      return {};
    };
    Cycle c = cycle(c1.sent.snapshotId, &o);
    ASSERT_FALSE(c.applied.ok()) << phase;
    EXPECT_NE(c.applied.error().message.find("discarded"), std::string::npos);
    EXPECT_EQ(points(), std::vector<std::string>{c1.sent.snapshotId}) << phase;
    EXPECT_EQ(visible(), std::vector<std::string>{c1.sent.snapshotId}) << phase;
    EXPECT_FALSE(partialLeft()) << phase;
    EXPECT_EQ(treeDigest(pointTree(c1.sent.snapshotId)), digest1) << phase;
  }

  // A sender killed mid-stream: the applier sees a truncated stream.
  Fd out(::open((wire_.str() + "/full").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  auto s = send({root_, "pv-a", pvDir_, c1.sent.snapshotId, "", false}, out.get());
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(::truncate((wire_.str() + "/full").c_str(), static_cast<off_t>(s->streamBytes / 2)), 0);
  auto a = applyFile(wire_.str() + "/full");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("truncated"), std::string::npos) << a.error().message;
  EXPECT_EQ(points(), std::vector<std::string>{c1.sent.snapshotId});
  EXPECT_FALSE(partialLeft());
  EXPECT_EQ(hexSum(pointTree(c1.sent.snapshotId) + "/disk.img"), sum1);

  // And the next cycle completes.
  Cycle ok = cycle(c1.sent.snapshotId);
  ASSERT_TRUE(ok.applied.ok()) << ok.applied.error().describe();
  EXPECT_EQ(treeDigest(pointTree(ok.sent.snapshotId)), treeDigest(pvDir_));
}

TEST_P(MoverFs, AKilledApplyProcessLeavesNoVisiblePointAndTheNextApplyCleansUp) {
  const std::string img = pvDir_ + "/disk.img";
  ASSERT_EQ(shell("truncate -s 64M " + img), 0);
  ASSERT_EQ(shell("dd if=/dev/urandom of=" + img + " bs=1M count=8 conv=notrunc status=none"), 0);
  Cycle c1 = cycle("");
  ASSERT_TRUE(c1.applied.ok());
  const std::string digest1 = treeDigest(pointTree(c1.sent.snapshotId));
  ASSERT_EQ(
      shell("dd if=/dev/urandom of=" + img + " bs=1M count=4 seek=20 conv=notrunc status=none"), 0);
  const std::string file = wire_.str() + "/s2";
  Fd out(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  auto s = send({root_, "pv-a", pvDir_, c1.sent.snapshotId, "", false}, out.get());
  ASSERT_TRUE(s.ok());
  std::string bytes(s->streamBytes, '\0');
  Fd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(preadAll(in.get(), bytes.data(), bytes.size(), 0).ok());

  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  const std::string mover = ocpvdr::testing::binaryPath("src/extent/ocpv-dr-mover").string();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[0], 0);
    ::close(p[0]);
    ::close(p[1]);
    ::execl(mover.c_str(), mover.c_str(), "apply", "--points", points_.c_str(), nullptr);
    ::_exit(127);
  }
  ::close(p[0]);
  ASSERT_TRUE(writeAll(p[1], bytes.data(), bytes.size() / 2).ok());
  const std::string partial = points_ + "/." + s->snapshotId + ".partial";
  EXPECT_TRUE(ocpvdr::testing::eventually([&] { return fs::exists(partial + "/tree/disk.img"); }));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(p[1]);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(points(), std::vector<std::string>{c1.sent.snapshotId});
  EXPECT_EQ(visible(), std::vector<std::string>{c1.sent.snapshotId});
  EXPECT_EQ(treeDigest(pointTree(c1.sent.snapshotId)), digest1);
  // The same stream again: the stale partial is removed and the point completes.
  auto a = applyFile(file);
  ASSERT_TRUE(a.ok()) << a.error().describe();
  EXPECT_FALSE(partialLeft());
  EXPECT_EQ(hexSum(pointTree(s->snapshotId) + "/disk.img"), hexSum(img));
}

TEST_P(MoverFs, ACorruptedRangeDiscardsThePointWithAClearError) {
  const std::string img = pvDir_ + "/disk.img";
  ASSERT_EQ(shell("truncate -s 16M " + img), 0);
  ASSERT_EQ(
      shell("dd if=/dev/urandom of=" + img + " bs=1M count=2 seek=3 conv=notrunc status=none"), 0);
  const std::string file = wire_.str() + "/s";
  {
    Fd out(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(send({root_, "pv-a", pvDir_, "", "", false}, out.get()).ok());
  }
  // Walk the frames to the first data frame and flip one byte of its data.
  std::string bytes(static_cast<size_t>(fs::file_size(file)), '\0');
  {
    Fd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(preadAll(in.get(), bytes.data(), bytes.size(), 0).ok());
  }
  uint32_t hdr = 0;
  std::memcpy(&hdr, &bytes[12], 4);
  size_t pos = 16 + hdr;
  while (pos < bytes.size() && bytes[pos] != 'D') {
    uint32_t len = 0;
    std::memcpy(&len, &bytes[pos + 1], 4);
    pos += 5 + len;
  }
  ASSERT_LT(pos, bytes.size());
  bytes[pos + 5 + 44 + 1000] ^= 0x40;
  {
    Fd out(::open(file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    ASSERT_TRUE(writeAll(out.get(), bytes.data(), bytes.size()).ok());
  }
  auto a = applyFile(file);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().kind, ErrorKind::Terminal);
  EXPECT_NE(a.error().message.find("checksum mismatch in \"disk.img\""), std::string::npos)
      << a.error().message;
  EXPECT_NE(a.error().message.find("discarded"), std::string::npos);
  EXPECT_TRUE(points().empty());
  EXPECT_FALSE(partialLeft());
}

TEST_P(MoverFs, GuardsRefuseEscapesAndAnEmptySource) {
  std::string out = wire_.str() + "/g";
  Fd o(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  auto sendDir = [&](const std::string& dir, bool allowEmpty = false) {
    return send({root_, "pv-a", dir, "", "", allowEmpty}, o.get());
  };
  auto expectRefused = [&](const Result<SendReport>& r, const std::string& verdict) {
    ASSERT_FALSE(r.ok()) << verdict;
    EXPECT_EQ(r.error().kind, ErrorKind::Refused) << r.error().describe();
    EXPECT_EQ(r.error().message.rfind(verdict + " ", 0), 0u) << r.error().message;
  };
  expectRefused(sendDir(pvDir_), "empty");
  EXPECT_TRUE(sendDir(pvDir_, true).ok());
  expectRefused(sendDir(root_ + "/nope"), "missing");
  fs::create_directories(primary_->mountPoint() + "/outside");
  ASSERT_EQ(shell("echo x > " + primary_->mountPoint() + "/outside/f"), 0);
  expectRefused(sendDir(primary_->mountPoint() + "/outside"), "escape");
  fs::create_directory_symlink(primary_->mountPoint() + "/outside", root_ + "/sneaky");
  expectRefused(sendDir(root_ + "/sneaky"), "escape");
  expectRefused(sendDir(root_ + "/pv-a/../../outside"), "escape");
  expectRefused(sendDir(root_ + "/.ocpv-dr/snapshots/pv-a"), "escape");
  expectRefused(sendDir(root_), "escape");
  ASSERT_EQ(shell("echo x > " + root_ + "/plainfile"), 0);
  expectRefused(sendDir(root_ + "/plainfile"), "notdir");
  // A symlink inside the PV directory is carried as a link, never followed.
  ASSERT_EQ(shell("echo data > " + pvDir_ + "/f"), 0);
  fs::create_symlink(primary_->mountPoint() + "/outside/f", pvDir_ + "/ln");
  auto r = send({root_, "pv-a", pvDir_, "", "", false}, o.get());
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->dataBytes, 5u) << "only f's bytes, not the link target's";
  // A base the primary does not have: a full stream.
  auto full = send({root_, "pv-a", pvDir_, "20000101T000000.000000000Z", "", false}, o.get());
  ASSERT_TRUE(full.ok());
  EXPECT_TRUE(full->baseId.empty());
}

// materialize(): the DR PV directory brought to a point, per file by reflink + rename; a planted
// symlink is replaced, never written through; the points stay as they were.
TEST_P(MoverFs, MaterializeBringsTheDrDirectoryToAPointWithoutTouchingThePoints) {
  auto write = [&](const std::string& path, uint64_t off, uint64_t len, char c) {
    Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
    std::string buf(len, c);
    ASSERT_TRUE(pwriteAll(fd.get(), buf.data(), len, off).ok());
  };
  fs::create_directories(pvDir_ + "/a/deep");
  ASSERT_EQ(shell("truncate -s 64M " + pvDir_ + "/disk.img"), 0);
  write(pvDir_ + "/disk.img", 8 * MiB, 2 * MiB, 'd');
  write(pvDir_ + "/a/f1", 0, 300 * KiB, 'a');
  write(pvDir_ + "/a/deep/g", 0, 10 * KiB, 'g');  // above btrfs' inline limit (inline extents
                                                  // are always cloned again)
  write(pvDir_ + "/empty", 0, 0, 'x');
  fs::create_symlink("a/f1", pvDir_ + "/link");
  ASSERT_EQ(::chown((pvDir_ + "/a/f1").c_str(), 1000, 1001), 0);
  ASSERT_EQ(::chmod((pvDir_ + "/a").c_str(), 0750), 0);
  Cycle c1 = cycle("");
  ASSERT_TRUE(c1.applied.ok()) << c1.applied.error().describe();
  const std::string tree1 = pointTree(c1.sent.snapshotId);
  const std::string point1 = treeDigest(tree1);

  // The DR directory as a previous failover or sync may have left it: a stale file, a file where
  // the point has a directory, and "a" a symlink to a directory outside that must not be written.
  const std::string target = dr_->mountPoint() + "/pvs/pv-a";
  const std::string outside = dr_->mountPoint() + "/outside";
  fs::create_directories(target);
  fs::create_directories(outside + "/deep");
  write(outside + "/f1", 0, 5, 'o');
  const std::string outsideBefore = treeDigest(outside);
  fs::create_symlink(outside, target + "/a");
  write(target + "/stale", 0, 100, 's');
  write(target + "/link", 0, 3, 'l');  // a file where the point has a symlink

  auto m1 = materialize(tree1, target);
  ASSERT_TRUE(m1.ok()) << m1.error().describe();
  EXPECT_EQ(treeDigest(target), point1);
  EXPECT_EQ(treeDigest(tree1), point1) << "the point is untouched";
  EXPECT_EQ(treeDigest(outside), outsideBefore) << "nothing written through the planted symlink";
  EXPECT_EQ(m1->filesCloned, 4u);
  EXPECT_EQ(m1->removed, 1u) << "stale";
  EXPECT_LE(allocatedBytes(target + "/disk.img"), allocatedBytes(pvDir_ + "/disk.img") + 256 * KiB)
      << "sparse stays sparse";

  // Unchanged: nothing is cloned again, only a FIEMAP per file.
  auto m2 = materialize(tree1, target);
  ASSERT_TRUE(m2.ok()) << m2.error().describe();
  EXPECT_EQ(m2->filesCloned, 0u);
  EXPECT_EQ(m2->filesUnchanged, 4u);
  EXPECT_EQ(treeDigest(target), point1);

  // Written at DR (a VM ran there after a failover) with its mtime put back: the extents no
  // longer match the point's, so it is cloned again.
  struct stat before {};
  ASSERT_EQ(::stat((target + "/disk.img").c_str(), &before), 0);
  write(target + "/disk.img", 20 * MiB, 64 * KiB, 'v');
  struct timespec ts[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (target + "/disk.img").c_str(), ts, 0), 0);
  auto m3 = materialize(tree1, target);
  ASSERT_TRUE(m3.ok()) << m3.error().describe();
  EXPECT_EQ(m3->filesCloned, 1u);
  EXPECT_EQ(treeDigest(target), point1);

  // A newer point: changes, a deletion and a rename come out right, the old point stays.
  write(pvDir_ + "/disk.img", 30 * MiB, 64 * KiB, 'n');
  fs::rename(pvDir_ + "/a/f1", pvDir_ + "/a/deep/f1");
  fs::remove(pvDir_ + "/empty");
  Cycle c2 = cycle(c1.sent.snapshotId);
  ASSERT_TRUE(c2.applied.ok()) << c2.applied.error().describe();
  auto m4 = materialize(pointTree(c2.sent.snapshotId), target);
  ASSERT_TRUE(m4.ok()) << m4.error().describe();
  EXPECT_EQ(treeDigest(target), treeDigest(pvDir_));
  EXPECT_EQ(treeDigest(target), treeDigest(pointTree(c2.sent.snapshotId)));
  EXPECT_EQ(treeDigest(tree1), point1);
  // And back to the older point (failover --point).
  auto m5 = materialize(tree1, target);
  ASSERT_TRUE(m5.ok()) << m5.error().describe();
  EXPECT_EQ(treeDigest(target), point1);

  // A target holding the points is refused (removing what the point lacks would reach them).
  auto bad = materialize(tree1, dr_->mountPoint());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::Invalid);
  EXPECT_EQ(treeDigest(tree1), point1);
}

INSTANTIATE_TEST_SUITE_P(Fs, MoverFs, ::testing::Values("xfs", "btrfs"),
                         [](const auto& info) { return info.param; });

TEST(MoverExt4, NoReflinkIsRefusedSoTheRsyncMoverRuns) {
  auto p = LoopFs::create("ext4", 256 * MiB);
  if (!p.ok() && p.error().kind == ErrorKind::NotFound) GTEST_SKIP() << p.error().message;
  ASSERT_TRUE(p.ok());
  const std::string root = (*p)->mountPoint() + "/export";
  fs::create_directories(root + "/pv");
  ASSERT_EQ(shell("echo x > " + root + "/pv/f"), 0);
  TempDir t("ocpvdr-extent-ext4");
  Fd o(::open((t.str() + "/s").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  auto r = send({root, "pv", root + "/pv", "", "", false}, o.get());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Refused);
  EXPECT_NE(r.error().message.find("cannot reflink"), std::string::npos) << r.error().message;
  EXPECT_FALSE(fs::exists(root + "/.ocpv-dr/snapshots/pv/.partial")) << "no partial snapshot";
}

TEST(MoverBinary, IsStaticAndSpeaksVersion) {
  const std::string mover = ocpvdr::testing::binaryPath("src/extent/ocpv-dr-mover").string();
  TempDir t("ocpvdr-extent-bin");
  ASSERT_EQ(shell("readelf -l -d " + mover + " > " + t.str() + "/elf.txt 2>&1"), 0);
  shell("ldd " + mover + " > " + t.str() + "/ldd.txt 2>&1");
  ASSERT_EQ(shell(mover + " version > " + t.str() + "/v.txt"), 0);
  auto slurp = [&](const std::string& n) {
    std::ifstream f(t.str() + "/" + n);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
#if !defined(__SANITIZE_ADDRESS__)
  // No program interpreter and no dynamic section: nothing for ld.so to load.
  EXPECT_EQ(slurp("elf.txt").find("INTERP"), std::string::npos) << slurp("elf.txt");
  EXPECT_NE(slurp("elf.txt").find("There is no dynamic section"), std::string::npos);
  EXPECT_NE(slurp("ldd.txt").find("not a dynamic executable"), std::string::npos)
      << slurp("ldd.txt");
#endif
  EXPECT_EQ(slurp("v.txt").rfind("ocpv-dr-mover ", 0), 0u);
  EXPECT_NE(slurp("v.txt").find(" stream 1"), std::string::npos);
}

TEST(MoverBinary, SendPipedIntoApplyAndTheGuardExit) {
  if (::geteuid() != 0) GTEST_SKIP() << "root";
  const std::string mover = ocpvdr::testing::binaryPath("src/extent/ocpv-dr-mover").string();
  TempDir t("ocpvdr-extent-pipe");
  auto fsys = LoopFs::create("xfs", 512 * MiB);
  if (!fsys.ok()) GTEST_SKIP() << fsys.error().message;
  const std::string root = (*fsys)->mountPoint() + "/export";
  fs::create_directories(root + "/pv");
  EXPECT_EQ(shell(mover + " send --root " + root + " --pv pv --dir " + root + "/pv > " + t.str() +
                  "/s 2> " + t.str() + "/err"),
            97);
  std::ifstream e(t.str() + "/err");
  std::string line;
  std::getline(e, line);
  EXPECT_EQ(line.rfind("OCPVDR-GUARD empty ", 0), 0u) << line;
  ASSERT_EQ(shell("head -c 3000000 /dev/urandom > " + root + "/pv/f"), 0);
  ASSERT_EQ(
      shell(mover + " send --root " + root + " --pv pv --dir " + root + "/pv 2>/dev/null | " +
            mover + " apply --points " + (*fsys)->mountPoint() + "/points > " + t.str() + "/out"),
      0);
  auto pts = listPoints((*fsys)->mountPoint() + "/points");
  ASSERT_TRUE(pts.ok());
  ASSERT_EQ(pts->size(), 1u);
  EXPECT_EQ(hexSum((*fsys)->mountPoint() + "/points/" + (*pts)[0] + "/tree/f"),
            hexSum(root + "/pv/f"));
}

}  // namespace
}  // namespace ocpvdr::extent
