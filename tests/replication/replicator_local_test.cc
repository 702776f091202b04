// The Replicator end to end with the `local` transport (rsync between two directories of this
// host): every handler's semantics, guards and catalog records, without ssh in the way. The same
// paths over real ssh are covered by replication_netns_test.
#include "replication/replicator.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include "replication/lock.h"
#include "replication/test_util.h"
#include "support/temp_dir.h"

namespace ocpvdr::replication {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::inTreePv;
using testing::localSitesConfig;
using testing::TempDir;
using testing::treeDigest;

class LocalReplicatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base = fs::canonical(tmp.path());
    cfg = localSitesConfig(base);
    primaryRoot = cfg.primary.exportRoots.front().hostPath;
    drRoot = cfg.dr.exportRoots.front().hostPath;
    auto c = catalog::Catalog::open(cfg.catalog.path);
    ASSERT_TRUE(c.ok()) << c.error().describe();
    cat = std::move(c).value();
    rep = std::make_unique<Replicator>(cfg, runner, clock, *cat);
  }

  SyncReport sync(const Json& pv, SyncOptions o = {}) {
    auto r = rep->syncPv(pv, o);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : SyncReport{};
  }
  Json pv(const std::string& dir) {
    return inTreePv("pvc-" + dir, "nfs-primary", "/exports/ocp/" + dir);
  }

  TempDir tmp;
  fs::path base, primaryRoot, drRoot;
  config::Config cfg;
  RealProcessRunner runner;
  ManualClock clock;
  std::unique_ptr<catalog::Catalog> cat;
  std::unique_ptr<Replicator> rep;
};

TEST_F(LocalReplicatorTest, SyncThenUnchangedThenDeletionMirrored) {
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 2 << 20, 1);
  testing::writeRandomFile(primaryRoot / "vol1/extra/notes", 1000, 2);
  auto r1 = sync(pv("vol1"));
  ASSERT_TRUE(r1.ok()) << r1.error->describe();
  EXPECT_EQ(r1.result, Outcome::Synced);
  EXPECT_TRUE(r1.changed);
  EXPECT_EQ(r1.files, 2);
  EXPECT_EQ(r1.bytes, (2 << 20) + 1000);
  EXPECT_EQ(treeDigest(primaryRoot / "vol1"), treeDigest(drRoot / "vol1"));
  auto row = cat->replica("pvc-vol1");
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->result, "synced");
  EXPECT_EQ((*row)->lastSuccess, clock.now());
  EXPECT_EQ((*row)->drPath, (drRoot / "vol1").string());
  EXPECT_EQ((*row)->claimName, "disk");

  auto r2 = sync(pv("vol1"));
  EXPECT_EQ(r2.result, Outcome::Unchanged);
  EXPECT_FALSE(r2.changed);
  EXPECT_EQ(r2.files, 0);
  EXPECT_EQ(r2.bytes, 0);

  fs::remove(primaryRoot / "vol1/extra/notes");
  auto r3 = sync(pv("vol1"));
  EXPECT_EQ(r3.result, Outcome::Synced);
  EXPECT_EQ(r3.deleted, 1);
  EXPECT_FALSE(fs::exists(drRoot / "vol1/extra/notes"));
  EXPECT_EQ(treeDigest(primaryRoot / "vol1"), treeDigest(drRoot / "vol1"));
  EXPECT_EQ(r3.toJson()["deleted"], 1);
}

// A VM disk keeps its size; a write landing in the same second as the previous sync must still
// be replicated (rsync's default quick check compares whole seconds only).
TEST_F(LocalReplicatorTest, RewriteWithinTheSameSecondIsNoticed) {
  const fs::path img = primaryRoot / "vol1/disk.img";
  testing::writeRandomFile(img, 1 << 20, 1);
  const auto t0 = std::chrono::floor<std::chrono::seconds>(fs::last_write_time(img)) - 60s;
  fs::last_write_time(img, t0 + 100ms);
  ASSERT_TRUE(sync(pv("vol1")).ok());
  testing::patchFile(img, 4096, 4096, 7);
  fs::last_write_time(img, t0 + 600ms);
  auto r = sync(pv("vol1"));
  EXPECT_EQ(r.result, Outcome::Synced);
  EXPECT_EQ(testing::sha256File(img), testing::sha256File(drRoot / "vol1/disk.img"));
}

