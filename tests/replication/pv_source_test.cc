// PV reading: envelopes, in-tree and csi-driver-nfs sources, not-replicable reasons, bad input.
#include "replication/pv_source.h"

#include <gtest/gtest.h>

namespace ocpvdr::replication {
namespace {

Json inTreePv() {
  return Json::parse(R"({
    "apiVersion": "v1", "kind": "PersistentVolume",
    "metadata": {"name": "pvc-1111", "uid": "u-1"},
    "spec": {"storageClassName": "nfs-dynamic", "volumeMode": "Filesystem",
             "claimRef": {"namespace": "vms", "name": "rootdisk"},
             "nfs": {"server": "nfs1.example.com", "path": "/exports/ocp/vms-rootdisk-pvc-1111"}},
    "status": {"phase": "Bound"}})");
}

Json csiPv(Json attrs, std::string handle) {
  Json pv = Json::parse(R"({"kind": "PersistentVolume", "metadata": {"name": "pvc-2222"},
    "spec": {"storageClassName": "nfs-csi", "csi": {"driver": "nfs.csi.k8s.io"}}})");
  pv["spec"]["csi"]["volumeHandle"] = handle;
  if (!attrs.is_null()) pv["spec"]["csi"]["volumeAttributes"] = attrs;
  return pv;
}

TEST(PvSource, InTreeNfs) {
  auto info = describePv(inTreePv());
  ASSERT_TRUE(info.ok()) << info.error().describe();
  EXPECT_EQ(info->name, "pvc-1111");
  EXPECT_EQ(info->uid, "u-1");
  EXPECT_EQ(info->claimNamespace, "vms");
  EXPECT_EQ(info->claimName, "rootdisk");
  EXPECT_EQ(info->storageClass, "nfs-dynamic");
  ASSERT_TRUE(info->nfs);
  EXPECT_EQ(info->nfs->kind, SourceKind::InTree);
  EXPECT_EQ(info->nfs->server, "nfs1.example.com");
  EXPECT_EQ(info->nfs->exportPath, "/exports/ocp/vms-rootdisk-pvc-1111");
}

TEST(PvSource, CsiFromVolumeAttributes) {
  auto info =
      describePv(csiPv({{"server", "nfs1"}, {"share", "/exports/ocp"}, {"subdir", "pvc-2222"}},
                       "nfs1#exports/ocp#pvc-2222##"));
  ASSERT_TRUE(info.ok());
  ASSERT_TRUE(info->nfs);
  EXPECT_EQ(info->nfs->kind, SourceKind::Csi);
  EXPECT_EQ(info->nfs->server, "nfs1");
  EXPECT_EQ(info->nfs->exportPath, "/exports/ocp/pvc-2222");
}

TEST(PvSource, CsiAttributeKeysAreCaseInsensitive) {
  auto info =
      describePv(csiPv({{"Server", "nfs1"}, {"Share", "/exports/ocp/"}, {"SubDir", "x"}}, "h"));
  ASSERT_TRUE(info.ok());
  ASSERT_TRUE(info->nfs);
  EXPECT_EQ(info->nfs->exportPath, "/exports/ocp/x");
}

TEST(PvSource, CsiFromHandleForms) {
  struct Case {
    std::string handle, server, path;
  } cases[] = {
      {"nfs1#exports/ocp#pvc-2222#pvc-2222#retain", "nfs1", "/exports/ocp/pvc-2222"},
      {"nfs1#exports/ocp#vms/pvc-2222#uuid", "nfs1", "/exports/ocp/vms/pvc-2222"},
      {"nfs1#exports/ocp#pvc-2222", "nfs1", "/exports/ocp/pvc-2222"},
      {"nfs1#/#pvc-2222", "nfs1", "/pvc-2222"},
      {"nfs1/exports/ocp/pvc-2222", "nfs1", "/exports/ocp/pvc-2222"},
  };
  for (const auto& c : cases) {
    auto info = describePv(csiPv(nullptr, c.handle));
    ASSERT_TRUE(info.ok()) << c.handle << ": " << info.error().describe();
    ASSERT_TRUE(info->nfs) << c.handle;
    EXPECT_EQ(info->nfs->server, c.server) << c.handle;
    EXPECT_EQ(info->nfs->exportPath, c.path) << c.handle;
  }
  for (std::string bad : {"", "justaname", "nfs1#share#", "#share#sub", "nfs1/", "nfs1/share/"}) {
    auto r = parseCsiNfsVolumeHandle(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
    }
  }
}

