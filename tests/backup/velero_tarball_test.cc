// The streaming Velero tarball reader on archives built at test time with libarchive's writer:
// the layout, read-once semantics, format version, and hostile or damaged archives.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "backup/velero_tarball.h"
#include "support/temp_dir.h"
#include "support/velero_backup_writer.h"

namespace ocpvdr::backup {
namespace {

namespace t = ocpvdr::testing;

std::vector<Json> sampleObjects() {
  Json cm1 = {{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata", {{"name", "settings"}, {"namespace", "vms"}}},
              {"data", {{"k", "v"}}}};
  Json cm2 = cm1;
  cm2["metadata"]["name"] = "other-settings";
  Json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", {{"name", "creds"}, {"namespace", "vms"}}}};
  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "vms"}}}};
  return {
      ns,
      t::samplePv("pvc-1", "nfs-primary.example.com", "/exports/ocp/vms-root-pvc-1", "vms", "root"),
      t::sampleCsiPv("pvc-2", "nfs-primary.example.com", "/exports/ocp", "pvc-2", "vms", "data"),
      t::samplePvc("vms", "root", "pvc-1", "root"),
      t::samplePvc("vms", "data", "pvc-2"),
      t::sampleVm("vms", "vm-1", "root"),
      t::sampleDataVolume("vms", "root"),
      cm1,
      cm2,
      secret};
}

class VeleroTarball : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& bytes) {
    auto p = dir_.write(name, bytes);
    return p.string();
  }
  std::string writeBackup(const std::vector<Json>& objects, t::VeleroTarballOptions o = {}) {
    return write("backup.tar.gz", t::veleroTarball(objects, o));
  }
  void expectInvalid(const std::string& path, std::vector<std::string> needles,
                     TarballOptions o = {}) {
    auto r = readVeleroTarball(path, o);
    ASSERT_FALSE(r.ok()) << "accepted " << path;
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid) << r.error().describe();
    EXPECT_NE(r.error().message.find(path), std::string::npos)
        << "error does not name the file: " << r.error().message;
    for (const auto& n : needles)
      EXPECT_NE(r.error().message.find(n), std::string::npos) << r.error().message;
  }
  t::TempDir dir_;
};

TEST_F(VeleroTarball, ReadsEachItemOnceAlthoughStoredTwice) {
  std::string path = writeBackup(sampleObjects());
  int calls = 0;
  std::vector<std::string> entries;
  auto r = scanVeleroTarball(path, TarballOptions{}, [&](TarballItem&& item) -> Status {
    ++calls;
    entries.push_back(item.entry);
    EXPECT_FALSE(item.fromPreferredVersion);
    return Status::success();
  });
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(calls, 6);  // 2 PVs, 2 PVCs, 1 VM, 1 DV; nothing else is parsed
  EXPECT_EQ(r->formatVersion, "1.1.0");
  EXPECT_EQ(r->entries, 1u + 2 * 10);
  EXPECT_EQ(r->copiesSkipped, 10u);
  std::map<std::string, std::size_t> inventory = {{"configmaps", 2},
                                                  {"datavolumes.cdi.kubevirt.io", 1},
                                                  {"namespaces", 1},
                                                  {"persistentvolumeclaims", 2},
                                                  {"persistentvolumes", 2},
                                                  {"secrets", 1},
                                                  {"virtualmachines.kubevirt.io", 1}};
  EXPECT_EQ(r->inventory, inventory);
  EXPECT_EQ(r->totalItems(), 10u);
  for (const auto& e : entries) EXPECT_EQ(e.find("preferredversion"), std::string::npos) << e;
  EXPECT_NE(std::find(entries.begin(), entries.end(),
                      "resources/persistentvolumeclaims/namespaces/vms/root.json"),
            entries.end());
}