TEST_F(LocalReplicatorTest, RefusalsLeaveDrUntouched) {
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 4096, 1);
  ASSERT_TRUE(sync(pv("vol1")).ok());
  auto before = treeDigest(drRoot);

  // Path traversal in spec.nfs.path.
  auto trav = sync(inTreePv("pvc-t", "nfs-primary", "/exports/ocp/../../etc"));
  EXPECT_EQ(trav.result, Outcome::Refused);
  EXPECT_EQ(trav.exitCode(), 3);
  EXPECT_NE(trav.error->message.find(".."), std::string::npos);
  // Unmapped NFS server.
  auto other = sync(inTreePv("pvc-o", "nfs-elsewhere", "/exports/ocp/vol1"));
  EXPECT_EQ(other.result, Outcome::Refused);
  EXPECT_NE(other.error->message.find("nfs-elsewhere"), std::string::npos);
  // Non-NFS PV.
  Json host = pv("vol1");
  host["spec"].erase("nfs");
  host["spec"]["hostPath"] = {{"path", "/var/data"}};
  auto nonNfs = sync(host);
  EXPECT_EQ(nonNfs.result, Outcome::NotReplicable);
  EXPECT_EQ(nonNfs.exitCode(), 3);
  // Empty source, non-empty DR copy.
  fs::remove_all(primaryRoot / "vol1");
  fs::create_directories(primaryRoot / "vol1");
  auto empty = sync(pv("vol1"));
  EXPECT_EQ(empty.result, Outcome::Refused);
  EXPECT_NE(empty.error->message.find("empty-source guard"), std::string::npos);
  // Missing source, non-empty DR copy.
  fs::remove_all(primaryRoot / "vol1");
  auto missing = sync(pv("vol1"));
  EXPECT_EQ(missing.result, Outcome::Refused);
  EXPECT_NE(missing.error->message.find("missing"), std::string::npos);
  // Symlink on the primary pointing outside the export root.
  fs::create_directories(base / "outside");
  testing::writeRandomFile(base / "outside/secret", 100, 3);
  fs::create_directory_symlink(base / "outside", primaryRoot / "vol2");
  auto esc = sync(pv("vol2"));
  EXPECT_EQ(esc.result, Outcome::Refused);
  EXPECT_NE(esc.error->message.find("symlink escape"), std::string::npos);

  EXPECT_EQ(treeDigest(drRoot), before);
  auto row = cat->replica("pvc-vol1");
  EXPECT_EQ((*row)->result, "refused");
  EXPECT_EQ((*row)->errorKind, "refused");
  EXPECT_TRUE((*row)->lastSuccess.has_value());  // the last good sync is still on record
}

TEST_F(LocalReplicatorTest, ForceMirrorsAnEmptySourceAndIsRecorded) {
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 4096, 1);
  ASSERT_TRUE(sync(pv("vol1")).ok());
  fs::remove(primaryRoot / "vol1/disk.img");
  SyncOptions o;
  o.force = true;
  auto r = sync(pv("vol1"), o);
  ASSERT_TRUE(r.ok()) << r.error->describe();
  EXPECT_TRUE(r.forced);
  EXPECT_EQ(r.toJson()["forced"], true);
  EXPECT_FALSE(fs::exists(drRoot / "vol1/disk.img"));
  EXPECT_TRUE((*cat->replica("pvc-vol1"))->forced);
  auto next = sync(pv("vol1"));  // nothing to protect any more: plain sync, not forced
  EXPECT_FALSE(next.forced);
  EXPECT_FALSE((*cat->replica("pvc-vol1"))->forced);
}

TEST_F(LocalReplicatorTest, MissingSourceWithNoDrCopyIsRetryable) {
  auto r = sync(pv("not-yet"));
  EXPECT_EQ(r.result, Outcome::Failed);
  EXPECT_EQ(r.error->kind, ErrorKind::Retryable);
  EXPECT_FALSE(fs::exists(drRoot / "not-yet"));
}

TEST_F(LocalReplicatorTest, SparseImageStaysSparse) {
  testing::writeSparseFile(primaryRoot / "vol1/disk.img", 64 << 20, 4096);
  ASSERT_LT(testing::allocatedBytes(primaryRoot / "vol1/disk.img"), 1 << 20);
  ASSERT_TRUE(sync(pv("vol1")).ok());
  EXPECT_EQ(fs::file_size(drRoot / "vol1/disk.img"), 64u << 20);
  EXPECT_LT(testing::allocatedBytes(drRoot / "vol1/disk.img"), 1 << 20);
  EXPECT_EQ(testing::sha256File(primaryRoot / "vol1/disk.img"),
            testing::sha256File(drRoot / "vol1/disk.img"));
}

