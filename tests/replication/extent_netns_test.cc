// `ocpv-dr pv sync` with the extent mover between two network-namespace hosts over real ssh: the
// primary's and DR's export roots are loop-mounted XFS (reflink) — ext4 for the fallback — and
// ocpv-dr runs "on" the DR host (ip netns exec), installs ocpv-dr-mover on the primary, pipes
// `ssh primary ocpv-dr-mover send` into its in-process applier and brings the DR PV directory to
// the new recovery point. Faults (a killed transfer, a full DR file system) go through the
// Replicator API in this process, whose ssh reaches the primary through the bridge.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "catalog/catalog.h"
#include "catalog/points.h"
#include "core/time.h"
#include "extent/applier.h"
#include "extent/loop_fs.h"
#include "replication/replicator.h"
#include "replication/test_util.h"
#include "support/eventually.h"
#include "support/netns_hosts.h"
#include "support/spawned.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using replication::Outcome;

constexpr uint64_t MiB = 1 << 20;

// Random 4–64 KiB writes (4 KiB aligned) into `path`; returns the bytes they covered (upper bound).
uint64_t randomWrites(const fs::path& path, uint64_t size, int count, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  std::string buf(64 * 1024, '\0');
  uint64_t total = 0;
  for (int i = 0; i < count; ++i) {
    uint64_t len = (1 + rng() % 16) * 4096;
    uint64_t off = (rng() % ((size - len) / 4096)) * 4096;
    for (auto& c : buf) c = static_cast<char>(rng());
    f.seekp(static_cast<std::streamoff>(off));
    f.write(buf.data(), static_cast<std::streamsize>(len));
    total += len;
  }
  return total;
}

class ExtentNetnsTest : public ::testing::Test {
 protected:
  struct CliRunResult {
    int code = -1;
    Json doc;
    std::string err;
  };

  // Mounts before the hosts start: `ip netns exec` gives each command its own mount namespace,
  // which sees the mounts that existed when the hosts were made.
  void start(const std::string& primaryType, uint64_t drSize = 1024 * MiB,
             const std::string& drType = "xfs") {
    auto p = LoopFs::create(primaryType, 1024 * MiB);
    if (!p.ok()) GTEST_SKIP() << p.error().message;
    auto d = LoopFs::create(drType, drSize);
    if (!d.ok()) GTEST_SKIP() << d.error().message;
    pfs = std::move(p).value();
    dfs = std::move(d).value();
    auto h = NetnsHosts::create();
    if (!h.ok()) GTEST_SKIP() << netnsSkipBanner(h.error());
    hosts = std::move(h).value();
    cfg = hosts->config();
    primary = fs::path(pfs->mountPoint()) / "ocp";
    dr = fs::path(dfs->mountPoint()) / "ocp";
    fs::create_directories(primary);
    fs::create_directories(dr);
    cfg.primary.exportRoots.front().hostPath = primary.string();
    cfg.dr.exportRoots.front().hostPath = dr.string();
    cfg.replication.moverLocalPath = binaryPath("src/extent/ocpv-dr-mover").string();
    cfg.replication.moverPath = (hosts->dir() / "primary-libexec/ocpv-dr-mover").string();
    configPath = hosts->writeConfig(cfg).string();
  }

  CliRunResult sync(const std::string& dir) {
    Json pv = inTreePv("pvc-" + dir, "nfs-primary.example.com", "/exports/ocp/" + dir);
    fs::path pvFile = hosts->dir() / "pv.json";
    std::ofstream(pvFile) << pv.dump();
    ProcessSpec spec;
    spec.argv =
        hosts->onHost(hosts->dr(), {binaryPath("src/cli/ocpv-dr").string(), "-c", configPath, "pv",
                                    "sync", "--pv-json", pvFile.string(), "--no-progress"});
    spec.timeout = 300s;
    CliRunResult out;
    auto r = runner.run(spec);
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return out;
    out.code = r->exitCode;
    out.err = r->err;
    try {
      out.doc = Json::parse(r->out);
    } catch (const std::exception&) {
      ADD_FAILURE() << "stdout is not one JSON document: " << r->out << "\nstderr: " << r->err;
    }
    return out;
  }

