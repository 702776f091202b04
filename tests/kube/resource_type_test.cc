// Resource table, REST paths (incl. KubeVirt's subresource group) and query encoding.
#include "kube/resource_type.h"

#include <gtest/gtest.h>

#include <set>

namespace ocpvdr::kube {
namespace {

TEST(ResourceTable, HasEveryTypeWithGroupVersionAndScope) {
  struct Want {
    const char *plural, *group, *version, *kind;
    bool namespaced;
  };
  const Want want[] = {
      {"namespaces", "", "v1", "Namespace", false},
      {"persistentvolumes", "", "v1", "PersistentVolume", false},
      {"persistentvolumeclaims", "", "v1", "PersistentVolumeClaim", true},
      {"volumesnapshots", "snapshot.storage.k8s.io", "v1", "VolumeSnapshot", true},
      {"volumesnapshotcontents", "snapshot.storage.k8s.io", "v1", "VolumeSnapshotContent", false},
      {"volumesnapshotclasses", "snapshot.storage.k8s.io", "v1", "VolumeSnapshotClass", false},
      {"virtualmachines", "kubevirt.io", "v1", "VirtualMachine", true},
      {"virtualmachineinstances", "kubevirt.io", "v1", "VirtualMachineInstance", true},
      {"datavolumes", "cdi.kubevirt.io", "v1beta1", "DataVolume", true},
      {"backups", "velero.io", "v1", "Backup", true},
      {"restores", "velero.io", "v1", "Restore", true},
      {"backupstoragelocations", "velero.io", "v1", "BackupStorageLocation", true},
      {"leases", "coordination.k8s.io", "v1", "Lease", true},
  };
  ASSERT_EQ(resources::all().size(), std::size(want));
  for (const auto& w : want) {
    auto t = findResourceType(w.plural);
    ASSERT_TRUE(t.ok()) << w.plural;
    EXPECT_EQ(t->group, w.group) << w.plural;
    EXPECT_EQ(t->version, w.version) << w.plural;
    EXPECT_EQ(t->kind, w.kind) << w.plural;
    EXPECT_EQ(t->namespaced, w.namespaced) << w.plural;
    auto byKind = findResourceType(w.kind);
    ASSERT_TRUE(byKind.ok());
    EXPECT_EQ(byKind->plural, w.plural);
  }
  EXPECT_EQ(resources::persistentVolumes().apiVersion(), "v1");
  EXPECT_EQ(resources::volumeSnapshots().apiVersion(), "snapshot.storage.k8s.io/v1");
  EXPECT_EQ(resources::virtualMachines().groupResource(), "virtualmachines.kubevirt.io");
  EXPECT_EQ(findResourceType("virtualmachines.kubevirt.io")->kind, "VirtualMachine");
  auto unknown = findResourceType("pods");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind, ErrorKind::NotFound);
  EXPECT_NE(unknown.error().message.find("pods"), std::string::npos);
}

TEST(Paths, CoreAndNamedGroupsClusterAndNamespaced) {
  EXPECT_EQ(collectionPath(resources::persistentVolumes(), "").valueOr(""),
            "/api/v1/persistentvolumes");
  EXPECT_EQ(objectPath(resources::persistentVolumes(), "", "pv-1").valueOr(""),
            "/api/v1/persistentvolumes/pv-1");
  EXPECT_EQ(collectionPath(resources::persistentVolumeClaims(), "demo").valueOr(""),
            "/api/v1/namespaces/demo/persistentvolumeclaims");
  EXPECT_EQ(collectionPath(resources::persistentVolumeClaims(), "").valueOr(""),
            "/api/v1/persistentvolumeclaims");  // across all namespaces
  EXPECT_EQ(objectPath(resources::namespaces(), "", "demo").valueOr(""), "/api/v1/namespaces/demo");
  EXPECT_EQ(objectPath(resources::volumeSnapshots(), "demo", "snap-1").valueOr(""),
            "/apis/snapshot.storage.k8s.io/v1/namespaces/demo/volumesnapshots/snap-1");
  EXPECT_EQ(objectPath(resources::volumeSnapshotContents(), "", "snapcontent-1").valueOr(""),
            "/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/snapcontent-1");
  EXPECT_EQ(collectionPath(resources::dataVolumes(), "vms").valueOr(""),
            "/apis/cdi.kubevirt.io/v1beta1/namespaces/vms/datavolumes");
  EXPECT_EQ(collectionPath(resources::restores(), "openshift-adp").valueOr(""),
            "/apis/velero.io/v1/namespaces/openshift-adp/restores");
  EXPECT_EQ(subresourcePath(resources::persistentVolumes(), "", "pv-1", "status").valueOr(""),
            "/api/v1/persistentvolumes/pv-1/status");
}

TEST(Paths, KubeVirtActionsUseTheSubresourcesGroup) {
  for (const char* action : {"start", "stop", "restart"}) {
    EXPECT_EQ(
        subresourcePath(resources::virtualMachines(), "vms", "rhel9", action).valueOr(""),
        std::string("/apis/subresources.kubevirt.io/v1/namespaces/vms/virtualmachines/rhel9/") +
            action);
  }
  for (const char* action : {"freeze", "unfreeze"}) {
    EXPECT_EQ(
        subresourcePath(resources::virtualMachineInstances(), "vms", "rhel9", action).valueOr(""),
        std::string(
            "/apis/subresources.kubevirt.io/v1/namespaces/vms/virtualmachineinstances/rhel9/") +
            action);
  }
  // The status subresource stays in kubevirt.io.
  EXPECT_EQ(subresourcePath(resources::virtualMachines(), "vms", "rhel9", "status").valueOr(""),
            "/apis/kubevirt.io/v1/namespaces/vms/virtualmachines/rhel9/status");
}

TEST(Paths, BadInputIsInvalidAndNamed) {
  auto r = collectionPath(resources::persistentVolumes(), "demo");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
  EXPECT_NE(r.error().message.find("cluster-scoped"), std::string::npos);
  r = objectPath(resources::persistentVolumeClaims(), "", "claim");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("namespaced"), std::string::npos);
  for (const char* name : {"", ".", "..", "a/b"}) {
    auto bad = objectPath(resources::persistentVolumes(), "", name);
    ASSERT_FALSE(bad.ok()) << name;
    EXPECT_EQ(bad.error().kind, ErrorKind::Invalid);
  }
  EXPECT_FALSE(objectPath(resources::persistentVolumeClaims(), "../x", "c").ok());
  EXPECT_FALSE(subresourcePath(resources::virtualMachines(), "vms", "vm", "").ok());
  EXPECT_FALSE(subresourcePath(resources::virtualMachines(), "vms", "vm", "a/b").ok());
}

TEST(Query, ValuesArePercentEncoded) {
  EXPECT_EQ(encodeQuery({}), "");
  EXPECT_EQ(encodeQuery({{"labelSelector", "app in (a,b),tier!=db"}, {"limit", "500"}}),
            "?labelSelector=app%20in%20%28a%2Cb%29%2Ctier%21%3Ddb&limit=500");
  EXPECT_EQ(encodeQuery({{"fieldSelector", "metadata.name=pv-1"}}),
            "?fieldSelector=metadata.name%3Dpv-1");
  // Continue tokens are base64 and may hold '+', '/', '='.
  EXPECT_EQ(encodeQuery({{"continue", "ab+/c=="}}), "?continue=ab%2B%2Fc%3D%3D");
  EXPECT_EQ(percentEncode("a-b_c.d~e"), "a-b_c.d~e");
  EXPECT_EQ(percentEncode("\xc3\xa9"), "%C3%A9");
}

TEST(Keys, NamespaceSlashNameOrName) {
  EXPECT_EQ(objectKey("demo", "claim"), "demo/claim");
  EXPECT_EQ(objectKey("", "pv-1"), "pv-1");
}

}  // namespace
}  // namespace ocpvdr::kube