TEST_F(LocalReplicatorTest, EventIdDedupe) {
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 4096, 1);
  SyncOptions o;
  o.eventId = "ev-1";
  EXPECT_EQ(sync(pv("vol1"), o).result, Outcome::Synced);
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 4096, 2);
  auto again = sync(pv("vol1"), o);
  EXPECT_EQ(again.result, Outcome::Skipped);
  EXPECT_FALSE(again.changed);
  EXPECT_EQ(again.exitCode(), 0);
  o.eventId = "ev-2";
  EXPECT_EQ(sync(pv("vol1"), o).result, Outcome::Synced);
}

TEST_F(LocalReplicatorTest, DeletePoliciesAndRestore) {
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 8192, 1);
  ASSERT_TRUE(sync(pv("vol1")).ok());
  auto digest = treeDigest(drRoot / "vol1");

  auto q = rep->deletePv(pv("vol1"));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->result, Outcome::Quarantined);
  EXPECT_TRUE(q->changed);
  EXPECT_FALSE(fs::exists(drRoot / "vol1"));
  std::string id = q->details["trash"]["id"];
  EXPECT_EQ((*cat->replica("pvc-vol1"))->state, "quarantined");
  auto again = rep->deletePv(pv("vol1"));
  EXPECT_EQ(again->result, Outcome::Unchanged);

  auto restored = rep->restoreFromTrash(id);
  ASSERT_TRUE(restored.ok()) << restored.error().describe();
  EXPECT_EQ(treeDigest(drRoot / "vol1"), digest);
  EXPECT_EQ((*cat->replica("pvc-vol1"))->state, "restored");

  DeleteOptions keep;
  keep.policy = config::DeletePolicy::Keep;
  auto k = rep->deletePv(pv("vol1"), keep);
  EXPECT_EQ(k->result, Outcome::Kept);
  EXPECT_FALSE(k->changed);
  EXPECT_EQ(treeDigest(drRoot / "vol1"), digest);

  DeleteOptions del;
  del.policy = config::DeletePolicy::Delete;
  auto d = rep->deletePv(pv("vol1"), del);
  EXPECT_EQ(d->result, Outcome::Deleted);
  EXPECT_FALSE(fs::exists(drRoot / "vol1"));
  EXPECT_TRUE(rep->trash().list()->empty());
}

// Two PVs on one NFS directory, or one inside the other, cannot be told apart at DR: sync and
// delete refuse them naming both, and deleting one never moves the other's data.
TEST_F(LocalReplicatorTest, SharedAndNestedPathsAreRefusedNamingBoth) {
  testing::writeRandomFile(primaryRoot / "vol/disk.img", 4096, 1);
  testing::writeRandomFile(primaryRoot / "vol/sub/inner.img", 4096, 2);
  ASSERT_TRUE(sync(pv("vol")).ok());
  const auto digest = treeDigest(drRoot / "vol");

  // The same directory under another PV name.
  Json twin = inTreePv("pvc-twin", "nfs-primary", "/exports/ocp/vol");
  auto same = sync(twin);
  EXPECT_EQ(same.result, Outcome::Refused);
  ASSERT_TRUE(same.error.has_value());
  const std::string m1 = same.error->message;
  EXPECT_NE(m1.find("PV pvc-twin"), std::string::npos) << m1;
  EXPECT_NE(m1.find("PV pvc-vol"), std::string::npos) << m1;
  EXPECT_NE(m1.find("is the same directory as"), std::string::npos) << m1;
  EXPECT_FALSE(cat->replica("pvc-twin")->has_value());

  // A directory inside the replicated one.
  Json inner = inTreePv("pvc-inner", "nfs-primary", "/exports/ocp/vol/sub");
  auto nested = sync(inner);
  EXPECT_EQ(nested.result, Outcome::Refused);
  EXPECT_NE(nested.error->message.find("lies inside PV pvc-vol's DR path"), std::string::npos)
      << nested.error->message;

  // The delete of either refuses too, and moves nothing.
  auto delTwin = rep->deletePv(twin);
  ASSERT_TRUE(delTwin.ok());
  EXPECT_EQ(delTwin->result, Outcome::Refused);
  EXPECT_NE(delTwin->error->message.find("PV pvc-vol"), std::string::npos);
  EXPECT_EQ(treeDigest(drRoot / "vol"), digest);

  // A catalog from before this check, holding both the outer and the inner PV: deleting the
  // outer one must not quarantine the inner one's data.
  catalog::ReplicaRecord legacy = **cat->replica("pvc-vol");
  legacy.pv = "pvc-inner";
  legacy.uid = "uid-pvc-inner";
  legacy.sourcePath = "/exports/ocp/vol/sub";
  legacy.drPath = (drRoot / "vol/sub").string();
  ASSERT_TRUE(cat->putReplica(legacy).ok());
  auto delOuter = rep->deletePv(pv("vol"));
  ASSERT_TRUE(delOuter.ok());
  EXPECT_EQ(delOuter->result, Outcome::Refused);
  EXPECT_NE(delOuter->error->message.find("contains PV pvc-inner's DR path"), std::string::npos)
      << delOuter->error->message;
  EXPECT_EQ(treeDigest(drRoot / "vol"), digest);
  EXPECT_FALSE(fs::exists(drRoot / ".ocpv-dr-trash"));
  EXPECT_EQ((*cat->replica("pvc-vol"))->state, "active");
}