  // `ocpv-dr-testhooks pv sync` on the DR host, paused at `phase` of the extent cycle
  // (OCPVDR_EXTENT_PAUSE) and killed there with SIGKILL by its pid.
  void killAt(const std::string& dir, const std::string& phase) {
    Json pv = inTreePv("pvc-" + dir, "nfs-primary.example.com", "/exports/ocp/" + dir);
    const fs::path pvFile = hosts->dir() / "pv.json";
    std::ofstream(pvFile) << pv.dump();
    const fs::path marker = hosts->dir() / "paused.pid";
    const fs::path log = hosts->dir() / "killed-sync.log";
    fs::remove(marker);
    auto argv = hosts->onHost(
        hosts->dr(), {"/usr/bin/env", "OCPVDR_EXTENT_PAUSE=" + phase,
                      "OCPVDR_EXTENT_PAUSE_FILE=" + marker.string(),
                      binaryPath("src/cli/ocpv-dr-testhooks").string(), "-c", configPath, "pv",
                      "sync", "--pv-json", pvFile.string(), "--no-progress"});
    // Spawned does not search PATH.
    for (const char* d : {"/usr/sbin/", "/usr/bin/", "/sbin/", "/bin/"})
      if (argv[0].find('/') == std::string::npos && fs::exists(d + argv[0])) argv[0] = d + argv[0];
    Spawned proc(argv, log.string());
    ASSERT_GT(proc.pid(), 0);
    int early = -1;
    ASSERT_TRUE(eventually([&] { return fs::exists(marker) || (early = proc.wait(1ms)) >= 0; },
                           120s, 10ms));
    ASSERT_TRUE(fs::exists(marker))
        << "exited " << early << " before " << phase << ": " << readFile(log.string()).valueOr("");
    pid_t pid = 0;
    std::ifstream(marker) >> pid;
    ASSERT_EQ(pid, proc.pid()) << "ip netns exec and env exec the program in place";
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    EXPECT_EQ(proc.wait(30s), 128 + SIGKILL);
  }
  size_t rows(const std::string& pv) {
    auto c = catalog::Catalog::open(cfg.catalog.path);
    if (!c.ok()) return 0;
    catalog::PointStore store(**c);
    return store.list(pv).valueOr({}).size();
  }

  fs::path pointsDir(const std::string& pv) { return dr / ".ocpv-dr/points" / pv; }
  std::vector<std::string> points(const std::string& pv) {
    return extent::listPoints(pointsDir(pv).string()).valueOr({});
  }
  bool partialVisible(const std::string& pv) {
    std::error_code ec;
    for (auto& e : fs::directory_iterator(pointsDir(pv), ec))
      if (e.path().filename().string().front() != '.') {
        struct stat st {};
        if (::stat((e.path() / "point").c_str(), &st) != 0) return true;
      }
    return false;
  }

  std::unique_ptr<LoopFs> pfs, dfs;
  std::unique_ptr<NetnsHosts> hosts;
  config::Config cfg;
  std::string configPath;
  fs::path primary, dr;
  RealProcessRunner runner;
};

