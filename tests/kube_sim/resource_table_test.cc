// kube-sim's resource table against the upstream CRDs in tests/fixtures/crds (parsed with
// yaml-cpp): kind, plural, group, served storage version, scope and status subresource.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <set>

#include "resource_table.h"
#include "support/temp_dir.h"

namespace kubesim {
namespace {

TEST(ResourceTable, MatchesTheUpstreamCrds) {
  const ResourceTable table = ResourceTable::standard();
  std::set<std::string> checked;
  for (const auto& entry :
       std::filesystem::directory_iterator(ocpvdr::testing::fixturePath("crds"))) {
    if (entry.path().extension() != ".yaml") continue;
    YAML::Node crd = YAML::LoadFile(entry.path().string());
    ASSERT_EQ(crd["kind"].as<std::string>(), "CustomResourceDefinition") << entry.path();
    const YAML::Node spec = crd["spec"];
    const std::string group = spec["group"].as<std::string>();
    const std::string plural = spec["names"]["plural"].as<std::string>();
    const std::string kind = spec["names"]["kind"].as<std::string>();
    const bool namespaced = spec["scope"].as<std::string>() == "Namespaced";
    std::string storageVersion;
    bool statusSub = false;
    for (const auto& v : spec["versions"]) {
      if (v["served"].as<bool>() && v["storage"].as<bool>()) {
        storageVersion = v["name"].as<std::string>();
        statusSub = v["subresources"] && v["subresources"]["status"].IsDefined();
      }
    }
    ASSERT_FALSE(storageVersion.empty()) << entry.path();
    const ResourceType* t = table.find(group, storageVersion, plural);
    ASSERT_NE(t, nullptr) << group << "/" << storageVersion << " " << plural;
    EXPECT_EQ(t->kind, kind);
    EXPECT_EQ(t->listKind, spec["names"]["listKind"] ? spec["names"]["listKind"].as<std::string>()
                                                     : kind + "List");
    EXPECT_EQ(t->namespaced, namespaced) << plural;
    EXPECT_EQ(t->statusSubresource, statusSub) << plural;
    EXPECT_TRUE(t->custom);
    if (spec["names"]["singular"]) {
      EXPECT_EQ(t->singular, spec["names"]["singular"].as<std::string>());
    }
    std::vector<std::string> shortNames;
    if (spec["names"]["shortNames"])
      shortNames = spec["names"]["shortNames"].as<std::vector<std::string>>();
    EXPECT_EQ(t->shortNames, shortNames) << plural;
    checked.insert(t->groupResource());
  }
  EXPECT_EQ(checked.size(), 8u);
  // Everything else served is built in (core, storage.k8s.io, apps, typed RBAC, Leases) or a CRD
  // without a fixture (CDI, OADP's DataProtectionApplication).
  for (const auto& t : table.all()) {
    if (checked.count(t.groupResource())) continue;
    const bool builtIn = t.group.empty() || t.group == "storage.k8s.io" || t.group == "apps" ||
                         t.group == "rbac.authorization.k8s.io" || t.group == "coordination.k8s.io";
    EXPECT_TRUE(builtIn || t.group == "cdi.kubevirt.io" || t.group == "oadp.openshift.io")
        << t.groupResource();
    EXPECT_EQ(t.custom, !builtIn) << t.groupResource();
  }
  // What failover preflight reads at DR.
  EXPECT_FALSE(table.find("storage.k8s.io", "v1", "csidrivers")->namespaced);
  EXPECT_FALSE(table.find("storage.k8s.io", "v1", "storageclasses")->namespaced);
  EXPECT_TRUE(table.find("apps", "v1", "controllerrevisions")->namespaced);
  EXPECT_TRUE(
      table.find("oadp.openshift.io", "v1alpha1", "dataprotectionapplications")->namespaced);
  EXPECT_EQ(table.findKind("oadp.openshift.io/v1alpha1", "DataProtectionApplication")->shortNames,
            std::vector<std::string>{"dpa"});
  EXPECT_NE(table.find("", "v1", "persistentvolumeclaims"), nullptr);
  EXPECT_TRUE(table.find("", "v1", "persistentvolumeclaims")->namespaced);
  EXPECT_FALSE(table.find("", "v1", "namespaces")->namespaced);
  EXPECT_FALSE(table.find("", "v1", "persistentvolumes")->namespaced);
  EXPECT_TRUE(table.find("cdi.kubevirt.io", "v1beta1", "datavolumes")->namespaced);
  EXPECT_EQ(table.findKind("kubevirt.io/v1", "VirtualMachine")->plural, "virtualmachines");
  EXPECT_EQ(table.findKind("v1", "VirtualMachine"), nullptr);
}

TEST(ResourceTable, BookmarkShapes) {
  const ResourceTable table = ResourceTable::standard();
  Json pvb = table.find("", "v1", "persistentvolumes")->bookmarkObject("7");
  EXPECT_EQ(
      pvb.dump(),
      R"({"apiVersion":"v1","kind":"PersistentVolume","metadata":{"creationTimestamp":null,"resourceVersion":"7"},"spec":{},"status":{}})");
  Json vmb = table.find("kubevirt.io", "v1", "virtualmachines")->bookmarkObject("7");
  EXPECT_EQ(
      vmb.dump(),
      R"({"apiVersion":"kubevirt.io/v1","kind":"VirtualMachine","metadata":{"resourceVersion":"7"}})");
}

}  // namespace
}  // namespace kubesim