// Locks are per DR path as well as per PV: another PV naming the same directory waits.
TEST_F(LocalReplicatorTest, TheDrPathLockSerialisesTwoPvNamesForOneDirectory) {
  testing::writeRandomFile(primaryRoot / "vol/disk.img", 4096, 1);
  auto held = FileLock::acquire(rep->lockDir(), pathLockKey((drRoot / "vol").string()), 0ms, clock);
  ASSERT_TRUE(held.ok()) << held.error().describe();
  auto busy = sync(inTreePv("pvc-other-name", "nfs-primary", "/exports/ocp/vol"));
  EXPECT_EQ(busy.result, Outcome::Busy);
  ASSERT_TRUE(busy.error.has_value());
  EXPECT_NE(busy.error->message.find("path-"), std::string::npos) << busy.error->message;
  held->release();
  EXPECT_TRUE(sync(inTreePv("pvc-other-name", "nfs-primary", "/exports/ocp/vol")).ok());
}

TEST_F(LocalReplicatorTest, ConcurrentSyncsOfOnePvOneIsBusy) {
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 32 << 20, 1);
  cfg.replication.rsync.bwlimitKiBps = 20000;  // keep the first sync running for a while
  RealClock real;
  Replicator slow(cfg, runner, real, *cat);
  std::atomic<bool> started{false};
  SyncReport first;
  std::thread t([&] {
    SyncOptions o;
    o.onProgress = [&](const RsyncProgress&) { started = true; };
    first = *slow.syncPv(pv("vol1"), o);
  });
  for (int i = 0; i < 3000 && !started; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(started) << "the first sync never reported progress";
  auto second = slow.syncPv(pv("vol1"));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->result, Outcome::Busy);
  EXPECT_EQ(second->exitCode(), 4);
  t.join();
  EXPECT_EQ(first.result, Outcome::Synced);
  EXPECT_EQ(testing::sha256File(primaryRoot / "vol1/disk.img"),
            testing::sha256File(drRoot / "vol1/disk.img"));
}

TEST_F(LocalReplicatorTest, StoppedMidTransferKeepsThePreviousWholeImage) {
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 16 << 20, 1);
  ASSERT_TRUE(sync(pv("vol1")).ok());
  std::string oldSum = testing::sha256File(drRoot / "vol1/disk.img");
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 16 << 20, 2);  // every block differs
  cfg.replication.rsync.bwlimitKiBps = 2000;
  RealClock real;
  Replicator slow(cfg, runner, real, *cat);
  std::stop_source stopper;
  SyncOptions o;
  o.stop = stopper.get_token();
  std::atomic<std::int64_t> seen{0};
  std::atomic<bool> finished{false};
  o.onProgress = [&](const RsyncProgress& p) { seen = p.bytes; };
  std::thread killer([&] {
    while (seen < (2 << 20) && !finished) std::this_thread::sleep_for(10ms);
    stopper.request_stop();
  });
  auto r = slow.syncPv(pv("vol1"), o);
  finished = true;
  killer.join();
  EXPECT_GE(seen, 2 << 20) << "no progress seen before the sync ended";
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->result, Outcome::Failed);
  EXPECT_EQ(r->error->kind, ErrorKind::Retryable);
  EXPECT_EQ(testing::sha256File(drRoot / "vol1/disk.img"), oldSum);
  cfg.replication.rsync.bwlimitKiBps = 0;
  auto done = sync(pv("vol1"));
  ASSERT_TRUE(done.ok()) << done.error->describe();
  EXPECT_EQ(testing::sha256File(drRoot / "vol1/disk.img"),
            testing::sha256File(primaryRoot / "vol1/disk.img"));
}