TEST(PvSource, NotReplicableReasons) {
  Json other = csiPv(nullptr, "vol-1");
  other["spec"]["csi"]["driver"] = "ebs.csi.aws.com";
  auto a = describePv(other);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->nfs);
  EXPECT_NE(a->notReplicableReason.find("ebs.csi.aws.com"), std::string::npos);

  Json block = inTreePv();
  block["spec"]["volumeMode"] = "Block";
  auto b = describePv(block);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->nfs);
  EXPECT_NE(b->notReplicableReason.find("Block"), std::string::npos);

  Json host = Json::parse(R"({"metadata":{"name":"p"},"spec":{"hostPath":{"path":"/x"}}})");
  auto c = describePv(host);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->nfs);
  EXPECT_NE(c->notReplicableReason.find("hostPath"), std::string::npos);
}

TEST(PvSource, MalformedInputNamesTheField) {
  Json pv = inTreePv();
  pv["spec"]["nfs"]["server"] = 42;
  auto r = describePv(pv);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
  EXPECT_NE(r.error().message.find("spec.nfs.server"), std::string::npos);

  Json noName = inTreePv();
  noName["metadata"].erase("name");
  auto n = describePv(noName);
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.error().message.find("metadata.name"), std::string::npos);
}

TEST(PvSource, UnwrapsEveryEnvelope) {
  Json pv = inTreePv();
  auto bare = unwrapObject(pv, "PersistentVolume");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->envelope, "object");

  Json fwd{{"kind", "PersistentVolume"},
           {"type", "MODIFIED"},
           {"resource", pv},
           {"id", "ev-9"},
           {"cluster", "primary"}};
  auto f = unwrapObject(fwd, "PersistentVolume");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->envelope, "forwarder");
  EXPECT_EQ(f->eventType, "MODIFIED");
  EXPECT_EQ(f->eventId, "ev-9");
  EXPECT_EQ(f->object["metadata"]["name"], "pvc-1111");

  Json eda{{"payload", fwd}, {"meta", {{"endpoint", "/"}}}};
  auto e = unwrapObject(eda, "PersistentVolume");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->envelope, "eda");
  EXPECT_EQ(e->eventId, "ev-9");

  Json aap{{"event", eda}};
  auto a = unwrapObject(aap, "PersistentVolume");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->envelope, "aap");
  EXPECT_EQ(a->object["spec"]["nfs"]["server"], "nfs1.example.com");
}

TEST(PvSource, UnwrapRejectsWrongKindsAndShapes) {
  Json vs{{"kind", "VolumeSnapshot"}, {"metadata", {{"name", "s"}}}};
  auto w = unwrapObject(vs, "PersistentVolume");
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.error().message.find("VolumeSnapshot"), std::string::npos);

  Json fwd{{"kind", "VolumeSnapshot"}, {"type", "ADDED"}, {"resource", vs}};
  EXPECT_FALSE(unwrapObject(fwd, "PersistentVolume").ok());

  EXPECT_FALSE(unwrapObject(Json::array(), "PersistentVolume").ok());
  EXPECT_FALSE(unwrapObject(Json{{"payload", {{"type", "ADDED"}}}}, "PersistentVolume").ok());
  EXPECT_FALSE(unwrapObject(Json{{"spec", {}}}, "PersistentVolume").ok());
}

}  // namespace
}  // namespace ocpvdr::replication
