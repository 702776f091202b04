// Typed views on recorded objects and on VolumeSnapshot/VolumeSnapshotContent/VM shapes, and the
// quantity parser table.
#include "kube/views.h"

#include <gtest/gtest.h>

#include <sstream>

#include "core/files.h"
#include "kube/quantity.h"
#include "support/temp_dir.h"

namespace ocpvdr::kube {
namespace {

// The last state of each named object in the recorded PV watch stream.
std::map<std::string, Json> recordedPvs() {
  auto text = readFile(ocpvdr::testing::fixturePath("kube-api/watch_pv.ndjson").string());
  EXPECT_TRUE(text.ok());
  std::map<std::string, Json> last;
  std::istringstream in(text.valueOr(""));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto ev = Json::parse(line);
    if (ev["type"] == "MODIFIED" && ev["object"]["status"]["phase"] == "Bound") {
      last["bound"] = ev["object"];
    }
    if (ev["type"] == "ADDED") last[ev["object"]["metadata"]["name"]] = ev["object"];
  }
  return last;
}

TEST(PersistentVolumeView, InTreeNfsFromTheRecordedStream) {
  auto pvs = recordedPvs();
  ASSERT_TRUE(pvs.count("bound"));
  const Json& obj = pvs["bound"];
  PersistentVolumeView pv(obj);
  EXPECT_EQ(pv.name().valueOr(""), "pvc-11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(pv.uid().valueOr(""), "d9de9139-1ad4-4f13-b356-77b4457c4aff");
  EXPECT_FALSE(pv.resourceVersion().valueOr("").empty());
  EXPECT_EQ(pv.ns().valueOr("x"), "");
  EXPECT_EQ(pv.storageClassName().valueOr(std::nullopt), "nfs-dynamic");
  EXPECT_EQ(pv.volumeMode().valueOr(""), "Filesystem");
  auto nfs = pv.nfs();
  ASSERT_TRUE(nfs.ok() && nfs->has_value());
  EXPECT_EQ((*nfs)->server, "nfs-primary.example.com");
  EXPECT_EQ((*nfs)->path, "/exports/ocp/demo-rootdisk-pvc-11111111-2222-3333-4444-555555555555");
  EXPECT_FALSE((*nfs)->readOnly);
  EXPECT_FALSE(pv.csi().valueOr(CsiVolumeSource{}).has_value());
  auto claim = pv.claimRef();
  ASSERT_TRUE(claim.ok() && claim->has_value());
  EXPECT_EQ((*claim)->ns, "demo");
  EXPECT_EQ((*claim)->name, "rootdisk");
  EXPECT_EQ(pv.phase().valueOr(std::nullopt), "Bound");
  EXPECT_EQ(pv.reclaimPolicy().valueOr(std::nullopt), "Delete");
  EXPECT_EQ(pv.capacityBytes().valueOr(std::nullopt), 10LL << 30);
  EXPECT_EQ(pv.annotation("pv.kubernetes.io/provisioned-by").valueOr(std::nullopt),
            "k8s-sigs.io/nfs-subdir-external-provisioner");
  EXPECT_FALSE(pv.deleting());
}

TEST(PersistentVolumeView, CsiNfsFromTheRecordedStream) {
  auto pvs = recordedPvs();
  ASSERT_TRUE(pvs.count("pv-csi-nfs-1"));
  PersistentVolumeView pv(pvs["pv-csi-nfs-1"]);
  EXPECT_FALSE(pv.nfs().valueOr(NfsVolumeSource{}).has_value());
  auto csi = pv.csi();
  ASSERT_TRUE(csi.ok() && csi->has_value()) << (csi.ok() ? "" : csi.error().message);
  EXPECT_EQ((*csi)->driver, "nfs.csi.k8s.io");
  EXPECT_EQ((*csi)->volumeHandle, "nfs-primary.example.com#exports/csi#pv-csi-nfs-1##");
  EXPECT_EQ((*csi)->volumeAttributes.at("share"), "/exports/csi");
  EXPECT_EQ((*csi)->volumeAttributes.at("subdir"), "pv-csi-nfs-1");
  EXPECT_EQ(pv.reclaimPolicy().valueOr(std::nullopt), "Retain");
  EXPECT_FALSE(pv.claimRef().valueOr(ObjectReference{}).has_value());
  EXPECT_EQ(pv.capacityBytes().valueOr(std::nullopt), 5LL << 30);
}

TEST(PersistentVolumeView, WrongTypesAreNamedErrors) {
  Json obj = Json::parse(R"({"metadata":{"name":5,"labels":{"tier":1}},
    "spec":{"nfs":{"server":"s","path":["x"]},"csi":{"driver":"d","volumeHandle":"h",
    "volumeAttributes":{"share":3}},"storageClassName":{},"capacity":{"storage":"10 GB"}}})");
  PersistentVolumeView pv(obj);
  auto name = pv.name();
  ASSERT_FALSE(name.ok());
  EXPECT_NE(name.error().message.find("metadata.name"), std::string::npos);
  auto nfs = pv.nfs();
  ASSERT_FALSE(nfs.ok());
  EXPECT_NE(nfs.error().message.find("spec.nfs.path"), std::string::npos) << nfs.error().message;
  auto csi = pv.csi();
  ASSERT_FALSE(csi.ok());
  EXPECT_NE(csi.error().message.find("spec.csi.volumeAttributes.share: expected a string"),
            std::string::npos)
      << csi.error().message;
  auto sc = pv.storageClassName();
  ASSERT_FALSE(sc.ok());
  EXPECT_NE(sc.error().message.find("spec.storageClassName"), std::string::npos);
  auto cap = pv.capacityBytes();
  ASSERT_FALSE(cap.ok());
  EXPECT_NE(cap.error().message.find("spec.capacity.storage"), std::string::npos);
  auto label = pv.label("tier");
  ASSERT_FALSE(label.ok());
  EXPECT_NE(label.error().message.find("metadata.labels[tier]"), std::string::npos);
  // Missing required fields in a present source are named too.
  Json noServer = Json::parse(R"({"spec":{"nfs":{"path":"/x"}}})");
  auto r = PersistentVolumeView(noServer).nfs();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("spec.nfs.server"), std::string::npos);
}