TEST_F(VeleroTarball, ExtractsTheWantedKindsWithNamespaces) {
  auto r = readVeleroTarball(writeBackup(sampleObjects()));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  ASSERT_EQ(r->of(kPersistentVolumes).size(), 2u);
  EXPECT_EQ(r->of(kPersistentVolumes)[0]->name, "pvc-1");
  EXPECT_EQ(r->of(kPersistentVolumes)[0]->ns, "");
  EXPECT_EQ(r->of(kPersistentVolumes)[0]->object["spec"]["nfs"]["server"],
            "nfs-primary.example.com");
  ASSERT_EQ(r->of(kPersistentVolumeClaims).size(), 2u);
  EXPECT_EQ(r->of(kPersistentVolumeClaims)[0]->ns, "vms");
  EXPECT_EQ(r->of(kPersistentVolumeClaims)[0]->name, "data");
  ASSERT_EQ(r->of(kVirtualMachines).size(), 1u);
  EXPECT_EQ(r->of(kVirtualMachines)[0]->object["spec"]["runStrategy"], "Always");
  ASSERT_EQ(r->of(kDataVolumes).size(), 1u);
  EXPECT_EQ(r->of(kDataVolumes)[0]->entry,
            "resources/datavolumes.cdi.kubevirt.io/namespaces/vms/root.json");

  TarballOptions onlyVms;
  onlyVms.extract = {std::string(kVirtualMachines)};
  auto vms = readVeleroTarball(writeBackup(sampleObjects()), onlyVms);
  ASSERT_TRUE(vms.ok());
  EXPECT_EQ(vms->items.size(), 1u);
  EXPECT_EQ(vms->totalItems(), 10u);
}

TEST_F(VeleroTarball, PlainCopyWinsWhicheverComesFirst) {
  t::VeleroTarballOptions o;
  o.preferredFirst = true;
  auto r = readVeleroTarball(writeBackup(sampleObjects(), o));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->items.size(), 6u);
  for (const auto& i : r->items) {
    EXPECT_FALSE(i.fromPreferredVersion) << i.entry;
    EXPECT_EQ(i.entry.find("preferredversion"), std::string::npos) << i.entry;
  }
  EXPECT_EQ(r->totalItems(), 10u);
}

TEST_F(VeleroTarball, FallsBackToThePreferredVersionCopy) {
  t::VeleroTarballOptions o;
  o.plainCopies = false;
  auto r = readVeleroTarball(writeBackup(sampleObjects(), o));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  ASSERT_EQ(r->items.size(), 6u);
  for (const auto& i : r->items) EXPECT_TRUE(i.fromPreferredVersion) << i.entry;
  EXPECT_EQ(
      r->of(kDataVolumes)[0]->entry,
      "resources/datavolumes.cdi.kubevirt.io/v1beta1-preferredversion/namespaces/vms/root.json");
  EXPECT_EQ(r->totalItems(), 10u);
  EXPECT_EQ(r->copiesSkipped, 0u);
}

TEST_F(VeleroTarball, ChecksMetadataVersion) {
  EXPECT_TRUE(checkFormatVersion("1.1.0").ok());
  EXPECT_TRUE(checkFormatVersion("1.2.10").ok());
  for (const char* v : {"2.0.0", "0.9.0", "1.1", "1..0", "1.1.0-rc1", "", "v1.1.0", "11.0.0"})
    EXPECT_FALSE(checkFormatVersion(v).ok()) << v;

  t::VeleroTarballOptions o;
  o.formatVersion = "2.0.0";
  expectInvalid(writeBackup(sampleObjects(), o), {"metadata/version is \"2.0.0\"", "1.x"});
  o.formatVersion = "1.1.0\n";  // a trailing newline is fine
  EXPECT_TRUE(readVeleroTarball(writeBackup(sampleObjects(), o)).ok());

  std::string noVersion = write(
      "nov.tar.gz",
      t::tarGz({{"resources/namespaces/cluster/vms.json", R"({"metadata":{"name":"vms"}})"}}));
  expectInvalid(noVersion, {"no metadata/version"});
}

TEST_F(VeleroTarball, RejectsEntriesEscapingTheRoot) {
  expectInvalid(
      write("dotdot.tar.gz", t::tarGz({{"metadata/version", "1.1.0"},
                                       {"../../etc/passwd", "root:x:0:0::/root:/bin/sh"}})),
      {"\"../../etc/passwd\"", "escapes the archive root"});
  expectInvalid(
      write("inner.tar.gz", t::tarGz({{"metadata/version", "1.1.0"},
                                      {"resources/persistentvolumes/../../../etc/cron.d/x", "x"}})),
      {"escapes the archive root"});
  expectInvalid(
      write("abs.tar.gz", t::tarGz({{"metadata/version", "1.1.0"}, {"/etc/passwd", "x"}})),
      {"\"/etc/passwd\"", "absolute path"});
}

