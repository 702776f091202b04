// An extent stream corrupted in flight, through `serve`'s engine: a filter process between the
// sender and the applier flips one byte inside the first data range. The applier must refuse the
// range (its SHA-256 no longer matches), discard the new point and leave the previous point and
// the DR PV directory as they were; the engine counts ocpvdr_extent_checksum_mismatch_total and
// POSTs an alert to notify.urls naming the PV, the file and the range (the test waits for that
// request, not for time). The next clean cycle completes.
// Both sites on one loop-mounted XFS (reflink) with the local transport; needs root.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/curl_http.h"
#include "engine/engine.h"
#include "engine/fake_primary.h"
#include "extent/applier.h"
#include "extent/loop_fs.h"
#include "replication/test_util.h"
#include "support/eventually.h"
#include "support/temp_dir.h"
#include "support/webhook_receiver.h"

namespace ocpvdr::engine {
namespace {

namespace fs = std::filesystem;
using testing::localEngineDeps;
using testing::localEngineOptions;
using namespace std::chrono_literals;
using testing::FakePrimary;
using testing::inTreePv;
using testing::LoopFs;

// Copies the stream and flips the first byte of the first data frame's data (stream.h layout:
// magic, u32 version, u32 header length, header; frames u8 type + u32 length + payload; a 'D'
// payload is u64 offset, u32 length, 32-byte SHA-256, data).
constexpr const char* kFlipper = R"(import struct, sys
i, o = sys.stdin.buffer, sys.stdout.buffer
def take(n):
    b = b""
    while len(b) < n:
        c = i.read(n - len(b))
        if not c:
            break
        b += c
    return b
head = take(16)
o.write(head)
o.write(take(struct.unpack("<I", head[12:16])[0]))
flipped = False
while True:
    fh = take(5)
    if len(fh) < 5:
        o.write(fh)
        break
    p = bytearray(take(struct.unpack("<I", fh[1:5])[0]))
    if fh[0:1] == b"D" and not flipped and len(p) > 44:
        p[44] ^= 0x5A
        flipped = True
    o.write(fh)
    o.write(p)
o.flush()
)";

class ChecksumAlertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l = LoopFs::create("xfs", 512ull << 20);
    if (!l.ok()) GTEST_SKIP() << l.error().message;
    loop = std::move(l).value();
    base = fs::path(loop->mountPoint()) / "t";
    cfg = testing::localSitesConfig(base);
    primaryRoot = cfg.primary.exportRoots.front().hostPath;
    drRoot = cfg.dr.exportRoots.front().hostPath;
    cfg.replication.mover = config::MoverKind::Extent;
    // The mover, behind a wrapper that pipes `send` through the flipper while `corrupt` exists.
    const fs::path wrapper = tmp.path() / "ocpv-dr-mover";
    std::ofstream(tmp.path() / "flip.py") << kFlipper;
    std::ofstream(wrapper) << "#!/bin/sh\nreal='"
                           << testing::binaryPath("src/extent/ocpv-dr-mover").string()
                           << "'\nif [ \"$1\" = send ] && [ -e '" << corruptFlag().string()
                           << "' ]; then\n  \"$real\" \"$@\" | /usr/bin/python3 '"
                           << (tmp.path() / "flip.py").string() << "'\n  exit $?\nfi\n"
                           << "exec \"$real\" \"$@\"\n";
    fs::permissions(wrapper, fs::perms::owner_all);
    cfg.replication.moverLocalPath = wrapper.string();
    receiver.start();
    cfg.notify.urls = {receiver.url()};

    auto c = catalog::Catalog::open(cfg.catalog.path);
    ASSERT_TRUE(c.ok()) << c.error().describe();
    cat = std::move(c).value();
    rep = std::make_unique<replication::Replicator>(cfg, runner, clock, *cat, &primary);
    pv = inTreePv("pvc-vol1", "nfs-primary", "/exports/ocp/vol1");
    primary.putPv(pv);

