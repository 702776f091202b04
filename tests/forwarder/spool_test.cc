// The SQLite spool: what survives a reopen, folded rows replacing by sequence number, and
// atomicity of a batch under SIGKILL at arbitrary points (a child process commits in a loop and
// is killed; the checkpoint never runs ahead of the events).
#include "forwarder/spool.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "support/temp_dir.h"

namespace ocpvdr::forwarder {
namespace {

using ocpvdr::testing::TempDir;

SpoolRow row(std::int64_t seq, const std::string& key, const std::string& rv) {
  SpoolRow r;
  r.seq = seq;
  r.key = key;
  r.uid = "uid-" + key;
  r.id = r.uid + ":" + rv + ":MODIFIED";
  r.kind = "PersistentVolume";
  r.type = ChangeType::Modified;
  r.body = R"({"id":")" + r.id + R"("})";
  return r;
}

CheckpointEntry object(const std::string& name, const std::string& rv) {
  CheckpointEntry e;
  e.kind = "PersistentVolume";
  e.key = "PersistentVolume/" + name;
  e.uid = "uid-" + name;
  e.resourceVersion = rv;
  e.object = R"({"metadata":{"name":")" + name + R"("},"spec":{"storageClassName":"nfs"}})";
  return e;
}

// The spool holds the primary's objects: a directory it creates is 0700 whatever the umask; one
// the operator made keeps its mode.
TEST(Spool, CreatesItsDirectoryOwnerOnly) {
  TempDir dir;
  namespace fs = std::filesystem;
  const mode_t old = ::umask(022);
  auto spool = Spool::open(dir.str() + "/parent/spool");
  ASSERT_TRUE(spool.ok()) << spool.error().message;
  EXPECT_EQ(fs::status(dir.str() + "/parent/spool").permissions() & fs::perms::all,
            fs::perms::owner_all);
  fs::create_directories(dir.str() + "/mine");
  fs::permissions(dir.str() + "/mine",
                  fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  auto mine = Spool::open(dir.str() + "/mine");
  ::umask(old);
  ASSERT_TRUE(mine.ok()) << mine.error().message;
  EXPECT_EQ(fs::status(dir.str() + "/mine").permissions() & fs::perms::all,
            fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
}

TEST(Spool, BatchSurvivesReopen) {
  TempDir dir;
  {
    auto spool = Spool::open(dir.str() + "/spool");
    ASSERT_TRUE(spool.ok()) << spool.error().message;
    SpoolBatch b;
    b.upserts = {row(1, "PersistentVolume/a", "10"), row(2, "PersistentVolume/b", "11")};
    b.objectUpserts = {object("a", "10"), object("b", "11")};
    b.watchVersions["persistentvolumes"] = "11";
    ASSERT_TRUE((*spool)->commit(b).ok());
    SpoolBatch b2;
    b2.deletes = {1};
    b2.upserts = {row(2, "PersistentVolume/b", "12")};  // folded: same seq, newer state
    b2.objectUpserts = {object("b", "12")};
    b2.objectDeletes = {"PersistentVolume/gone"};
    ASSERT_TRUE((*spool)->commit(b2).ok());
  }
  auto spool = Spool::open(dir.str() + "/spool");
  ASSERT_TRUE(spool.ok());
  auto rows = (*spool)->pending();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].seq, 2);
  EXPECT_EQ((*rows)[0].id, "uid-PersistentVolume/b:12:MODIFIED");
  EXPECT_TRUE((*rows)[0].body.empty()) << "listing leaves bodies out";
  auto reader = (*spool)->reader();
  ASSERT_TRUE(reader.ok());
  auto body = (*reader)->body(2);
  ASSERT_TRUE(body.ok());
  ASSERT_TRUE(body->has_value());
  EXPECT_EQ(**body, R"({"id":"uid-PersistentVolume/b:12:MODIFIED"})");
  auto gone = (*reader)->body(1);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());