TEST_F(VeleroTarball, RejectsLinksAndSpecialFiles) {
  using Type = t::TarEntry::Type;
  expectInvalid(write("sym.tar.gz", t::tarGz({{"metadata/version", "1.1.0"},
                                              {"resources/persistentvolumes/cluster/pv-1.json", "",
                                               Type::Symlink, "/etc/shadow"}})),
                {"resources/persistentvolumes/cluster/pv-1.json", "symbolic link", "/etc/shadow"});
  expectInvalid(write("hard.tar.gz", t::tarGz({{"metadata/version", "1.1.0"},
                                               {"resources/secrets/namespaces/a/s.json", "",
                                                Type::Hardlink, "metadata/version"}})),
                {"hard link"});
  expectInvalid(
      write("fifo.tar.gz", t::tarGz({{"metadata/version", "1.1.0"},
                                     {"resources/pods/namespaces/a/p.json", "", Type::Fifo}})),
      {"FIFO"});
  // Directory entries (as tar tools write them) are harmless.
  auto dirs = readVeleroTarball(write(
      "dirs.tar.gz",
      t::tarGz({{"resources/", "", Type::Directory},
                {"metadata/version", "1.1.0"},
                {"./resources/namespaces/cluster/vms.json", R"({"metadata":{"name":"vms"}})"}})));
  ASSERT_TRUE(dirs.ok()) << dirs.error().describe();
  EXPECT_EQ(dirs->inventory.at("namespaces"), 1u);
}

