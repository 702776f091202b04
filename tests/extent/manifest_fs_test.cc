// The cheap full pass's digest (extent/manifest.h) on loop-mounted XFS and btrfs, as root: every
// kind of change to a PV directory changes its digest, nothing changed (a reflink snapshot of it
// included) keeps it, the sender records the digest of the directory BEFORE its snapshot, and
// `ocpv-dr-mover manifest` prints one line per PV in one run.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "extent/fs.h"
#include "extent/loop_fs.h"
#include "extent/manifest.h"
#include "extent/sender.h"
#include "support/temp_dir.h"

namespace ocpvdr::extent {
namespace {

using ocpvdr::testing::LoopFs;
using ocpvdr::testing::shell;
namespace fs = std::filesystem;

constexpr uint64_t MiB = 1024 * 1024;

void writeFile(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
}

// Overwrites `n` bytes at `off` without changing the size.
void overwrite(const fs::path& p, uint64_t off, const std::string& bytes) {
  Fd fd(::open(p.c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  ASSERT_TRUE(pwriteAll(fd.get(), bytes.data(), bytes.size(), off).ok());
}

class ManifestFs : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto p = LoopFs::create(GetParam(), 512 * MiB);
    if (!p.ok() && p.error().kind == ErrorKind::NotFound) GTEST_SKIP() << p.error().message;
    ASSERT_TRUE(p.ok()) << p.error().message;
    fsys_ = std::move(*p);
    root_ = fsys_->mountPoint();
    pv_ = fs::path(root_) / "pv-a";
    writeFile(pv_ / "a.txt", "alpha");
    writeFile(pv_ / "sub/b.txt", std::string(10000, 'b'));
    fs::create_symlink("a.txt", pv_ / "link");
    ASSERT_EQ(shell("truncate -s 64M " + (pv_ / "disk.img").string()), 0);
    overwrite(pv_ / "disk.img", 5 * MiB, std::string(64 * 1024, 'x'));
  }

  std::string digest() {
    auto d = digestDirectory(pv_.string());
    EXPECT_TRUE(d.ok()) << d.error().message;
    return d.ok() ? d->digest : "error";
  }

  // One sender cycle (snapshot + stream to /dev/null); its report.
  SendReport sendOnce(std::function<void(std::string_view)> hook = {}) {
    Fd out(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    SendOptions o{root_, "pv-a", pv_.string(), "", "", false};
    o.hook = std::move(hook);
    auto r = send(o, out.get());
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : SendReport{};
  }

  std::unique_ptr<LoopFs> fsys_;
  std::string root_;
  fs::path pv_;
};

TEST_P(ManifestFs, EveryKindOfChangeChangesTheDigestAndNothingElseDoes) {
  const std::string d0 = digest();
  ASSERT_EQ(d0.rfind("m1:", 0), 0u) << d0;
  EXPECT_EQ(digest(), d0) << "nothing changed";
  // A reflink snapshot of the directory (what every cycle does) is not a change: the snapshot
  // shares the live files' blocks (FIEMAP SHARED) but moves none of them.
  SendReport sent = sendOnce();
  EXPECT_EQ(sent.sourceDigest, d0);
  EXPECT_EQ(digest(), d0) << "the sender's snapshot changed the live directory's digest";
  // Reading is not a change (atime is left out).
  ASSERT_EQ(
      shell("cat " + (pv_ / "a.txt").string() + " " + (pv_ / "disk.img").string() + " > /dev/null"),
      0);
  EXPECT_EQ(digest(), d0) << "reading changed the digest";

  std::set<std::string> seen{d0};
  auto changed = [&](const char* what) {
    std::string d = digest();
    EXPECT_TRUE(seen.insert(d).second) << what << " did not give a new digest";
  };
  overwrite(pv_ / "disk.img", 5 * MiB + 4096, std::string(4096, 'y'));  // in place, same size
  changed("an in-place write into the image");
  {
    // Same size, and the mtime put back: ctime and the extent map (copy-on-write while the
    // snapshot shares the blocks) still tell.
    struct stat before {};
    ASSERT_EQ(::stat((pv_ / "a.txt").c_str(), &before), 0);
    overwrite(pv_ / "a.txt", 0, "ALPHA");
    struct timespec ts[2] = {before.st_atim, before.st_mtim};
    ASSERT_EQ(::utimensat(AT_FDCWD, (pv_ / "a.txt").c_str(), ts, 0), 0);
    changed("a same-size write with the mtime restored");
  }
  ASSERT_EQ(::truncate((pv_ / "sub/b.txt").c_str(), 5000), 0);
  changed("a truncate");
  fs::rename(pv_ / "sub/b.txt", pv_ / "sub/c.txt");
  changed("a rename");
  fs::permissions(pv_ / "a.txt", fs::perms::owner_read, fs::perm_options::replace);
  changed("a chmod");
  ASSERT_EQ(::lchown((pv_ / "a.txt").c_str(), 1234, 1234), 0);
  changed("a chown");
  writeFile(pv_ / "sub/new.txt", "");
  changed("a new empty file");
  fs::remove(pv_ / "sub/new.txt");
  changed("a removed file");
  fs::remove(pv_ / "link");
  fs::create_symlink("sub/c.txt", pv_ / "link");
  changed("a symlink pointing elsewhere");
  fs::create_directory(pv_ / "emptydir");
  changed("a new directory");
  const std::string last = digest();
  EXPECT_EQ(digest(), last);
}

// The sender's recorded digest is of the directory BEFORE its snapshot: a write racing the
// snapshot (just before or just after it) leaves the live digest different from the recorded
// one, so the next pass runs a cycle — never a skipped change.
TEST_P(ManifestFs, TheSenderRecordsTheDigestTakenBeforeItsSnapshot) {
  // A write after the snapshot: not in the point, so the next pass must see a difference.
  SendReport after = sendOnce([&](std::string_view phase) {
    if (phase == "snapshotted") overwrite(pv_ / "disk.img", 7 * MiB, std::string(8192, 'z'));
  });
  ASSERT_FALSE(after.sourceDigest.empty());
  EXPECT_NE(digest(), after.sourceDigest)
      << "a write after the snapshot would be skipped by the next pass";
  // A write between the digest and the snapshot: in the point, and still one more cycle.
  SendReport before = sendOnce([&](std::string_view phase) {
    if (phase == "digested") writeFile(pv_ / "late.txt", "late");
  });
  EXPECT_NE(digest(), before.sourceDigest);
  // With nothing racing, the recorded digest is the live one: the next pass skips the PV.
  SendReport quiet = sendOnce();
  EXPECT_EQ(digest(), quiet.sourceDigest);
}

INSTANTIATE_TEST_SUITE_P(Fs, ManifestFs, ::testing::Values("xfs", "btrfs"),
                         [](const auto& info) { return info.param; });

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  ::pclose(p);
  return out;
}

TEST(ManifestBinary, OneLinePerPvInOneRunWithConfinement) {
  if (::geteuid() != 0) GTEST_SKIP() << "root";
  auto fsys = LoopFs::create("xfs", 512 * MiB);
  if (!fsys.ok()) GTEST_SKIP() << fsys.error().message;
  const std::string root = (*fsys)->mountPoint();
  for (int i = 0; i < 3; ++i) writeFile(fs::path(root) / ("pv" + std::to_string(i)) / "f", "x");
  ocpvdr::testing::TempDir outside("ocpvdr-manifest-out");
  fs::create_directory_symlink(outside.path(), fs::path(root) / "escaper");
  fs::create_directories(fs::path(root) / ".ocpv-dr/snapshots");
  const std::string mover = ocpvdr::testing::binaryPath("src/extent/ocpv-dr-mover").string();

  // Every directory directly under the root (dot-directories and links to elsewhere left out).
  std::string all = run(mover + " manifest --root " + root);
  std::istringstream in(all);
  std::string line;
  std::vector<ManifestLine> lines;
  while (std::getline(in, line)) {
    ManifestLine m;
    ASSERT_TRUE(parseManifestLine(line, &m)) << line;
    lines.push_back(m);
  }
  ASSERT_EQ(lines.size(), 4u) << all;
  EXPECT_EQ(lines[0].pv, "pv0");
  EXPECT_EQ(lines[2].pv, "pv2");
  EXPECT_EQ(lines[0].state, "ok");
  EXPECT_EQ(lines[0].digest, digestDirectory(root + "/pv0")->digest);
  EXPECT_NE(lines[0].digest, lines[1].digest) << "different inodes, different digests";
  EXPECT_TRUE(lines[3].end);

  // Named PVs, from the command line and from stdin, in the order given; confinement.
  std::string named = run("printf 'pv2\\nnope\\nout=escaper\\nst=.ocpv-dr\\n' | " + mover +
                          " manifest --root " + root + " --pv pv1=" + root + "/pv1 --stdin");
  EXPECT_NE(named.find("pv=pv1 state=ok digest=" + lines[1].digest), std::string::npos) << named;
  EXPECT_LT(named.find("pv=pv1 "), named.find("pv=pv2 "));
  EXPECT_NE(named.find("pv=nope state=missing why="), std::string::npos) << named;
  EXPECT_NE(named.find("pv=out state=escape"), std::string::npos) << named;
  EXPECT_NE(named.find("pv=st state=escape"), std::string::npos) << named;
  EXPECT_NE(named.find("OCPVDR-MANIFEST end pvs=5 ok=2"), std::string::npos) << named;
  ManifestLine m;
  EXPECT_TRUE(parseManifestLine("OCPVDR-MANIFEST pv=x state=missing why=a b  c", &m));
  EXPECT_EQ(m.why, "a b  c");
  EXPECT_FALSE(parseManifestLine("OCPVDR-MOVER sent id=x", &m));
  EXPECT_NE(run(mover + " manifest --root " + root + " --pv ../x 2>&1").find("invalid PV name"),
            std::string::npos);
}

}  // namespace
}  // namespace ocpvdr::extent