    EngineOptions opts = localEngineOptions(base / "reports", 1);
    opts.maintenanceInterval = 0ms;
    EngineDeps deps = localEngineDeps(clock, *cat, *rep, primary, metrics);
    deps.notifyHttp = &http;
    engine = std::make_unique<Engine>(cfg, deps, opts);
    Status st = engine->start();
    ASSERT_TRUE(st.ok()) << st.error().describe();
  }
  void TearDown() override {
    if (engine) engine->shutdown();
    engine.reset();
    rep.reset();
    cat.reset();
  }

  fs::path corruptFlag() const { return tmp.path() / "corrupt"; }
  fs::path pointsDir() const { return drRoot / ".ocpv-dr/points/pvc-vol1"; }
  std::vector<std::string> points() const {
    return extent::listPoints(pointsDir().string()).valueOr({});
  }
  void event(const std::string& id) {
    EventPayload ev;
    ev.kind = "PersistentVolume";
    ev.type = "MODIFIED";
    ev.id = id;
    ev.resource = pv;
    ev.name = "pvc-vol1";
    ev.key = "pv/pvc-vol1";
    ASSERT_EQ(engine->acceptEvent(ev), Engine::Accepted::Queued);
  }
  bool synced(const std::string& id) { return cat->eventProcessed(id).valueOr(false); }

  std::unique_ptr<LoopFs> loop;
  testing::TempDir tmp;
  fs::path base, primaryRoot, drRoot;
  config::Config cfg;
  RealProcessRunner runner;
  RealClock clock;
  FakePrimary primary;
  MetricsRegistry metrics;
  CurlHttpClient http;
  testing::WebhookReceiver receiver;
  Json pv;
  std::unique_ptr<catalog::Catalog> cat;
  std::unique_ptr<replication::Replicator> rep;
  std::unique_ptr<Engine> engine;
};

TEST_F(ChecksumAlertTest, ACorruptedRangeDiscardsThePointCountsItAndAlerts) {
  if (IsSkipped()) return;
  const fs::path img = primaryRoot / "vol1/disk.img";
  testing::writeRandomFile(img, 3 << 20, 1);
  event("vol1:1");
  ASSERT_TRUE(testing::eventually([&] { return synced("vol1:1"); }, 60s, 20ms))
      << "the clean first cycle did not finish";
  const auto pointsBefore = points();
  ASSERT_EQ(pointsBefore.size(), 1u);
  const auto drBefore = testing::treeDigest(drRoot / "vol1");
  ASSERT_EQ(drBefore, testing::treeDigest(primaryRoot / "vol1"));
  EXPECT_EQ(metrics.get("ocpvdr_extent_checksum_mismatch_total", {{"pv", "pvc-vol1"}}), 0);

  // New data; the stream of the next cycle is corrupted in flight.
  testing::writeRandomFile(img, 2 << 20, 2);
  std::ofstream(corruptFlag()) << "1";
  event("vol1:2");
  ASSERT_TRUE(receiver.waitFor([&] { return receiver.acceptedCount() >= 1; }, 60s))
      << "no alert reached notify.urls";
  const auto got = receiver.accepted().front().json;
  EXPECT_EQ(got["type"], "alert") << got.dump();
  EXPECT_EQ(got["alert"], "extent-checksum-mismatch") << got.dump();
  EXPECT_EQ(got["pv"], "pvc-vol1");
  EXPECT_EQ(got["file"], "disk.img");
  EXPECT_TRUE(got["offset"].is_number() && got["length"].is_number()) << got.dump();
  const std::string msg = got.value("message", "");
  EXPECT_NE(msg.find("checksum mismatch: PV pvc-vol1, file \"disk.img\", range at offset"),
            std::string::npos)
      << msg;
  EXPECT_EQ(metrics.get("ocpvdr_extent_checksum_mismatch_total", {{"pv", "pvc-vol1"}}), 1);
  EXPECT_NE(metrics.renderPrometheus().find("# TYPE ocpvdr_extent_checksum_mismatch_total counter"),
            std::string::npos);
  // No point, no partial point, the DR PV directory as it was.
  EXPECT_EQ(points(), pointsBefore);
  std::error_code ec;
  for (auto& e : fs::directory_iterator(pointsDir(), ec))
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();
  EXPECT_EQ(testing::treeDigest(drRoot / "vol1"), drBefore);

  // The stream is clean again: the next cycle completes.
  fs::remove(corruptFlag());
  event("vol1:3");
  ASSERT_TRUE(testing::eventually([&] { return synced("vol1:3"); }, 60s, 20ms));
  EXPECT_EQ(points().size(), 2u);
  EXPECT_EQ(testing::treeDigest(drRoot / "vol1"), testing::treeDigest(primaryRoot / "vol1"));
  EXPECT_EQ(receiver.acceptedCount(), 1u);
}

}  // namespace
}  // namespace ocpvdr::engine