TEST(PersistentVolumeClaimView, FromTheRecordedStream) {
  auto text = readFile(ocpvdr::testing::fixturePath("kube-api/watch_pvc.ndjson").string());
  ASSERT_TRUE(text.ok());
  std::istringstream in(*text);
  std::string line;
  Json bound;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto ev = Json::parse(line);
    if (ev["object"].contains("status") && ev["object"]["status"]["phase"] == "Bound") {
      bound = ev["object"];
    }
  }
  ASSERT_FALSE(bound.is_null());
  PersistentVolumeClaimView pvc(bound);
  EXPECT_EQ(pvc.ns().valueOr(""), "demo");
  EXPECT_EQ(pvc.name().valueOr(""), "rootdisk");
  EXPECT_EQ(pvc.volumeName().valueOr(std::nullopt), "pvc-11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(pvc.phase().valueOr(std::nullopt), "Bound");
  EXPECT_EQ(pvc.requestedBytes().valueOr(std::nullopt), 10LL << 30);
}

// FACTS §4 shapes: the same field names with different types.
const char* kVolumeSnapshot = R"({
  "apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot",
  "metadata":{"name":"snap-1","namespace":"demo","uid":"5f1c2e7a","resourceVersion":"301"},
  "spec":{"source":{"persistentVolumeClaimName":"rootdisk"},"volumeSnapshotClassName":"csi-nfs-snapclass"},
  "status":{"boundVolumeSnapshotContentName":"snapcontent-5f1c2e7a","creationTime":"2026-11-24T00:20:05Z",
            "readyToUse":true,"restoreSize":"1536Mi"}})";
const char* kVolumeSnapshotContent = R"({
  "apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshotContent",
  "metadata":{"name":"snapcontent-5f1c2e7a","uid":"c0ffee","resourceVersion":"302"},
  "spec":{"driver":"nfs.csi.k8s.io","deletionPolicy":"Delete",
          "volumeSnapshotRef":{"name":"snap-1","namespace":"demo","uid":"5f1c2e7a"}},
  "status":{"creationTime":1795479605000000000,"readyToUse":true,"restoreSize":1610612736,
            "snapshotHandle":"nfs-primary.example.com#exports/csi#snapshot-5f1c2e7a#snapshot-5f1c2e7a#pv-csi-nfs-1"}})";