TEST_F(ExtentNetnsTest, CyclesMakePointsTheDrDirectoryFollowsAndSparseStaysSparse) {
  start("xfs");
  if (IsSkipped()) return;
  const fs::path img = primary / "vm1/disk.img";
  fs::create_directories(primary / "vm1/cfg");
  { std::ofstream(img, std::ios::binary); }
  fs::resize_file(img, 256 * MiB);
  randomWrites(img, 256 * MiB, 300, 1);
  writeRandomFile(primary / "vm1/cfg/meta.json", 300, 2);

  auto a = sync("vm1");
  ASSERT_EQ(a.code, 0) << a.doc.dump() << a.err;
  EXPECT_EQ(a.doc["mover"], "extent") << a.doc.dump();
  EXPECT_EQ(a.doc["result"], "synced");
  const std::string p1 = a.doc["point"].get<std::string>();
  EXPECT_EQ(points("pvc-vm1"), std::vector<std::string>{p1});
  EXPECT_TRUE(a.doc["data_time"].is_string());
  EXPECT_GT(a.doc["bytes_sent"].get<int64_t>(), 0);
  EXPECT_TRUE(a.doc["primary_read_bytes"].is_number()) << a.doc.dump();
  EXPECT_TRUE(a.doc["dr_read_bytes"].is_number()) << a.doc.dump();
  EXPECT_TRUE(fs::exists(cfg.replication.moverPath)) << "installed on the primary over ssh";
  EXPECT_EQ(treeDigest(pointsDir("pvc-vm1") / p1 / "tree"), treeDigest(primary / "vm1"));
  EXPECT_EQ(treeDigest(dr / "vm1"), treeDigest(primary / "vm1"));

  // Second cycle: the writer has paused (this thread wrote), the checksum is recorded.
  const uint64_t changed = randomWrites(img, 256 * MiB, 40, 3);
  const std::string sum2 = sha256File(img);
  const std::string sum1 = sha256File(pointsDir("pvc-vm1") / p1 / "tree/disk.img");
  auto b = sync("vm1");
  ASSERT_EQ(b.code, 0) << b.doc.dump() << b.err;
  EXPECT_EQ(b.doc["mover"], "extent");
  const std::string p2 = b.doc["point"].get<std::string>();
  EXPECT_NE(p2, p1);
  EXPECT_EQ(b.doc["base_point"], p1);
  EXPECT_LE(b.doc["bytes"].get<uint64_t>(), changed + 1 * MiB) << "only the changed extents";
  EXPECT_EQ(sha256File(pointsDir("pvc-vm1") / p2 / "tree/disk.img"), sum2);
  EXPECT_EQ(sha256File(dr / "vm1/disk.img"), sum2);
  EXPECT_EQ(sha256File(pointsDir("pvc-vm1") / p1 / "tree/disk.img"), sum1) << "older point kept";
  // Sparse stays sparse: what DR allocates for the image is about what the primary does.
  EXPECT_LE(allocatedBytes(dr / "vm1/disk.img"), allocatedBytes(img) + 4 * MiB);
  EXPECT_LT(allocatedBytes(dr / "vm1/disk.img"), 128 * static_cast<long long>(MiB));

  // The catalog: two points; the replica's data time is the newest point's (honest RPO).
  auto cat = catalog::Catalog::open(cfg.catalog.path);
  ASSERT_TRUE(cat.ok()) << cat.error().describe();
  catalog::PointStore store(**cat);
  auto rows = store.list("pvc-vm1");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ(rows->back().pointId, p2);
  auto rep = (*cat)->replica("pvc-vm1");
  ASSERT_TRUE(rep.ok() && rep->has_value());
  ASSERT_TRUE((**rep).lastSuccess.has_value());
  EXPECT_EQ(formatTimeMillis(*(**rep).lastSuccess), b.doc["data_time"].get<std::string>());
}