  auto cp = (*spool)->checkpoint();
  ASSERT_TRUE(cp.ok());
  ASSERT_EQ(cp->size(), 2u);
  EXPECT_EQ((*cp)[1].key, "PersistentVolume/b");
  EXPECT_EQ((*cp)[1].objectKey, "b");
  EXPECT_EQ((*cp)[1].resourceVersion, "12");
  EXPECT_TRUE((*cp)[1].object.empty()) << "objects only on request";
  auto obj = (*reader)->object("PersistentVolume/a");
  ASSERT_TRUE(obj.ok());
  ASSERT_TRUE(obj->has_value());
  EXPECT_NE((*obj)->object.find("storageClassName"), std::string::npos);
  auto versions = (*spool)->watchVersions();
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->at("persistentvolumes"), "11");
}

TEST(Spool, NamespacedCheckpointKeys) {
  TempDir dir;
  auto spool = Spool::open(dir.str());
  ASSERT_TRUE(spool.ok());
  CheckpointEntry e;
  e.kind = "VolumeSnapshot";
  e.key = "VolumeSnapshot/vms/snap-1";
  e.uid = "u";
  e.resourceVersion = "5";
  e.object = "{}";
  SpoolBatch b;
  b.objectUpserts = {e};
  ASSERT_TRUE((*spool)->commit(b).ok());
  auto cp = (*spool)->checkpoint(true);
  ASSERT_TRUE(cp.ok());
  ASSERT_EQ(cp->size(), 1u);
  EXPECT_EQ((*cp)[0].objectKey, "vms/snap-1");
  EXPECT_EQ((*cp)[0].object, "{}");
}

TEST(Spool, UnusableDirectoryIsAClearError) {
  TempDir dir;
  dir.write("file", "x");
  auto spool = Spool::open(dir.str() + "/file/sub");
  ASSERT_FALSE(spool.ok());
  EXPECT_NE(spool.error().message.find(dir.str() + "/file/sub"), std::string::npos)
      << spool.error().message;
}

// The child commits batch i = {event seq i, checkpoint rv i} as fast as it can until killed. After
// SIGKILL at an arbitrary point, the checkpoint's version must equal the newest event's: a batch
// is all or nothing.
TEST(Spool, KilledMidCommitLeavesCheckpointAndEventsTogether) {
  TempDir dir;
  const std::string path = dir.str() + "/spool";
  ASSERT_TRUE(Spool::open(path).ok());
  for (int round = 0; round < 5; ++round) {
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto spool = Spool::open(path);
      if (!spool.ok()) ::_exit(3);
      auto rows = (*spool)->pending();
      std::int64_t seq = rows.ok() && !rows->empty() ? rows->back().seq : 0;
      while (true) {
        ++seq;
        SpoolBatch b;
        b.upserts = {row(seq, "PersistentVolume/a", std::to_string(seq))};
        b.objectUpserts = {object("a", std::to_string(seq))};
        b.objectUpserts[0].object.append(std::string(static_cast<std::size_t>(seq % 4000), 'x'));
        if (!(*spool)->commit(b).ok()) ::_exit(4);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + 37 * round));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child stopped by itself with " << status;

    auto spool = Spool::open(path);
    ASSERT_TRUE(spool.ok());
    auto rows = (*spool)->pending();
    ASSERT_TRUE(rows.ok());
    ASSERT_FALSE(rows->empty());
    auto cp = (*spool)->checkpoint();
    ASSERT_TRUE(cp.ok());
    ASSERT_EQ(cp->size(), 1u);
    EXPECT_EQ((*cp)[0].resourceVersion, std::to_string(rows->back().seq))
        << "round " << round << ": checkpoint and newest event disagree";
    // The sequence has no holes: every committed batch is complete.
    EXPECT_EQ(static_cast<std::int64_t>(rows->size()), rows->back().seq);
  }
}

}  // namespace
}  // namespace ocpvdr::forwarder