TEST(SnapshotViews, BothShapesNormaliseToTheSameTimeAndBytes) {
  Json vsObj = Json::parse(kVolumeSnapshot);
  Json vscObj = Json::parse(kVolumeSnapshotContent);
  VolumeSnapshotView vs(vsObj);
  VolumeSnapshotContentView vsc(vscObj);
  EXPECT_EQ(vs.sourcePvcName().valueOr(std::nullopt), "rootdisk");
  EXPECT_EQ(vs.volumeSnapshotClassName().valueOr(std::nullopt), "csi-nfs-snapclass");
  EXPECT_EQ(vs.boundContentName().valueOr(std::nullopt), "snapcontent-5f1c2e7a");
  EXPECT_TRUE(vs.readyToUse().valueOr(false));
  auto vsTime = vs.creationTime();
  auto vscTime = vsc.creationTime();
  ASSERT_TRUE(vsTime.ok() && vsTime->has_value()) << (vsTime.ok() ? "" : vsTime.error().message);
  ASSERT_TRUE(vscTime.ok() && vscTime->has_value());
  EXPECT_EQ(**vsTime, **vscTime);  // 2026-11-24T00:20:05Z == 1795479605 s
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>((*vsTime)->time_since_epoch()).count(),
            1795479605);
  EXPECT_EQ(vs.restoreSizeBytes().valueOr(std::nullopt), 1610612736);
  EXPECT_EQ(vsc.restoreSizeBytes().valueOr(std::nullopt), 1610612736);
  EXPECT_EQ(vsc.driver().valueOr(""), "nfs.csi.k8s.io");
  EXPECT_EQ(vsc.deletionPolicy().valueOr(std::nullopt), "Delete");
  EXPECT_TRUE(vsc.readyToUse().valueOr(false));
  EXPECT_NE(vsc.snapshotHandle().valueOr(std::nullopt).value_or("").find("#snapshot-5f1c2e7a#"),
            std::string::npos);
  auto ref = vsc.volumeSnapshotRef();
  ASSERT_TRUE(ref.ok() && ref->has_value());
  EXPECT_EQ((*ref)->ns, "demo");
  EXPECT_EQ((*ref)->uid, "5f1c2e7a");
}

TEST(SnapshotViews, AbsentStatusIsNotAnError) {
  Json vsObj = Json::parse(kVolumeSnapshot);
  vsObj.erase("status");
  VolumeSnapshotView vs(vsObj);
  EXPECT_FALSE(vs.readyToUse().valueOr(true));
  EXPECT_FALSE(vs.creationTime().valueOr(SystemTime{}).has_value());
  EXPECT_FALSE(vs.restoreSizeBytes().valueOr(0).has_value());
  EXPECT_FALSE(vs.boundContentName().valueOr("x").has_value());
}

TEST(SnapshotViews, SwappedTypesAreNamedErrors) {
  // Each object carries the other kind's types: the errors name the field and what was expected.
  Json vsObj = Json::parse(kVolumeSnapshot);
  vsObj["status"]["restoreSize"] = 1610612736;
  vsObj["status"]["creationTime"] = 1795479605000000000LL;
  VolumeSnapshotView vs(vsObj);
  auto size = vs.restoreSizeBytes();
  ASSERT_FALSE(size.ok());
  EXPECT_NE(size.error().message.find("status.restoreSize: expected"), std::string::npos)
      << size.error().message;
  auto time = vs.creationTime();
  ASSERT_FALSE(time.ok());
  EXPECT_NE(time.error().message.find("status.creationTime: expected"), std::string::npos)
      << time.error().message;

  Json vscObj = Json::parse(kVolumeSnapshotContent);
  vscObj["status"]["restoreSize"] = "1536Mi";
  vscObj["status"]["creationTime"] = "2026-11-24T00:20:05Z";
  VolumeSnapshotContentView vsc(vscObj);
  auto vscSize = vsc.restoreSizeBytes();
  ASSERT_FALSE(vscSize.ok());
  EXPECT_NE(vscSize.error().message.find("status.restoreSize: expected"), std::string::npos)
      << vscSize.error().message;
  EXPECT_FALSE(vsc.creationTime().ok());

  vsObj["status"]["restoreSize"] = "lots";
  auto garbage = VolumeSnapshotView(vsObj).restoreSizeBytes();
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.error().message.find("status.restoreSize: quantity \"lots\""),
            std::string::npos)
      << garbage.error().message;
}