Json snapshotJson(bool ready, bool withStatusTypes) {
  Json vs = Json::parse(R"({"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot",
    "metadata":{"name":"snap-1","namespace":"vms","uid":"1111-2222"},
    "spec":{"source":{"persistentVolumeClaimName":"disk"},"volumeSnapshotClassName":"csi-nfs"}})");
  if (ready || withStatusTypes) {
    vs["status"] = {{"boundVolumeSnapshotContentName", "snapcontent-1111-2222"},
                    {"readyToUse", ready}};
    if (withStatusTypes) {
      vs["status"]["creationTime"] = "2026-11-24T00:12:21Z";
      vs["status"]["restoreSize"] = "64Mi";
    }
  }
  return vs;
}

Json contentJson() {
  return Json::parse(R"({"kind":"VolumeSnapshotContent","metadata":{"name":"snapcontent-1111-2222"},
    "spec":{"driver":"nfs.csi.k8s.io","deletionPolicy":"Delete",
            "source":{"volumeHandle":"nfs-primary#exports/ocp#vol1#pvc-vol1#"},
            "volumeSnapshotRef":{"namespace":"vms","name":"snap-1","uid":"1111-2222"}},
    "status":{"readyToUse":true,"creationTime":1795479141000000000,"restoreSize":67108864,
      "snapshotHandle":"nfs-primary#exports/ocp#snapshot-1111-2222#snapshot-1111-2222#pvc-vol1"}})");
}

TEST_F(LocalReplicatorTest, SnapshotLifecycleWithArchive) {
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 4096, 1);
  ASSERT_TRUE(sync(pv("vol1")).ok());  // catalog learns claim vms/disk → pvc-vol1
  testing::writeRandomFile(primaryRoot / "snapshot-1111-2222/pvc-vol1.tar.gz", 50000, 9);

  auto pending = rep->syncSnapshot(snapshotJson(false, false));
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(pending->result, Outcome::NotReady);
  EXPECT_EQ(pending->exitCode(), 0);
  auto rec = cat->snapshot("1111-2222");
  ASSERT_TRUE(rec->has_value());
  EXPECT_EQ((*rec)->state, "pending");
  EXPECT_FALSE((*rec)->ready);
  EXPECT_FALSE(fs::exists(drRoot / "snapshot-1111-2222"));

  // Ready, with only the content's int64 forms of time and size.
  SnapshotOptions o;
  o.content = contentJson();
  auto ready = rep->syncSnapshot(snapshotJson(true, false), o);
  ASSERT_TRUE(ready.ok());
  ASSERT_TRUE(ready->ok()) << ready->error->describe();
  EXPECT_EQ(ready->result, Outcome::Synced);
  EXPECT_EQ(ready->pv, "pvc-vol1");
  rec = cat->snapshot("1111-2222");
  EXPECT_EQ((*rec)->state, "ready");
  EXPECT_EQ((*rec)->sourcePv, "pvc-vol1");
  EXPECT_EQ((*rec)->snapshotHandle,
            "nfs-primary#exports/ocp#snapshot-1111-2222#snapshot-1111-2222#pvc-vol1");
  EXPECT_EQ((*rec)->restoreSize, 67108864);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*(*rec)->creationTime), 1795479141);
  EXPECT_EQ(testing::sha256File(drRoot / "snapshot-1111-2222/pvc-vol1.tar.gz"),
            testing::sha256File(primaryRoot / "snapshot-1111-2222/pvc-vol1.tar.gz"));
  EXPECT_EQ((*rec)->dataDrPath, (drRoot / "snapshot-1111-2222").string());

  // Same again with the VolumeSnapshot's string forms: same normalised values, nothing changed.
  auto same = rep->syncSnapshot(snapshotJson(true, true), o);
  EXPECT_EQ(same->result, Outcome::Unchanged);
  rec = cat->snapshot("1111-2222");
  EXPECT_EQ((*rec)->restoreSize, 67108864);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*(*rec)->creationTime), 1795479141);

  auto del = rep->deleteSnapshot(snapshotJson(true, true));
  ASSERT_TRUE(del.ok());
  EXPECT_EQ(del->result, Outcome::Quarantined);
  rec = cat->snapshot("1111-2222");
  EXPECT_EQ((*rec)->state, "deleted");
  EXPECT_TRUE((*rec)->deletedAt.has_value());
  EXPECT_FALSE(fs::exists(drRoot / "snapshot-1111-2222"));
  // A late "ready" event for the deleted uid must not resurrect it.
  auto late = rep->syncSnapshot(snapshotJson(true, true), o);
  EXPECT_EQ(late->result, Outcome::Skipped);
  EXPECT_FALSE(fs::exists(drRoot / "snapshot-1111-2222"));
}

