// The DR trash: quarantine moves data with a manifest, list, restore (refusing to overwrite),
// purge by retention on an injected clock.
#include "replication/trash.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/temp_dir.h"

namespace ocpvdr::replication {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::TempDir;

class TrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::canonical(tmp.path()).string() + "/dr";
    fs::create_directories(root);
    cfg.dr.exportRoots = {{"/exports/ocp", root}};
    cfg.replication.trashRetention = std::chrono::hours(24 * 7);
  }
  std::string makeVolume(const std::string& name, const std::string& content) {
    tmp.write("dr/" + name + "/disk.img", content);
    return root + "/" + name;
  }
  TrashManifest manifest(const std::string& pv) {
    TrashManifest m;
    m.pv = pv;
    m.uid = "uid-" + pv;
    m.reason = "test";
    return m;
  }

  TempDir tmp;
  std::string root;
  config::Config cfg;
  ManualClock clock{SystemTime{std::chrono::seconds{1'800'000'000}}};  // 2027-01-15T08:00:00Z
};

TEST_F(TrashTest, QuarantineMovesDataAndWritesTheManifest) {
  Trash trash(cfg, clock);
  std::string vol = makeVolume("pvc-a", "AAA");
  auto e = trash.quarantine(root, vol, manifest("pvc-a"));
  ASSERT_TRUE(e.ok()) << e.error().describe();
  EXPECT_FALSE(fs::exists(vol));
  EXPECT_EQ(e->id, "20270115T080000Z-pvc-a");
  EXPECT_EQ(e->entryPath, root + "/.ocpv-dr-trash/20270115T080000Z-pvc-a");
  EXPECT_TRUE(fs::exists(e->dataPath + "/disk.img"));
  ASSERT_TRUE(e->manifestOk) << e->manifestError;
  EXPECT_EQ(e->manifest.pv, "pvc-a");
  EXPECT_EQ(e->manifest.uid, "uid-pvc-a");
  EXPECT_EQ(e->manifest.originalPath, vol);
  EXPECT_EQ(e->manifest.time, clock.now());
  std::ifstream mf(e->entryPath + "/manifest.json");
  Json j = Json::parse(mf);
  EXPECT_EQ(j["original_path"], vol);
  EXPECT_EQ(j["time"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(j["kind"], "pv");
}

TEST_F(TrashTest, SameNameTwiceInOneSecondGetsDistinctEntries) {
  Trash trash(cfg, clock);
  auto a = trash.quarantine(root, makeVolume("pvc-a", "1"), manifest("pvc-a"));
  auto b = trash.quarantine(root, makeVolume("pvc-a", "2"), manifest("pvc-a"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->id, b->id);
  auto list = trash.list();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);
}

TEST_F(TrashTest, RefusesPathsOutsideTheRootOrTheRootItself) {
  Trash trash(cfg, clock);
  TempDir other;
  EXPECT_EQ(trash.quarantine(root, other.str(), manifest("x")).error().kind, ErrorKind::Refused);
  EXPECT_EQ(trash.quarantine(root, root, manifest("x")).error().kind, ErrorKind::Refused);
}

TEST_F(TrashTest, RestoreBringsDataBackAndRefusesToOverwrite) {
  Trash trash(cfg, clock);
  std::string vol = makeVolume("pvc-a", "AAA");
  auto e = trash.quarantine(root, vol, manifest("pvc-a"));
  ASSERT_TRUE(e.ok());
  // Something new appeared at the original path: restore must not touch it.
  makeVolume("pvc-a", "NEW");
  auto clash = trash.restore(e->id);
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().kind, ErrorKind::Conflict);
  EXPECT_TRUE(fs::exists(e->dataPath + "/disk.img"));
  fs::remove_all(vol);
  auto ok = trash.restore(e->id);
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  std::ifstream f(vol + "/disk.img");
  std::string s;
  f >> s;
  EXPECT_EQ(s, "AAA");
  EXPECT_FALSE(fs::exists(e->entryPath));
  EXPECT_EQ(trash.restore(e->id).error().kind, ErrorKind::NotFound);
  EXPECT_EQ(trash.restore("../etc").error().kind, ErrorKind::Invalid);
}

TEST_F(TrashTest, RestoreRefusesATamperedManifest) {
  Trash trash(cfg, clock);
  auto e = trash.quarantine(root, makeVolume("pvc-a", "A"), manifest("pvc-a"));
  ASSERT_TRUE(e.ok());
  Json j = Json::parse(std::ifstream(e->entryPath + "/manifest.json"));
  j["original_path"] = "/etc/evil";
  std::ofstream(e->entryPath + "/manifest.json") << j.dump();
  auto r = trash.restore(e->id);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Refused);
  EXPECT_FALSE(fs::exists("/etc/evil"));
}

TEST_F(TrashTest, PurgeHonoursRetentionOnTheInjectedClock) {
  Trash trash(cfg, clock);
  auto old = trash.quarantine(root, makeVolume("pvc-old", "o"), manifest("pvc-old"));
  clock.advance(std::chrono::hours(24 * 3));
  auto young = trash.quarantine(root, makeVolume("pvc-young", "y"), manifest("pvc-young"));
  ASSERT_TRUE(old.ok() && young.ok());

  clock.advance(std::chrono::hours(24 * 3));  // old: 6 days, young: 3 days
  auto none = trash.purge({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->purged.empty());
  EXPECT_EQ(none->kept.size(), 2u);

  clock.advance(std::chrono::hours(24 * 1) + 1s);  // old: 7 days + 1 s
  auto one = trash.purge({});
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->purged.size(), 1u);
  EXPECT_EQ(one->purged[0].manifest.pv, "pvc-old");
  EXPECT_FALSE(fs::exists(old->entryPath));
  EXPECT_TRUE(fs::exists(young->entryPath));

  PurgeOptions shorter;
  shorter.olderThan = std::chrono::hours(24);
  auto two = trash.purge(shorter);
  ASSERT_EQ(two->purged.size(), 1u);
  EXPECT_FALSE(fs::exists(young->entryPath));
}

TEST_F(TrashTest, PurgeAllAndUnreadableManifests) {
  Trash trash(cfg, clock);
  auto e = trash.quarantine(root, makeVolume("pvc-a", "a"), manifest("pvc-a"));
  ASSERT_TRUE(e.ok());
  std::ofstream(e->entryPath + "/manifest.json") << "{not json";
  auto list = trash.list();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_FALSE((*list)[0].manifestOk);
  EXPECT_FALSE((*list)[0].manifestError.empty());
  EXPECT_EQ(trash.restore(e->id).error().kind, ErrorKind::Terminal);
  // Age falls back to the timestamp in the id.
  clock.advance(std::chrono::hours(24 * 8));
  auto r = trash.purge({});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->purged.size(), 1u);
  auto e2 = trash.quarantine(root, makeVolume("pvc-b", "b"), manifest("pvc-b"));
  PurgeOptions all;
  all.all = true;
  EXPECT_EQ(trash.purge(all)->purged.size(), 1u);
  EXPECT_TRUE(trash.list()->empty());
}

// Retention needs an age. An entry without a readable manifest and without a timestamp in its
// name, or whose manifest time lies in the future, is kept by every retention purge (however far
// the clock moves) and reported with the reason; only --all removes it.
TEST_F(TrashTest, EntriesOfUnknownAgeAreKeptAndReported) {
  Trash trash(cfg, clock);
  const std::string trashRoot = root + "/" + std::string(kTrashDirName);
  tmp.write("dr/" + std::string(kTrashDirName) + "/restored-by-hand/data/disk.img", "keep me");
  auto future = trash.quarantine(root, makeVolume("pvc-f", "f"), manifest("pvc-f"));
  ASSERT_TRUE(future.ok());
  Json j = Json::parse(std::ifstream(future->entryPath + "/manifest.json"));
  j["time"] = "2099-01-01T00:00:00Z";
  std::ofstream(future->entryPath + "/manifest.json") << j.dump();
  auto old = trash.quarantine(root, makeVolume("pvc-old", "o"), manifest("pvc-old"));
  ASSERT_TRUE(old.ok());

  clock.advance(std::chrono::hours(24 * 365));
  auto r = trash.purge({});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  ASSERT_EQ(r->purged.size(), 1u);
  EXPECT_EQ(r->purged[0].manifest.pv, "pvc-old");
  ASSERT_EQ(r->unknownAge.size(), 2u);
  EXPECT_TRUE(fs::exists(trashRoot + "/restored-by-hand/data/disk.img"));
  EXPECT_TRUE(fs::exists(future->dataPath));
  Json summary = r->summary(clock.now());
  EXPECT_EQ(summary["purged"], 1);
  ASSERT_EQ(summary["unknown_age"].size(), 2u);
  std::string whys = summary["unknown_age"].dump();
  EXPECT_NE(whys.find("no quarantine time in the entry name"), std::string::npos) << whys;
  EXPECT_NE(whys.find("in the future"), std::string::npos) << whys;

  PurgeOptions all;
  all.all = true;
  EXPECT_EQ(trash.purge(all)->purged.size(), 2u);
  EXPECT_TRUE(trash.list()->empty());
}

}  // namespace
}  // namespace ocpvdr::replication