TEST(VirtualMachineView, RunStrategyRunningAndStatus) {
  Json vm = Json::parse(R"({"metadata":{"name":"rhel9","namespace":"vms"},
    "spec":{"runStrategy":"Always"},"status":{"printableStatus":"Running","ready":true}})");
  VirtualMachineView v(vm);
  EXPECT_EQ(v.runStrategy().valueOr(std::nullopt), "Always");
  EXPECT_EQ(v.printableStatus().valueOr(std::nullopt), "Running");
  EXPECT_TRUE(v.ready().valueOr(false));

  Json legacy = Json::parse(R"({"metadata":{"name":"old"},"spec":{"running":false}})");
  VirtualMachineView l(legacy);
  EXPECT_EQ(l.runStrategy().valueOr(std::nullopt), "Halted");
  EXPECT_FALSE(l.ready().valueOr(true));
  EXPECT_FALSE(l.printableStatus().valueOr("x").has_value());

  Json neither = Json::parse(R"({"metadata":{"name":"n"},"spec":{}})");
  EXPECT_FALSE(VirtualMachineView(neither).runStrategy().valueOr("x").has_value());

  Json bad = Json::parse(R"({"spec":{"running":"yes"},"status":{"ready":"true"}})");
  auto rs = VirtualMachineView(bad).runStrategy();
  ASSERT_FALSE(rs.ok());
  EXPECT_NE(rs.error().message.find("spec.running"), std::string::npos);
  EXPECT_FALSE(VirtualMachineView(bad).ready().ok());
}

TEST(RestoreView, PhaseAndBackup) {
  Json r = Json::parse(R"({"metadata":{"name":"r1","namespace":"openshift-adp"},
    "spec":{"backupName":"nightly"},"status":{"phase":"PartiallyFailed"}})");
  RestoreView v(r);
  EXPECT_EQ(v.backupName().valueOr(std::nullopt), "nightly");
  EXPECT_EQ(v.phase().valueOr(std::nullopt), "PartiallyFailed");
}

TEST(Quantity, Table) {
  const std::pair<const char*, std::int64_t> good[] = {
      {"0", 0},
      {"1", 1},
      {"1Ki", 1024},
      {"1Gi", 1073741824},
      {"1.5Gi", 1610612736},
      {"10Gi", 10737418240},
      {"1Ti", 1099511627776},
      {"500M", 500000000},
      {"1G", 1000000000},
      {"2k", 2000},
      {"1e3", 1000},
      {"1E3", 1000},
      {"1.5e3", 1500},
      {"2e+2", 200},
      {"5e-1", 1},  // 0.5 rounds up
      {"100m", 1},  // 0.1 rounds up
      {"1500m", 2},
      {"0.5Ki", 512},
      {".5Ki", 512},
      {"1.", 1},
      {"+3", 3},
      {"1E", 1000000000000000000},
      {"7Ei", 8070450532247928832},
      {"123456789", 123456789},
      {"1n", 1},
      {"0m", 0},
  };
  for (const auto& [text, want] : good) {
    auto r = parseQuantityBytes(text);
    ASSERT_TRUE(r.ok()) << text << ": " << r.error().message;
    EXPECT_EQ(*r, want) << text;
  }
  const char* bad[] = {"",     "Gi",   "abc",    "1Gib", "1 Gi",  " 1Gi", "1Gi ",  "1.2.3",
                       "1..5", "-1Gi", "1gi",    "1KB",  "e3",    "1e",   "1e3.5", "1ee3",
                       "8Ei",  "1e19", "1e9999", "0x10", "1_000", "--1"};
  for (const char* text : bad) {
    auto r = parseQuantityBytes(text);
    EXPECT_FALSE(r.ok()) << "\"" << text << "\" should be rejected, got " << r.valueOr(-1);
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
      EXPECT_NE(r.error().message.find("quantity \"" + std::string(text) + "\""),
                std::string::npos);
    }
  }
}

}  // namespace
}  // namespace ocpvdr::kube