// An uncompressed archive (csi-driver-nfs with compression off) is replicated and found too.
TEST_F(LocalReplicatorTest, SnapshotWithAnUncompressedTarArchive) {
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 4096, 1);
  ASSERT_TRUE(sync(pv("vol1")).ok());
  testing::writeRandomFile(primaryRoot / "snapshot-1111-2222/pvc-vol1.tar", 50000, 9);
  SnapshotOptions o;
  o.content = contentJson();
  auto r = rep->syncSnapshot(snapshotJson(true, false), o);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->ok()) << r->error->describe();
  EXPECT_EQ(r->result, Outcome::Synced);
  EXPECT_EQ(r->details["data"]["archive"], (drRoot / "snapshot-1111-2222/pvc-vol1.tar").string());
  EXPECT_EQ(testing::sha256File(drRoot / "snapshot-1111-2222/pvc-vol1.tar"),
            testing::sha256File(primaryRoot / "snapshot-1111-2222/pvc-vol1.tar"));
}

// Ready but without its VolumeSnapshotContent (no --content-json, no primary API): the archive
// cannot be located, so the snapshot is not ready (retryable, exit 4) and stays pending — never
// "synced" with metadata only. With the content it syncs.
TEST_F(LocalReplicatorTest, ReadySnapshotWithoutItsContentIsNotReadyAndRetryable) {
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 4096, 1);
  ASSERT_TRUE(sync(pv("vol1")).ok());
  testing::writeRandomFile(primaryRoot / "snapshot-1111-2222/pvc-vol1.tar.gz", 50000, 9);
  auto r = rep->syncSnapshot(snapshotJson(true, true));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->result, Outcome::NotReady);
  ASSERT_TRUE(r->error.has_value());
  EXPECT_EQ(r->error->kind, ErrorKind::Retryable);
  EXPECT_EQ(r->exitCode(), 4);
  EXPECT_NE(r->error->message.find("snapcontent-1111-2222"), std::string::npos)
      << r->error->message;
  auto rec = cat->snapshot("1111-2222");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->state, "pending");
  EXPECT_FALSE((*rec)->ready);
  EXPECT_FALSE(fs::exists(drRoot / "snapshot-1111-2222"));

  SnapshotOptions o;
  o.content = contentJson();
  auto ready = rep->syncSnapshot(snapshotJson(true, true), o);
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->result, Outcome::Synced);
  EXPECT_TRUE(fs::exists(drRoot / "snapshot-1111-2222/pvc-vol1.tar.gz"));
  // A later event without the content changes nothing and loses nothing.
  auto again = rep->syncSnapshot(snapshotJson(true, true));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->result, Outcome::Unchanged);
  EXPECT_EQ(again->exitCode(), 0);
  rec = cat->snapshot("1111-2222");
  EXPECT_EQ((*rec)->state, "ready");
}

// The primary API as a map, for verified deletes: objects by "<ns>/<name>" (PVs with ns "").
class MapPrimary final : public PrimaryObjects {
 public:
  std::map<std::string, Json> objects;
  std::optional<Error> failure;
  Result<Json> find(const std::string& key) {
    if (failure) return *failure;
    auto it = objects.find(key);
    if (it == objects.end()) return notFoundError(key + " not found");
    return it->second;
  }
  Result<Json> getPersistentVolume(std::string_view name) override {
    return find("/" + std::string(name));
  }
  Result<Json> getVolumeSnapshotContent(std::string_view name) override {
    return notFoundError(std::string(name));
  }
  Result<Json> getPersistentVolumeClaim(std::string_view, std::string_view name) override {
    return notFoundError(std::string(name));
  }
  Result<Json> getVolumeSnapshot(std::string_view ns, std::string_view name,
                                 std::stop_token) override {
    return find(std::string(ns) + "/" + std::string(name));
  }
};