TEST_F(VeleroTarball, TruncatedAndCorruptArchivesGiveClearErrors) {
  std::string good = t::veleroTarball(sampleObjects());
  expectInvalid(write("truncated.tar.gz", good.substr(0, good.size() / 2)),
                {"corrupt or truncated archive"});
  std::string corrupt = good;
  for (std::size_t i = good.size() / 3; i < good.size() / 3 + 64; ++i) corrupt[i] ^= 0x5A;
  expectInvalid(write("corrupt.tar.gz", corrupt), {"corrupt or truncated archive"});
  std::string badHeader = good;
  badHeader[0] = 'X';  // not a gzip stream any more
  auto r = readVeleroTarball(write("badheader.tar.gz", badHeader));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
  expectInvalid(write("garbage.tar.gz", std::string(4096, '\x07')), {});
  expectInvalid(write("empty.tar.gz", ""), {});
  expectInvalid(write("plain.tar", t::tarGz({{"metadata/version", "1.1.0"}}, /*gzip=*/false)),
                {"not gzip-compressed"});
  auto missing = readVeleroTarball((dir_ / "does-not-exist.tar.gz").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
}

TEST_F(VeleroTarball, RandomCorruptionIsRejectedNeverCrashes) {
  const std::string good = t::veleroTarball(sampleObjects());
  std::mt19937 rng(11);
  int rejected = 0;
  for (int i = 0; i < 200; ++i) {
    std::string bad = good;
    for (int e = 0; e < 1 + static_cast<int>(rng() % 8); ++e)
      bad[rng() % bad.size()] = static_cast<char>(rng());
    auto r = readVeleroTarball(write("mutant.tar.gz", bad));
    if (!r.ok()) {
      ++rejected;
      EXPECT_TRUE(r.error().kind == ErrorKind::Invalid || r.error().kind == ErrorKind::NotFound)
          << r.error().describe();
    }
  }
  // gzip's CRC catches nearly every change to the compressed stream.
  EXPECT_GT(rejected, 150);
}

TEST_F(VeleroTarball, ItemProblemsNameTheEntry) {
  const std::string pvPath = "resources/persistentvolumes/cluster/pv-1.json";
  expectInvalid(
      write("json.tar.gz", t::tarGz({{"metadata/version", "1.1.0"}, {pvPath, "{\"metadata\": {"}})),
      {pvPath});
  expectInvalid(write("notobj.tar.gz", t::tarGz({{"metadata/version", "1.1.0"}, {pvPath, "[1]"}})),
                {pvPath, "does not hold a JSON object"});
  expectInvalid(write("name.tar.gz", t::tarGz({{"metadata/version", "1.1.0"},
                                               {pvPath, R"({"metadata":{"name":"pv-2"}})"}})),
                {pvPath, "metadata.name is not \"pv-1\""});
  expectInvalid(
      write("ns.tar.gz", t::tarGz({{"metadata/version", "1.1.0"},
                                   {"resources/persistentvolumeclaims/namespaces/a/c.json",
                                    R"({"metadata":{"name":"c","namespace":"b"}})"}})),
      {"metadata.namespace is not \"a\""});
  expectInvalid(write("dup.tar.gz", t::tarGz({{"metadata/version", "1.1.0"},
                                              {pvPath, R"({"metadata":{"name":"pv-1"}})"},
                                              {pvPath, R"({"metadata":{"name":"pv-1"}})"}})),
                {pvPath, "appears twice"});
  expectInvalid(write("layout.tar.gz", t::tarGz({{"metadata/version", "1.1.0"},
                                                 {"resources/persistentvolumes/pv.json", "{}"}})),
                {"resources/persistentvolumes/pv.json", "is not a Velero item path"});
  expectInvalid(
      write("ext.tar.gz", t::tarGz({{"metadata/version", "1.1.0"},
                                    {"resources/persistentvolumes/cluster/pv-1.yaml", "{}"}})),
      {"does not end in .json"});
  // Items that are not extracted are not parsed: a broken ConfigMap does not fail the read.
  auto ok = readVeleroTarball(
      write("cm.tar.gz", t::tarGz({{"metadata/version", "1.1.0"},
                                   {"resources/configmaps/namespaces/a/c.json", "not json"}})));
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_EQ(ok->inventory.at("configmaps"), 1u);
}

TEST_F(VeleroTarball, EnforcesThePerItemSizeCap) {
  Json big = t::samplePv("pv-big", "s", "/exports/ocp/x", "a", "b");
  big["metadata"]["annotations"]["padding"] = std::string(5000, 'p');
  TarballOptions o;
  o.maxItemBytes = 4096;
  expectInvalid(
      writeBackup({big}),
      {"resources/persistentvolumes/cluster/pv-big.json", "over the per-item limit of 4096"}, o);
}

// A gzip bomb: small on disk (zeros compress about 1000:1), far larger inflated. Every entry is
// under the per-item cap and outside resources/ (skipped unread), so only the total cap stops
// it, before the entry that would cross the limit is inflated.
TEST_F(VeleroTarball, GzipBombIsRefusedByTheTotalSizeCap) {
  std::vector<t::TarEntry> entries{{"metadata/version", "1.1.0"}};
  for (int i = 0; i < 64; ++i)
    entries.push_back({"padding/zeros-" + std::to_string(i), std::string(1 << 20, '\0')});
  const std::string path = dir_.path().string() + "/bomb.tar.gz";
  t::writeTarGz(path, entries);
  ASSERT_LT(std::filesystem::file_size(path), 1u << 20);  // < 1 MiB on disk, 64 MiB inflated
  TarballOptions o;
  o.maxTotalBytes = 8 << 20;
  expectInvalid(path, {"decompressed size passes the limit of 8388608 bytes", "padding/zeros-"}, o);
  // The same archive under the default cap: read through (the cap is what refused it).
  auto whole = readVeleroTarball(path);
  ASSERT_TRUE(whole.ok()) << whole.error().describe();
  EXPECT_EQ(whole->otherEntries, 64u);
}

TEST_F(VeleroTarball, VisitorErrorsStopTheRead) {
  int calls = 0;
  auto r = scanVeleroTarball(writeBackup(sampleObjects()), TarballOptions{},
                             [&](TarballItem&&) -> Status {
                               ++calls;
                               return conflictError("stop here");
                             });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Conflict);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace ocpvdr::backup
