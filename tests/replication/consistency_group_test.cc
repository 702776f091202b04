// Consistency groups: VM → PVs through PVCs and DataVolumes, application groups by label, the
// freeze opt-out label, a claim that reaches no PV, and a lookup that fails.
#include "replication/consistency_group.h"

#include <gtest/gtest.h>

#include <map>

namespace ocpvdr::replication {
namespace {

Json vm(const std::string& name, const std::string& group = "", const std::string& freeze = "") {
  Json v = Json::parse(R"({"apiVersion":"kubevirt.io/v1","kind":"VirtualMachine",
    "metadata":{"namespace":"app","labels":{}},
    "spec":{"runStrategy":"Always","template":{"spec":{"volumes":[]}}}})");
  v["metadata"]["name"] = name;
  if (!group.empty()) v["metadata"]["labels"]["ocpv-dr.io/consistency-group"] = group;
  if (!freeze.empty()) v["metadata"]["labels"]["ocpv-dr.io/freeze"] = freeze;
  return v;
}

void addPvc(Json& v, const std::string& claim) {
  v["spec"]["template"]["spec"]["volumes"].push_back(
      Json{{"name", claim}, {"persistentVolumeClaim", {{"claimName", claim}}}});
}
void addDv(Json& v, const std::string& dv) {
  v["spec"]["template"]["spec"]["volumes"].push_back(
      Json{{"name", dv}, {"dataVolume", {{"name", dv}}}});
}

struct FakeApi : ConsistencyApi {
  std::vector<Json> vms;
  std::map<std::string, std::string> bound;  // claim → PV ("" = unbound)
  Result<std::vector<Json>> listVirtualMachines(std::string_view) override { return vms; }
  Result<Json> getVirtualMachineInstance(std::string_view, std::string_view) override {
    return notFoundError("no VMI");
  }
  Result<Json> getPersistentVolumeClaim(std::string_view ns, std::string_view name) override {
    auto it = bound.find(std::string(name));
    if (it == bound.end()) return notFoundError("no PVC " + std::string(name));
    if (it->second == "!") return retryableError("API down");
    Json pvc = {{"metadata", {{"namespace", ns}, {"name", name}}}, {"spec", Json::object()}};
    if (!it->second.empty()) pvc["spec"]["volumeName"] = it->second;
    return pvc;
  }
  Status freezeGuest(std::string_view, std::string_view, std::chrono::seconds) override {
    return {};
  }
  Status unfreezeGuest(std::string_view, std::string_view) override { return {}; }
};

TEST(ConsistencyGroup, AVmReachesItsPvsThroughPvcsAndDataVolumes) {
  FakeApi api;
  Json db = vm("db");
  addPvc(db, "db-data");
  addDv(db, "db-log");
  addPvc(db, "db-unbound");
  Json other = vm("web");
  addPvc(other, "web-root");
  api.vms = {db, other};
  api.bound = {{"db-data", "pv-a"}, {"db-log", "pv-b"}, {"db-unbound", ""}, {"web-root", "pv-w"}};
  auto g = findGroupOfClaim(api, "app", "db-log");
  ASSERT_TRUE(g.ok()) << g.error().describe();
  ASSERT_TRUE(g->has_value());
  EXPECT_EQ((*g)->id, "vm/app/db");
  ASSERT_EQ((*g)->vms.size(), 1u);
  EXPECT_EQ((*g)->pvs(), (std::vector<std::string>{"pv-a", "pv-b"}));
  ASSERT_EQ((*g)->vms[0].unresolved.size(), 1u);
  EXPECT_NE((*g)->vms[0].unresolved[0].find("db-unbound"), std::string::npos);
  EXPECT_FALSE((*g)->vms[0].freezeOptOut);

  auto none = findGroupOfClaim(api, "app", "nobody-uses-this");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(ConsistencyGroup, TheGroupLabelJoinsVmsOfTheNamespaceAndTheOptOutIsPerVm) {
  FakeApi api;
  Json a = vm("app-db", "shop");
  addPvc(a, "c1");
  Json b = vm("app-web", "shop", "False");
  addPvc(b, "c2");
  addPvc(b, "c3");
  Json c = vm("unrelated");
  addPvc(c, "c4");
  api.vms = {c, b, a};
  api.bound = {{"c1", "pv-1"}, {"c2", "pv-2"}, {"c3", "pv-3"}, {"c4", "pv-4"}};
  auto g = findGroupOfClaim(api, "app", "c1");
  ASSERT_TRUE(g.ok() && g->has_value());
  EXPECT_EQ((*g)->id, "group/app/shop");
  ASSERT_EQ((*g)->vms.size(), 2u);
  EXPECT_EQ((*g)->vms[0].name, "app-db");
  EXPECT_FALSE((*g)->vms[0].freezeOptOut);
  EXPECT_EQ((*g)->vms[1].name, "app-web");
  EXPECT_TRUE((*g)->vms[1].freezeOptOut);
  EXPECT_EQ((*g)->pvs(), (std::vector<std::string>{"pv-1", "pv-2", "pv-3"}));
}

TEST(ConsistencyGroup, ALookupThatFailsFailsTheGroupInsteadOfDroppingADisk) {
  FakeApi api;
  Json a = vm("db");
  addPvc(a, "c1");
  addPvc(a, "c2");
  api.vms = {a};
  api.bound = {{"c1", "pv-1"}, {"c2", "!"}};
  auto g = findGroupOfClaim(api, "app", "c1");
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.error().kind, ErrorKind::Retryable);
}

}  // namespace
}  // namespace ocpvdr::replication