// A snapshot DELETED is confirmed at the primary before its DR archive moves.
TEST_F(LocalReplicatorTest, AVerifiedSnapshotDeleteNeedsThePrimaryToConfirmIt) {
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 4096, 1);
  ASSERT_TRUE(sync(pv("vol1")).ok());
  testing::writeRandomFile(primaryRoot / "snapshot-1111-2222/pvc-vol1.tar.gz", 50000, 9);
  SnapshotOptions so;
  so.content = contentJson();
  ASSERT_TRUE(rep->syncSnapshot(snapshotJson(true, false), so)->ok());
  const auto archive = treeDigest(drRoot / "snapshot-1111-2222");
  ASSERT_FALSE(archive.empty());

  MapPrimary api;
  Replicator verified(cfg, runner, clock, *cat, &api);
  DeleteOptions o;
  o.verify = true;
  api.objects["vms/snap-1"] = snapshotJson(true, true);  // still there, same uid: forged
  auto forged = verified.deleteSnapshot(snapshotJson(true, true), o);
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(forged->result, Outcome::StillPresent);
  EXPECT_EQ(forged->error->kind, ErrorKind::Refused);
  EXPECT_EQ(treeDigest(drRoot / "snapshot-1111-2222"), archive);
  EXPECT_EQ((*cat->snapshot("1111-2222"))->state, "ready");

  api.failure = retryableError("connection refused");
  auto unreachable = verified.deleteSnapshot(snapshotJson(true, true), o);
  EXPECT_EQ(unreachable->result, Outcome::PrimaryUnreachable);
  EXPECT_EQ(unreachable->error->kind, ErrorKind::Retryable);
  EXPECT_EQ(treeDigest(drRoot / "snapshot-1111-2222"), archive);

  // A new snapshot under the same name (another uid): the replicated one is gone.
  api.failure.reset();
  api.objects["vms/snap-1"]["metadata"]["uid"] = "3333-4444";
  auto gone = verified.deleteSnapshot(snapshotJson(true, true), o);
  ASSERT_TRUE(gone->ok()) << gone->error->describe();
  EXPECT_EQ(gone->result, Outcome::Quarantined);
  EXPECT_FALSE(fs::exists(drRoot / "snapshot-1111-2222"));
}

// The PV side without serve: the same checks, the same words (serve_test covers them as events).
TEST_F(LocalReplicatorTest, AVerifiedPvDeleteMovesNothingUnlessConfirmed) {
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 4096, 1);
  ASSERT_TRUE(sync(pv("vol1")).ok());
  const auto before = treeDigest(drRoot);
  DeleteOptions o;
  o.verify = true;
  auto noApi = rep->deletePv(pv("vol1"), o);  // this Replicator has no primary API
  EXPECT_EQ(noApi->result, Outcome::PrimaryUnreachable);
  MapPrimary api;
  Replicator verified(cfg, runner, clock, *cat, &api);
  api.objects["/pvc-vol1"] = pv("vol1");
  EXPECT_EQ(verified.deletePv(pv("vol1"), o)->result, Outcome::StillPresent);
  Json stale = pv("vol1");
  stale["metadata"]["uid"] = "uid-of-an-earlier-pv";
  EXPECT_EQ(verified.deletePv(stale, o)->result, Outcome::UidMismatch);
  EXPECT_EQ(verified.deletePv(pv("never-synced"), o)->result, Outcome::NotReplicated);
  EXPECT_EQ(treeDigest(drRoot), before);
  api.objects.clear();
  auto real = verified.deletePv(pv("vol1"), o);
  EXPECT_EQ(real->result, Outcome::Quarantined);
  EXPECT_EQ(real->details["verification"]["primary"], "absent");
}

