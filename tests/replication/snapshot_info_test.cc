// VolumeSnapshot / VolumeSnapshotContent reading with both type variants, quantities, and
// csi-driver-nfs snapshot handles.
#include "replication/snapshot_info.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace ocpvdr::replication {
namespace {

TEST(Quantity, ParsesKubernetesForms) {
  struct Case {
    const char* text;
    std::int64_t bytes;
  } cases[] = {{"0", 0},
               {"1024", 1024},
               {"1Ki", 1024},
               {"1Gi", 1LL << 30},
               {"1.5Gi", 3LL << 29},
               {"10Gi", 10LL << 30},
               {"500M", 500000000},
               {"1k", 1000},
               {"2e3", 2000},
               {"1E", 1000000000000000000LL},
               {"100m", 1},
               {"1500m", 2},
               {"+5", 5},
               {"7Ei", 7LL << 60},
               {"0.5Ki", 512}};
  for (const auto& c : cases) {
    auto r = parseQuantityBytes(c.text, "status.restoreSize");
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.error().describe();
    EXPECT_EQ(*r, c.bytes) << c.text;
  }
}

TEST(Quantity, RejectsGarbageNamingTheField) {
  for (const char* bad : {"", "Gi", "1GB", "-1Gi", "1.2.3", "abc", "9Ei", "1e", "1x"}) {
    auto r = parseQuantityBytes(bad, "status.restoreSize");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
    EXPECT_NE(r.error().message.find("status.restoreSize"), std::string::npos) << bad;
  }
}

Json vsJson() {
  return Json::parse(R"({"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot",
    "metadata":{"name":"snap-1","namespace":"vms","uid":"1234-abcd"},
    "spec":{"source":{"persistentVolumeClaimName":"rootdisk"},"volumeSnapshotClassName":"csi-nfs"}})");
}

TEST(SnapshotInfo, NoStatusMeansNotReady) {
  auto s = describeSnapshot(vsJson());
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->ready);
  EXPECT_EQ(s->sourcePvc, "rootdisk");
  EXPECT_EQ(s->className, "csi-nfs");
  EXPECT_FALSE(s->creationTime);
  EXPECT_FALSE(s->restoreSize);
}

TEST(SnapshotInfo, StringTimeAndQuantityOnVolumeSnapshot) {
  Json vs = vsJson();
  vs["status"] = {{"readyToUse", true},
                  {"boundVolumeSnapshotContentName", "snapcontent-1234-abcd"},
                  {"creationTime", "2026-11-24T00:12:21Z"},
                  {"restoreSize", "10Gi"}};
  auto s = describeSnapshot(vs);
  ASSERT_TRUE(s.ok()) << s.error().describe();
  EXPECT_TRUE(s->ready);
  EXPECT_EQ(s->boundContent, "snapcontent-1234-abcd");
  ASSERT_TRUE(s->creationTime);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*s->creationTime), 1795479141);
  EXPECT_EQ(s->restoreSize, 10LL << 30);
}

TEST(SnapshotInfo, IntegerNanosecondsAndBytesOnContent) {
  Json vsc =
      Json::parse(R"({"kind":"VolumeSnapshotContent","metadata":{"name":"snapcontent-1234-abcd"},
    "spec":{"driver":"nfs.csi.k8s.io","source":{"volumeHandle":"nfs1#exports/ocp#pvc-1##"},
            "volumeSnapshotRef":{"namespace":"vms","name":"snap-1","uid":"1234-abcd"}},
    "status":{"readyToUse":true,"creationTime":1795479141123456789,"restoreSize":10737418240,
              "snapshotHandle":"nfs1#exports/ocp#snapshot-1234-abcd#snapshot-1234-abcd#pvc-1"}})");
  auto c = describeSnapshotContent(vsc);
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(c->driver, "nfs.csi.k8s.io");
  EXPECT_EQ(c->snapshotRefUid, "1234-abcd");
  ASSERT_TRUE(c->creationTime);
  auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(c->creationTime->time_since_epoch());
  EXPECT_EQ(ns.count() / 1000, 1795479141123456789LL / 1000);  // system_clock keeps at least µs
  EXPECT_EQ(c->restoreSize, 10737418240LL);
}

TEST(SnapshotInfo, WrongTypesAreInvalidWithThePath) {
  Json vs = vsJson();
  vs["status"] = {{"readyToUse", "yes"}};
  auto a = describeSnapshot(vs);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("status.readyToUse"), std::string::npos);
  vs["status"] = {{"creationTime", true}};
  auto b = describeSnapshot(vs);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.error().message.find("status.creationTime"), std::string::npos);
  vs["status"] = {{"restoreSize", "lots"}};
  EXPECT_FALSE(describeSnapshot(vs).ok());
  vs["status"] = {{"creationTime", "yesterday"}};
  EXPECT_FALSE(describeSnapshot(vs).ok());
  Json noUid = vsJson();
  noUid["metadata"].erase("uid");
  EXPECT_FALSE(describeSnapshot(noUid).ok());
}

TEST(SnapshotInfo, CsiNfsHandleGivesTheArchiveLocation) {
  auto l = parseCsiNfsSnapshotHandle("nfs1#exports/ocp#snapshot-1234#snapshot-1234#pvc-5678");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->server, "nfs1");
  EXPECT_EQ(l->archiveDir, "/exports/ocp/snapshot-1234");
  EXPECT_EQ(l->archiveName, "pvc-5678.tar.gz");
  for (const char* bad :
       {"nfs1#exports#a#a", "nfs1#e#../x#a#b", "nfs1#e#a#a#b/c", "#e#a#a#b", "nfs1#e#a#a#b#extra"})
    EXPECT_FALSE(parseCsiNfsSnapshotHandle(bad).ok()) << bad;
}

// csi-driver-nfs writes <src>.tar.gz, or <src>.tar when the class turns compression off: both
// are found, the compressed one first.
TEST(SnapshotInfo, CsiNfsArchiveIsFoundAsTarGzOrTar) {
  auto l = parseCsiNfsSnapshotHandle("nfs1#exports/ocp#snapshot-1234#snapshot-1234#pvc-5678");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->archiveNames(), (std::vector<std::string>{"pvc-5678.tar.gz", "pvc-5678.tar"}));
  const auto dir =
      std::filesystem::temp_directory_path() / ("ocpvdr-snapinfo-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  EXPECT_FALSE(findCsiNfsArchive(dir.string(), *l).has_value());
  std::ofstream(dir / "pvc-5678.tar") << "tar";
  EXPECT_EQ(findCsiNfsArchive(dir.string(), *l), (dir / "pvc-5678.tar").string());
  std::ofstream(dir / "pvc-5678.tar.gz") << "gz";
  EXPECT_EQ(findCsiNfsArchive(dir.string(), *l), (dir / "pvc-5678.tar.gz").string());
  // Another volume's archive or a directory of that name is not it.
  std::filesystem::remove(dir / "pvc-5678.tar");
  std::filesystem::remove(dir / "pvc-5678.tar.gz");
  std::filesystem::create_directories(dir / "pvc-5678.tar");
  std::ofstream(dir / "pvc-9999.tar.gz") << "other";
  EXPECT_FALSE(findCsiNfsArchive(dir.string(), *l).has_value());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ocpvdr::replication