// btrfs exports at both ends, through `ocpv-dr pv sync` over ssh: every point byte-identical to
// the image at its data time, sparse stays sparse, and files that shrink, grow, are deleted or
// renamed come out right.
TEST_F(ExtentNetnsTest, OnBtrfsAtBothEndsPointsAreExactAndSparseStaysSparse) {
  start("btrfs", 1024 * MiB, "btrfs");
  if (IsSkipped()) return;
  const fs::path img = primary / "vm5/disk.img";
  fs::create_directories(img.parent_path());
  { std::ofstream(img, std::ios::binary); }
  fs::resize_file(img, 256 * MiB);
  randomWrites(img, 256 * MiB, 200, 21);
  writeRandomFile(primary / "vm5/shrinks", 3 * MiB, 22);
  writeRandomFile(primary / "vm5/grows", 1 * MiB, 23);
  writeRandomFile(primary / "vm5/goes", 1 * MiB, 24);
  writeRandomFile(primary / "vm5/old-name", 2 * MiB, 25);
  const std::string sum1 = sha256File(img);

  auto a = sync("vm5");
  ASSERT_EQ(a.code, 0) << a.doc.dump() << a.err;
  EXPECT_EQ(a.doc["mover"], "extent") << a.doc.dump();
  const std::string p1 = a.doc["point"].get<std::string>();
  EXPECT_EQ(sha256File(pointsDir("pvc-vm5") / p1 / "tree/disk.img"), sum1);
  EXPECT_EQ(treeDigest(dr / "vm5"), treeDigest(primary / "vm5"));

  // The writer pauses (this thread), the checksum is recorded, the cycle runs.
  randomWrites(img, 256 * MiB, 40, 26);
  fs::resize_file(primary / "vm5/shrinks", 1 * MiB);
  {
    std::ofstream g(primary / "vm5/grows", std::ios::binary | std::ios::app);
    g << std::string(2 * MiB, 'g');
  }
  fs::remove(primary / "vm5/goes");
  fs::rename(primary / "vm5/old-name", primary / "vm5/new-name");
  const std::string sum2 = sha256File(img);
  auto b = sync("vm5");
  ASSERT_EQ(b.code, 0) << b.doc.dump() << b.err;
  EXPECT_EQ(b.doc["mover"], "extent");
  const std::string p2 = b.doc["point"].get<std::string>();
  EXPECT_EQ(b.doc["base_point"], p1);
  EXPECT_EQ(sha256File(pointsDir("pvc-vm5") / p2 / "tree/disk.img"), sum2);
  EXPECT_EQ(sha256File(pointsDir("pvc-vm5") / p1 / "tree/disk.img"), sum1) << "older point kept";
  EXPECT_EQ(treeDigest(pointsDir("pvc-vm5") / p2 / "tree"), treeDigest(primary / "vm5"));
  EXPECT_EQ(treeDigest(dr / "vm5"), treeDigest(primary / "vm5"));
  EXPECT_FALSE(fs::exists(dr / "vm5/goes"));
  EXPECT_FALSE(fs::exists(dr / "vm5/old-name"));
  EXPECT_EQ(fs::file_size(dr / "vm5/shrinks"), 1 * MiB);
  EXPECT_EQ(fs::file_size(dr / "vm5/grows"), 3 * MiB);
  // Sparse stays sparse (st_blocks at DR ≈ at the primary; 256 MiB apparent).
  EXPECT_LE(allocatedBytes(dr / "vm5/disk.img"), allocatedBytes(img) + 4 * MiB);
  EXPECT_LT(allocatedBytes(dr / "vm5/disk.img"), 128 * static_cast<long long>(MiB));
  EXPECT_LE(allocatedBytes(pointsDir("pvc-vm5") / p2 / "tree/disk.img"),
            allocatedBytes(img) + 4 * MiB);
}