// After a failover the DR copies are the running VMs' disks: with DR active every handler that
// writes or removes DR data refuses (exit 3, naming the run and the release command), --force
// included, and DR stays byte for byte as it was; after the release syncs work again.
TEST_F(LocalReplicatorTest, DrActiveRefusesEverySyncAndDeleteUntilReleased) {
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 8192, 1);
  testing::writeRandomFile(primaryRoot / "vol2/disk.img", 8192, 2);
  testing::writeRandomFile(primaryRoot / "snapshot-1111-2222/pvc-vol1.tar.gz", 5000, 9);
  ASSERT_TRUE(sync(pv("vol1")).ok());
  ASSERT_TRUE(sync(pv("vol2")).ok());
  auto q = rep->deletePv(pv("vol2"));  // something in the trash to try restoring
  ASSERT_TRUE(q.ok() && q->result == Outcome::Quarantined);
  const std::string trashId = q->details["trash"]["id"];

  catalog::DrActiveRecord active{"20261124-031500-ab12", "nightly-1", "planned", clock.now()};
  ASSERT_TRUE(cat->setDrActive(active).ok());
  // The VM at DR writes; the primary's stale copy changes too (it must not come over).
  testing::writeRandomFile(drRoot / "vol1/disk.img", 8192, 3);
  testing::writeRandomFile(primaryRoot / "vol1/disk.img", 8192, 4);
  fs::last_write_time(primaryRoot / "vol1/disk.img",
                      fs::last_write_time(drRoot / "vol1/disk.img") + 10s);
  const auto before = treeDigest(drRoot);

  auto expectRefused = [&](const SyncReport& r, const std::string& what) {
    EXPECT_EQ(r.result, Outcome::Refused) << what;
    EXPECT_EQ(r.exitCode(), 3) << what;
    ASSERT_TRUE(r.error.has_value()) << what;
    EXPECT_NE(r.error->message.find("20261124-031500-ab12"), std::string::npos) << what;
    EXPECT_NE(r.error->message.find("ocpv-dr failover release --run 20261124-031500-ab12"),
              std::string::npos)
        << what << ": " << r.error->message;
  };
  expectRefused(sync(pv("vol1")), "pv sync");
  SyncOptions force;
  force.force = true;
  expectRefused(sync(pv("vol1"), force), "pv sync --force");
  expectRefused(sync(pv("vol3")), "pv sync of a PV never replicated");
  auto del = rep->deletePv(pv("vol1"));
  ASSERT_TRUE(del.ok());
  expectRefused(*del, "pv delete");
  SnapshotOptions so;
  so.content = contentJson();
  auto snap = rep->syncSnapshot(snapshotJson(true, false), so);
  ASSERT_TRUE(snap.ok());
  expectRefused(*snap, "snapshot sync");
  auto snapDel = rep->deleteSnapshot(snapshotJson(true, false));
  ASSERT_TRUE(snapDel.ok());
  expectRefused(*snapDel, "snapshot delete");
  auto restored = rep->restoreFromTrash(trashId);
  ASSERT_FALSE(restored.ok());
  EXPECT_EQ(restored.error().kind, ErrorKind::Refused);
  EXPECT_EQ(treeDigest(drRoot), before);
  EXPECT_FALSE(cat->snapshot("1111-2222")->has_value());  // not even recorded

  // Released by another run's id: refused; by the holder: syncs work again.
  EXPECT_EQ(cat->releaseDrActive("someone-else", clock.now(), "x").error().kind,
            ErrorKind::Conflict);
  ASSERT_TRUE(cat->releaseDrActive(active.runId, clock.now(), "failed back").ok());
  auto after = sync(pv("vol1"));
  EXPECT_EQ(after.result, Outcome::Synced) << (after.error ? after.error->describe() : "");
  EXPECT_EQ(treeDigest(primaryRoot / "vol1"), treeDigest(drRoot / "vol1"));
}

TEST_F(LocalReplicatorTest, SnapshotContentOfAnotherSnapshotIsRejected) {
  Json c = contentJson();
  c["spec"]["volumeSnapshotRef"]["uid"] = "someone-else";
  SnapshotOptions o;
  o.content = c;
  auto r = rep->syncSnapshot(snapshotJson(true, true), o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->error->kind, ErrorKind::Invalid);
  EXPECT_EQ(r->exitCode(), 2);
}

TEST_F(LocalReplicatorTest, InvalidInputIsAReportNotACrash) {
  for (Json bad : {Json::array(), Json{{"kind", "PersistentVolume"}}, Json("x"),
                   Json{{"metadata", {{"name", 3}}}}}) {
    auto r = rep->syncPv(bad);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->result, Outcome::Failed);
    EXPECT_EQ(r->exitCode(), 2) << bad.dump();
    EXPECT_EQ(r->toJson()["error"]["kind"], "invalid");
  }
}

// <export root>/.ocpv-dr holds the extent mover's snapshots and recovery points: a PV naming a
// path inside it is refused by sync and delete, so neither rsync's --delete nor a quarantine can
// touch the points.
TEST_F(LocalReplicatorTest, TheExtentMoversStateDirectoryIsNeverAPvDirectory) {
  testing::writeRandomFile(primaryRoot / ".ocpv-dr/points/pvc-x/other", 100, 1);
  testing::writeRandomFile(drRoot / ".ocpv-dr/points/pvc-x/P1/point", 100, 2);
  testing::writeRandomFile(drRoot / ".ocpv-dr/points/pvc-x/P1/tree/disk.img", 4096, 3);
  const auto before = treeDigest(drRoot);
  Json evil = inTreePv("pvc-evil", "nfs-primary", "/exports/ocp/.ocpv-dr/points/pvc-x");
  auto r = sync(evil);
  EXPECT_EQ(treeDigest(drRoot), before) << "the points are untouched";
  EXPECT_EQ(r.result, Outcome::Refused) << r.toJson().dump();
  EXPECT_NE(r.error.value_or(Error{}).message.find(".ocpv-dr"), std::string::npos);
  EXPECT_EQ(r.toJson()["mover"], "rsync") << "ext4/tmpfs here: auto fell back";
  auto d = rep->deletePv(evil);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->ok()) << d->toJson().dump();
  EXPECT_EQ(treeDigest(drRoot), before);
}

}  // namespace
}  // namespace ocpvdr::replication