// `pv sync` killed (SIGKILL) at each phase of a cycle: the snapshot taken at the primary but
// nothing streamed, mid-stream, the point complete but no catalog row, the row written but the DR
// PV directory not touched, midway through bringing the DR PV directory to the point, and just
// after it was switched. Every time: the earlier points untouched, no partial point visible, the
// DR PV directory equal to one complete point (the previous one, or the new one once switched),
// and the next cycle completes.
TEST_F(ExtentNetnsTest, AKillAtEachPhaseOfACycleLeavesDrAtACompletePoint) {
  start("xfs");
  if (IsSkipped()) return;
  const fs::path img = primary / "vm6/disk.img";
  fs::create_directories(img.parent_path());
  { std::ofstream(img, std::ios::binary); }
  fs::resize_file(img, 64 * MiB);
  randomWrites(img, 64 * MiB, 60, 31);
  writeRandomFile(primary / "vm6/a.cfg", 100 * 1024, 32);
  writeRandomFile(primary / "vm6/z.cfg", 100 * 1024, 33);
  auto first = sync("vm6");
  ASSERT_EQ(first.code, 0) << first.doc.dump() << first.err;
  ASSERT_EQ(first.doc["mover"], "extent");

  struct Phase {
    std::string name;
    bool pointStays;  // the new point is complete and visible after the kill
    bool rowAdded;    // ... and has its catalog row
    bool drAtNew;     // the DR PV directory is the new point (else: the previous one)
  };
  const std::vector<Phase> phases = {
      {"cloned", false, false, false},           // snapshot taken at the primary, nothing streamed
      {"entry disk.img", false, false, false},   // mid-stream
      {"point-complete", true, false, false},    // the point is complete, no row yet
      {"recorded", true, true, false},           // the row, the DR directory not yet touched
      {"materialize a.cfg", true, true, false},  // midway through the DR directory
      {"materialize-exchanged", true, true, true},  // just after the switch
  };
  unsigned seed = 40;
  for (const auto& ph : phases) {
    SCOPED_TRACE(ph.name);
    // Three files change (the DR directory is brought to them in name order: a.cfg, disk.img,
    // z.cfg).
    randomWrites(img, 64 * MiB, 20, seed++);
    writeRandomFile(primary / "vm6/a.cfg", 100 * 1024, seed++);
    writeRandomFile(primary / "vm6/z.cfg", 100 * 1024, seed++);
    const auto want = treeDigest(primary / "vm6");
    const auto before = points("pvc-vm6");
    ASSERT_FALSE(before.empty());
    const auto prevPoint = treeDigest(pointsDir("pvc-vm6") / before.back() / "tree");
    const auto drBefore = treeDigest(dr / "vm6");
    ASSERT_EQ(drBefore, prevPoint);
    const size_t rowsBefore = rows("pvc-vm6");

    killAt("vm6", ph.name);
    if (HasFatalFailure()) return;

    const auto after = points("pvc-vm6");
    if (ph.pointStays) {
      ASSERT_EQ(after.size(), before.size() + 1);
      EXPECT_TRUE(std::equal(before.begin(), before.end(), after.begin()));
      EXPECT_EQ(treeDigest(pointsDir("pvc-vm6") / after.back() / "tree"), want);
    } else {
      EXPECT_EQ(after, before);
    }
    EXPECT_EQ(treeDigest(pointsDir("pvc-vm6") / before.back() / "tree"), prevPoint)
        << "the previous point is untouched";
    EXPECT_FALSE(partialVisible("pvc-vm6"));
    EXPECT_EQ(rows("pvc-vm6"), rowsBefore + (ph.rowAdded ? 1 : 0));
    EXPECT_EQ(treeDigest(dr / "vm6"), ph.drAtNew ? want : drBefore)
        << "the DR PV directory is one complete point, never a mix";

    auto next = sync("vm6");
    ASSERT_EQ(next.code, 0) << next.doc.dump() << next.err;
    EXPECT_EQ(treeDigest(dr / "vm6"), want);
    EXPECT_EQ(treeDigest(pointsDir("pvc-vm6") / next.doc["point"].get<std::string>() / "tree"),
              want);
    for (auto& e : fs::directory_iterator(dr))
      EXPECT_EQ(e.path().filename().string().find(".ocpv-dr-stage"), std::string::npos)
          << "a staging directory left behind: " << e.path();
  }
}

TEST_F(ExtentNetnsTest, OnExt4TheRsyncMoverRunsAndTheResultSaysSo) {
  start("ext4");
  if (IsSkipped()) return;
  writeRandomFile(primary / "vm2/disk.img", 4 * MiB, 5);
  auto a = sync("vm2");
  ASSERT_EQ(a.code, 0) << a.doc.dump() << a.err;
  EXPECT_EQ(a.doc["mover"], "rsync") << a.doc.dump();
  EXPECT_NE(a.doc["mover_reason"].get<std::string>().find("primary export root"), std::string::npos)
      << a.doc.dump();
  EXPECT_TRUE(a.doc["rsync"].is_object());
  EXPECT_TRUE(a.doc["point"].is_null());
  EXPECT_TRUE(a.doc["data_time"].is_string());
  EXPECT_EQ(sha256File(primary / "vm2/disk.img"), sha256File(dr / "vm2/disk.img"));
  EXPECT_FALSE(fs::exists(dr / ".ocpv-dr/points/pvc-vm2"));
}

// The Replicator in this process (ssh from the root namespace through the bridge).
class ExtentFaultTest : public ExtentNetnsTest {
 protected:
  Result<replication::SyncReport> libSync(const std::string& dir,
                                          const replication::SyncOptions& o = {}) {
    auto c = catalog::Catalog::open(cfg.catalog.path);
    if (!c.ok()) return c.error();
    cat = std::move(c).value();
    replication::Replicator rep(cfg, runner, clock, *cat);
    auto r =
        rep.syncPv(inTreePv("pvc-" + dir, "nfs-primary.example.com", "/exports/ocp/" + dir), o);
    rep.closeConnections();
    return r;
  }
  RealClock clock;
  std::unique_ptr<catalog::Catalog> cat;
};

TEST_F(ExtentFaultTest,
       AKilledTransferLeavesThePreviousPointAndDrDirectoryAndTheNextCycleCompletes) {
  start("xfs");
  if (IsSkipped()) return;
  const fs::path img = primary / "vm3/disk.img";
  fs::create_directories(img.parent_path());
  { std::ofstream(img, std::ios::binary); }
  fs::resize_file(img, 256 * MiB);
  randomWrites(img, 256 * MiB, 100, 7);
  auto first = libSync("vm3");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->ok()) << first->error->describe();
  ASSERT_EQ(first->details["mover"], "extent");
  const auto before = treeDigest(dr / "vm3");
  const auto pointsBefore = points("pvc-vm3");
  ASSERT_EQ(pointsBefore.size(), 1u);

  // 40 MiB of new data; the transfer is killed (ssh's process group, by the stop token) while
  // the applier is inside disk.img.
  randomWrites(img, 256 * MiB, 1200, 8);
  std::stop_source stop;
  replication::SyncOptions o;
  o.stop = stop.get_token();
  bool killed = false;
  o.extentApplyHook = [&](std::string_view phase) -> Status {
    if (phase == "entry disk.img" && !killed) {
      killed = true;
      stop.request_stop();
      // The watchdog polls every 100 ms; after this the sender is gone and the stream ends.
      std::this_thread::sleep_for(500ms);
    }
    return Status::success();
  };
  auto cut = libSync("vm3", o);
  ASSERT_TRUE(cut.ok());
  EXPECT_TRUE(killed);
  ASSERT_FALSE(cut->ok()) << cut->toJson().dump();
  EXPECT_EQ(cut->error->kind, ErrorKind::Retryable) << cut->error->describe();
  EXPECT_EQ(points("pvc-vm3"), pointsBefore);
  EXPECT_FALSE(partialVisible("pvc-vm3"));
  EXPECT_EQ(treeDigest(dr / "vm3"), before) << "the DR PV directory is untouched";
  catalog::PointStore store(*cat);
  EXPECT_EQ(store.list("pvc-vm3").valueOr({}).size(), 1u);

  // An applier that fails just before the rename (as a crash there would): the same.
  replication::SyncOptions o2;
  o2.extentApplyHook = [](std::string_view phase) -> Status {
    if (phase == "before-rename") return terminalError("injected: DR died before the rename");
    return Status::success();
  };
  auto crash = libSync("vm3", o2);
  ASSERT_TRUE(crash.ok());
  EXPECT_FALSE(crash->ok());
  EXPECT_EQ(points("pvc-vm3"), pointsBefore);
  EXPECT_EQ(treeDigest(dr / "vm3"), before);

  auto next = libSync("vm3");
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(next->ok()) << next->error->describe();
  EXPECT_EQ(points("pvc-vm3").size(), 2u);
  EXPECT_EQ(sha256File(dr / "vm3/disk.img"), sha256File(img));
}

TEST_F(ExtentFaultTest, AFullDrFileSystemIsAClearErrorAndNoPartialPointIsVisible) {
  start("xfs", 320 * MiB);
  if (IsSkipped()) return;
  writeRandomFile(primary / "vm4/small", 1 * MiB, 9);
  auto first = libSync("vm4");
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->ok()) << first->error->describe();
  const auto before = treeDigest(dr / "vm4");
  const auto pointsBefore = points("pvc-vm4");
  writeRandomFile(primary / "vm4/big.img", 400 * MiB, 10);
  auto full = libSync("vm4");
  ASSERT_TRUE(full.ok());
  ASSERT_FALSE(full->ok());
  EXPECT_EQ(full->error->kind, ErrorKind::Terminal);
  EXPECT_NE(full->error->message.find("no space"), std::string::npos) << full->error->message;
  EXPECT_EQ(points("pvc-vm4"), pointsBefore);
  EXPECT_FALSE(partialVisible("pvc-vm4"));
  std::error_code ec;
  for (auto& e : fs::directory_iterator(pointsDir("pvc-vm4"), ec))
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos)
        << "the partial point was removed: " << e.path();
  EXPECT_EQ(treeDigest(dr / "vm4"), before);
}

}  // namespace
}  // namespace ocpvdr::testing
