// kube-sim enforces the API server rules the product relies on (issue 13, item 10), each checked
// over HTTP against the binary: RBAC from ClusterRoles/Roles and their bindings (--rbac), the
// immutability of PV sources and PVC specs on update, server-side apply treating atomic structs
// as one value, 422 for sendInitialEvents without resourceVersionMatch=NotOlderThan, and the
// periodic compaction that turns an old resourceVersion into 410 without a test forcing it.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "sim_test_util.h"

namespace kubesim_test {
namespace {

using ocpvdr::testing::KubeSimOptions;
using ocpvdr::testing::KubeSimResponse;

constexpr const char* kSa = "system:serviceaccount:ocpv-dr:ocpv-dr-forwarder";
constexpr const char* kSaToken = "forwarder-sa-token";
constexpr const char* kUserToken = "alice-token";
constexpr const char* kSnaps = "/apis/snapshot.storage.k8s.io/v1";
constexpr const char* kRbac = "/apis/rbac.authorization.k8s.io/v1";

std::string readSource(const std::string& rel) {
  std::ifstream f(ocpvdr::testing::sourcePath(rel));
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

KubeSimOptions rbacOptions() {
  KubeSimOptions o;
  o.extraArgs = {"--rbac", "--token-user", std::string(kSaToken) + "=" + kSa, "--token-user",
                 std::string(kUserToken) + "=alice"};
  return o;
}

KubeSimResponse as(const KubeSimProcess& sim, const std::string& token, const std::string& method,
                   const std::string& path, const std::string& body = "",
                   const std::string& contentType = "application/json") {
  return sim.send(method, path, body, contentType, {{"Authorization", "Bearer " + token}});
}

void expectCreated(const KubeSimResponse& r, const std::string& what) {
  EXPECT_TRUE(r.status == 201 || r.status == 200) << what << ": " << r.status << " " << r.body;
}

// The shipped forwarder role and binding, exactly as deploy/ holds them (YAML bodies).
void installForwarderRole(KubeSimProcess& sim) {
  expectCreated(sim.send("POST", std::string(kRbac) + "/clusterroles",
                         readSource("deploy/forwarder/clusterrole.yaml"), "application/yaml"),
                "clusterrole");
  expectCreated(
      sim.send("POST", std::string(kRbac) + "/clusterrolebindings",
               readSource("deploy/forwarder/clusterrolebinding.yaml"), "application/yaml"),
      "clusterrolebinding");
}

json snapshot(const std::string& ns, const std::string& name) {
  return {{"apiVersion", "snapshot.storage.k8s.io/v1"},
          {"kind", "VolumeSnapshot"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"source", {{"persistentVolumeClaimName", "pvc-" + name}}}}}};
}

// ---------------------------------------------------------------------------------------------
// RBAC

TEST(KubeSimRbac, OffByDefaultEveryAcceptedTokenMayDoEverything) {
  KubeSimOptions o;
  o.extraArgs = {"--token-user", std::string(kSaToken) + "=" + kSa};
  KubeSimProcess sim(o);
  auto r = as(sim, kSaToken, "POST", "/api/v1/persistentvolumes", pv("free-for-all").dump());
  EXPECT_EQ(r.status, 201) << r.body;
}

TEST(KubeSimRbac, ShippedForwarderRoleGrantsReadsOfPvsAndSnapshotsAndNothingElse) {
  KubeSimProcess sim(rbacOptions());
  createNamespace(sim, "vms");
  expectCreated(sim.send("POST", "/api/v1/persistentvolumes", pv("pv-a").dump()), "pv");
  expectCreated(sim.send("POST", std::string(kSnaps) + "/namespaces/vms/volumesnapshots",
                         snapshot("vms", "s1").dump()),
                "snapshot");

  // Before the binding exists the service account may read nothing.
  auto before = as(sim, kSaToken, "GET", "/api/v1/persistentvolumes");
  ASSERT_EQ(before.status, 403) << before.body;
  EXPECT_EQ(before.json()["message"],
            std::string("persistentvolumes is forbidden: User \"") + kSa +
                "\" cannot list resource \"persistentvolumes\" in API group \"\" at the cluster "
                "scope");
  EXPECT_EQ(before.json()["reason"], "Forbidden");
  EXPECT_EQ(before.json()["details"]["kind"], "persistentvolumes");

  installForwarderRole(sim);
  const std::vector<std::string> allowed = {
      "/api/v1/persistentvolumes", "/api/v1/persistentvolumes/pv-a",
      "/api/v1/persistentvolumes?watch=true&timeoutSeconds=1",
      std::string(kSnaps) + "/volumesnapshots",
      std::string(kSnaps) + "/namespaces/vms/volumesnapshots",
      std::string(kSnaps) + "/namespaces/vms/volumesnapshots?watch=true&timeoutSeconds=1",
      // discovery and version: every authenticated user (bootstrap policy)
      "/api", "/apis", "/api/v1", "/version"};
  for (const auto& path : allowed) {
    auto r = as(sim, kSaToken, "GET", path);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
  }
  // get on one content (a ready snapshot's payload carries its bound content): authorized, the
  // object is just missing.
  auto content = as(sim, kSaToken, "GET", std::string(kSnaps) + "/volumesnapshotcontents/none");
  EXPECT_EQ(content.status, 404) << content.body;

  struct Denied {
    std::string method, path, body, message;
  };
  const std::string user = std::string("User \"") + kSa + "\"";
  const std::vector<Denied> denied = {
      {"POST", "/api/v1/persistentvolumes", pv("pv-b").dump(),
       "persistentvolumes is forbidden: " + user +
           " cannot create resource \"persistentvolumes\" in API group \"\" at the cluster scope"},
      {"PATCH", "/api/v1/persistentvolumes/pv-a", R"({"metadata":{"labels":{"x":"y"}}})",
       "persistentvolumes \"pv-a\" is forbidden: " + user +
           " cannot patch resource \"persistentvolumes\" in API group \"\" at the cluster scope"},
      {"DELETE", "/api/v1/persistentvolumes/pv-a", "",
       "persistentvolumes \"pv-a\" is forbidden: " + user +
           " cannot delete resource \"persistentvolumes\" in API group \"\" at the cluster scope"},
      {"PUT", "/api/v1/persistentvolumes/pv-a/status", pv("pv-a").dump(),
       "persistentvolumes \"pv-a\" is forbidden: " + user +
           " cannot update resource \"persistentvolumes/status\" in API group \"\" at the "
           "cluster scope"},
      {"GET", "/api/v1/namespaces/vms/persistentvolumeclaims", "",
       "persistentvolumeclaims is forbidden: " + user +
           " cannot list resource \"persistentvolumeclaims\" in API group \"\" in the namespace "
           "\"vms\""},
      {"DELETE", std::string(kSnaps) + "/namespaces/vms/volumesnapshots", "",
       "volumesnapshots.snapshot.storage.k8s.io is forbidden: " + user +
           " cannot deletecollection resource \"volumesnapshots\" in API group "
           "\"snapshot.storage.k8s.io\" in the namespace \"vms\""},
      {"GET", std::string(kSnaps) + "/namespaces/vms/volumesnapshots/s1", "",
       "volumesnapshots.snapshot.storage.k8s.io \"s1\" is forbidden: " + user +
           " cannot get resource \"volumesnapshots\" in API group \"snapshot.storage.k8s.io\" "
           "in the namespace \"vms\""},
      {"GET", std::string(kSnaps) + "/volumesnapshotcontents", "",
       "volumesnapshotcontents.snapshot.storage.k8s.io is forbidden: " + user +
           " cannot list resource \"volumesnapshotcontents\" in API group "
           "\"snapshot.storage.k8s.io\" at the cluster scope"},
      {"GET", "/apis/kubevirt.io/v1/virtualmachines", "",
       "virtualmachines.kubevirt.io is forbidden: " + user +
           " cannot list resource \"virtualmachines\" in API group \"kubevirt.io\" at the "
           "cluster scope"},
  };
  for (const auto& d : denied) {
    const std::string ct =
        d.method == "PATCH" ? "application/merge-patch+json" : "application/json";
    auto r = as(sim, kSaToken, d.method, d.path, d.body, ct);
    EXPECT_EQ(r.status, 403) << d.method << " " << d.path << ": " << r.body;
    EXPECT_EQ(r.json()["message"], d.message) << d.method << " " << d.path;
  }
  // kube-sim's own /admin endpoints belong to cluster admins.
  EXPECT_EQ(as(sim, kSaToken, "GET", "/admin/state").status, 403);
  EXPECT_EQ(sim.send("GET", "/admin/state").status, 200);
  // Nothing the denied requests asked for happened.
  EXPECT_EQ(sim.send("GET", "/api/v1/persistentvolumes/pv-b").status, 404);
  EXPECT_EQ(sim.send("GET", "/api/v1/persistentvolumes/pv-a").json()["metadata"].count("labels"),
            0u);
}

TEST(KubeSimRbac, RoleBindingGrantsOnlyItsNamespaceAndRulesMatchLikeUpstream) {
  KubeSimProcess sim(rbacOptions());
  createNamespace(sim, "a");
  createNamespace(sim, "b");
  // A Role in "a": PVC reads, VM status patches, and get on one named VM only.
  json role = {{"apiVersion", "rbac.authorization.k8s.io/v1"},
               {"kind", "Role"},
               {"metadata", {{"name", "dr-reader"}, {"namespace", "a"}}},
               {"rules",
                {{{"apiGroups", {""}},
                  {"resources", {"persistentvolumeclaims"}},
                  {"verbs", {"get", "list"}}},
                 {{"apiGroups", {"kubevirt.io"}},
                  {"resources", {"virtualmachines/status"}},
                  {"verbs", {"patch"}}},
                 {{"apiGroups", {"kubevirt.io"}},
                  {"resources", {"virtualmachines"}},
                  {"resourceNames", {"vm-1"}},
                  {"verbs", {"get"}}}}}};
  expectCreated(sim.send("POST", std::string(kRbac) + "/namespaces/a/roles", role.dump()), "role");
  json binding = {
      {"apiVersion", "rbac.authorization.k8s.io/v1"},
      {"kind", "RoleBinding"},
      {"metadata", {{"name", "alice-dr-reader"}, {"namespace", "a"}}},
      {"roleRef",
       {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "dr-reader"}}},
      {"subjects", {{{"kind", "User"}, {"name", "alice"}}}}};
  expectCreated(sim.send("POST", std::string(kRbac) + "/namespaces/a/rolebindings", binding.dump()),
                "rolebinding");
  expectCreated(
      sim.send("POST", "/apis/kubevirt.io/v1/namespaces/a/virtualmachines", vm("a", "vm-1").dump()),
      "vm-1");
  expectCreated(
      sim.send("POST", "/apis/kubevirt.io/v1/namespaces/a/virtualmachines", vm("a", "vm-2").dump()),
      "vm-2");

  EXPECT_EQ(as(sim, kUserToken, "GET", "/api/v1/namespaces/a/persistentvolumeclaims").status, 200);
  auto other = as(sim, kUserToken, "GET", "/api/v1/namespaces/b/persistentvolumeclaims");
  EXPECT_EQ(other.status, 403) << other.body;
  EXPECT_EQ(other.json()["message"],
            "persistentvolumeclaims is forbidden: User \"alice\" cannot list resource "
            "\"persistentvolumeclaims\" in API group \"\" in the namespace \"b\"");
  // All namespaces is a cluster-scope request: a RoleBinding does not grant it.
  EXPECT_EQ(as(sim, kUserToken, "GET", "/api/v1/persistentvolumeclaims").status, 403);
  // resourceNames: vm-1 yes, vm-2 no, and no list.
  EXPECT_EQ(
      as(sim, kUserToken, "GET", "/apis/kubevirt.io/v1/namespaces/a/virtualmachines/vm-1").status,
      200);
  EXPECT_EQ(
      as(sim, kUserToken, "GET", "/apis/kubevirt.io/v1/namespaces/a/virtualmachines/vm-2").status,
      403);
  EXPECT_EQ(as(sim, kUserToken, "GET", "/apis/kubevirt.io/v1/namespaces/a/virtualmachines").status,
            403);
  // The subresource rule grants the status patch, not a patch of the object itself.
  const std::string patch = R"({"status":{"printableStatus":"Stopped"}})";
  EXPECT_EQ(
      as(sim, kUserToken, "PATCH", "/apis/kubevirt.io/v1/namespaces/a/virtualmachines/vm-2/status",
         patch, "application/merge-patch+json")
          .status,
      200);
  auto objPatch =
      as(sim, kUserToken, "PATCH", "/apis/kubevirt.io/v1/namespaces/a/virtualmachines/vm-2",
         R"({"metadata":{"labels":{"x":"y"}}})", "application/merge-patch+json");
  EXPECT_EQ(objPatch.status, 403) << objPatch.body;
  EXPECT_EQ(objPatch.json()["message"],
            "virtualmachines.kubevirt.io \"vm-2\" is forbidden: User \"alice\" cannot patch "
            "resource \"virtualmachines\" in API group \"kubevirt.io\" in the namespace \"a\"");
  // An unknown token is still 401, not 403.
  EXPECT_EQ(as(sim, "nobody", "GET", "/api/v1/persistentvolumes").status, 401);
}

TEST(KubeSimRbac, AnApplyThatCreatesAlsoNeedsCreate) {
  KubeSimProcess sim(rbacOptions());
  auto grant = [&](const std::string& name, const json& verbs) {
    json role = {
        {"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", "ClusterRole"},
        {"metadata", {{"name", name}}},
        {"rules", {{{"apiGroups", {""}}, {"resources", {"namespaces"}}, {"verbs", verbs}}}}};
    expectCreated(sim.send("POST", std::string(kRbac) + "/clusterroles", role.dump()), name);
    json b = {
        {"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", "ClusterRoleBinding"},
        {"metadata", {{"name", name}}},
        {"roleRef",
         {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", name}}},
        {"subjects", {{{"kind", "User"}, {"name", "alice"}}}}};
    expectCreated(sim.send("POST", std::string(kRbac) + "/clusterrolebindings", b.dump()), name);
  };
  grant("ns-patch", {"patch"});
  const json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "dr-ns"}}}};
  const std::string path = "/api/v1/namespaces/dr-ns?fieldManager=dr";
  auto denied = as(sim, kUserToken, "PATCH", path, ns.dump(), "application/apply-patch+yaml");
  ASSERT_EQ(denied.status, 403) << denied.body;
  EXPECT_NE(denied.json()["message"].get<std::string>().find(
                "cannot create resource \"namespaces\" in API group \"\" at the cluster scope"),
            std::string::npos)
      << denied.body;
  EXPECT_EQ(sim.send("GET", "/api/v1/namespaces/dr-ns").status, 404);
  grant("ns-create", {"create"});
  EXPECT_EQ(as(sim, kUserToken, "PATCH", path, ns.dump(), "application/apply-patch+yaml").status,
            201);
  // Once it exists, patch alone is enough for the next apply.
  json labelled = ns;
  labelled["metadata"]["labels"] = {{"a", "b"}};
  EXPECT_EQ(
      as(sim, kUserToken, "PATCH", path, labelled.dump(), "application/apply-patch+yaml").status,
      200);
}

// ---------------------------------------------------------------------------------------------
// Immutability on update (pkg/apis/core/validation/validation.go)

TEST(KubeSimImmutability, PvSourceCannotChangeAfterCreation) {
  KubeSimProcess sim;
  expectCreated(sim.send("POST", "/api/v1/persistentvolumes", pv("pv-1", {}, "/exports/a").dump()),
                "pv");
  auto r = sim.send("PATCH", "/api/v1/persistentvolumes/pv-1",
                    R"({"spec":{"nfs":{"path":"/exports/b"}}})", "application/merge-patch+json");
  ASSERT_EQ(r.status, 422) << r.body;
  const json st = r.json();
  EXPECT_EQ(st["reason"], "Invalid");
  EXPECT_EQ(st["details"]["causes"][0]["field"], "spec.persistentvolumesource");
  EXPECT_EQ(st["details"]["causes"][0]["reason"], "FieldValueForbidden");
  EXPECT_EQ(st["message"].get<std::string>().rfind(
                "PersistentVolume \"pv-1\" is invalid: spec.persistentvolumesource: Forbidden: "
                "spec.persistentvolumesource is immutable after creation",
                0),
            0u)
      << st["message"];
  // Switching the volume type (nfs -> csi) is the same change; a PUT too.
  json csi = pv("pv-1");
  csi["spec"].erase("nfs");
  csi["spec"]["csi"] = {{"driver", "nfs.csi.k8s.io"}, {"volumeHandle", "h"}};
  EXPECT_EQ(sim.send("PUT", "/api/v1/persistentvolumes/pv-1", csi.dump()).status, 422);
  EXPECT_EQ(sim.send("GET", "/api/v1/persistentvolumes/pv-1").json()["spec"]["nfs"]["path"],
            "/exports/a");
  // Everything else stays mutable: labels, reclaim policy, claimRef.
  auto ok = sim.send(
      "PATCH", "/api/v1/persistentvolumes/pv-1",
      R"({"metadata":{"labels":{"a":"b"}},"spec":{"persistentVolumeReclaimPolicy":"Delete","claimRef":{"namespace":"n","name":"c"}}})",
      "application/merge-patch+json");
  EXPECT_EQ(ok.status, 200) << ok.body;
  // volumeMode is immutable on its own.
  auto mode = sim.send("PATCH", "/api/v1/persistentvolumes/pv-1",
                       R"({"spec":{"volumeMode":"Block"}})", "application/merge-patch+json");
  EXPECT_EQ(mode.status, 422) << mode.body;
  EXPECT_EQ(mode.json()["details"]["causes"][0]["field"], "volumeMode");
}

TEST(KubeSimImmutability, PvcSpecIsImmutableExceptStorageGrowthOfABoundClaimAndVolumeNameOnce) {
  KubeSimProcess sim;
  createNamespace(sim, "vms");
  json pvc = {{"apiVersion", "v1"},
              {"kind", "PersistentVolumeClaim"},
              {"metadata", {{"name", "c1"}, {"namespace", "vms"}}},
              {"spec",
               {{"accessModes", {"ReadWriteMany"}},
                {"storageClassName", "nfs"},
                {"resources", {{"requests", {{"storage", "1Gi"}}}}}}}};
  const std::string path = "/api/v1/namespaces/vms/persistentvolumeclaims/c1";
  expectCreated(sim.send("POST", "/api/v1/namespaces/vms/persistentvolumeclaims", pvc.dump()),
                "pvc");
  const std::string mp = "application/merge-patch+json";

  auto sc = sim.send("PATCH", path, R"({"spec":{"storageClassName":"other"}})", mp);
  ASSERT_EQ(sc.status, 422) << sc.body;
  EXPECT_EQ(sc.json()["details"]["causes"][0]["field"], "spec");
  EXPECT_NE(sc.json()["message"].get<std::string>().find(
                "spec: Forbidden: spec is immutable after creation except resources.requests and "
                "volumeAttributesClassName for bound claims"),
            std::string::npos)
      << sc.body;
  // Pending: the size may not change either.
  EXPECT_EQ(sim.send("PATCH", path, R"({"spec":{"resources":{"requests":{"storage":"2Gi"}}}})", mp)
                .status,
            422);
  // The binder sets volumeName once...
  EXPECT_EQ(sim.send("PATCH", path, R"({"spec":{"volumeName":"pv-1"}})", mp).status, 200);
  EXPECT_EQ(sim.send("PATCH", path, R"({"spec":{"volumeName":"pv-2"}})", mp).status, 422);
  // ...and once Bound, storage may grow, but not shrink to or below status.capacity.
  EXPECT_EQ(sim.send("PATCH", path + "/status",
                     R"({"status":{"phase":"Bound","capacity":{"storage":"1Gi"}}})", mp)
                .status,
            200);
  auto grow =
      sim.send("PATCH", path, R"({"spec":{"resources":{"requests":{"storage":"2Gi"}}}})", mp);
  EXPECT_EQ(grow.status, 200) << grow.body;
  auto shrink =
      sim.send("PATCH", path, R"({"spec":{"resources":{"requests":{"storage":"1Gi"}}}})", mp);
  EXPECT_EQ(shrink.status, 422) << shrink.body;
  EXPECT_EQ(shrink.json()["details"]["causes"][0]["field"], "spec.resources.requests.storage");
  EXPECT_EQ(sim.send("PATCH", path, R"({"spec":{"accessModes":["ReadWriteOnce"]}})", mp).status,
            422);
  EXPECT_EQ(sim.send("GET", path).json()["spec"]["accessModes"][0], "ReadWriteMany");
}

// ---------------------------------------------------------------------------------------------
// Server-side apply: +structType=atomic structs are one value (structured-merge-diff)

TEST(KubeSimApplyAtomic, ClaimRefIsReplacedWholeAndOwnedAsOneField) {
  KubeSimProcess sim;
  json a = pv("pv-atomic");
  a["spec"]["claimRef"] = {{"namespace", "vms"}, {"name", "c1"}, {"uid", "u-1"}};
  const std::string path = "/api/v1/persistentvolumes/pv-atomic?fieldManager=dr&force=true";
  auto r1 = sim.send("PATCH", path, a.dump(), "application/apply-patch+yaml");
  ASSERT_EQ(r1.status, 201) << r1.body;
  // A second apply names another claim without a uid: the old uid must not survive a merge.
  a["spec"]["claimRef"] = {{"namespace", "vms"}, {"name", "c2"}};
  auto r2 = sim.send("PATCH", path, a.dump(), "application/apply-patch+yaml");
  ASSERT_EQ(r2.status, 200) << r2.body;
  const json got = r2.json();
  EXPECT_EQ(got["spec"]["claimRef"], json({{"namespace", "vms"}, {"name", "c2"}}));
  // managedFields own f:claimRef as a whole, not its members.
  bool found = false;
  for (const auto& e : got["metadata"]["managedFields"]) {
    if (e["manager"] != "dr") continue;
    found = true;
    EXPECT_EQ(e["fieldsV1"]["f:spec"]["f:claimRef"], json::object()) << e.dump();
  }
  EXPECT_TRUE(found) << got["metadata"].dump();
}

// ---------------------------------------------------------------------------------------------
// Watch options and compaction

TEST(KubeSimWatchRules, SendInitialEventsRequiresResourceVersionMatchNotOlderThan) {
  KubeSimProcess sim;
  auto r = sim.send("GET", "/api/v1/persistentvolumes?watch=true&sendInitialEvents=true");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["message"],
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: "
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
  EXPECT_EQ(r.json()["details"]["group"], "meta.k8s.io");
  EXPECT_EQ(r.json()["details"]["kind"], "ListOptions");
  auto m =
      sim.send("GET", "/api/v1/persistentvolumes?watch=true&resourceVersionMatch=NotOlderThan");
  EXPECT_EQ(m.status, 422) << m.body;
  auto l = sim.send("GET", "/api/v1/persistentvolumes?sendInitialEvents=true");
  EXPECT_EQ(l.status, 422) << l.body;
  EXPECT_EQ(l.json()["details"]["causes"][0]["field"], "sendInitialEvents");
  // The valid combination still streams (ends on timeoutSeconds).
  auto ok = sim.send("GET",
                     "/api/v1/persistentvolumes?watch=true&sendInitialEvents=true&"
                     "resourceVersionMatch=NotOlderThan&timeoutSeconds=1");
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST(KubeSimWatchRules, PeriodicCompactionExpiresOldResourceVersionsWithoutAForcedCompact) {
  KubeSimOptions o;
  o.extraArgs = {"--compaction-interval", "1"};
  KubeSimProcess sim(o);
  auto created = sim.request("POST", "/api/v1/persistentvolumes", pv("old").dump());
  const std::string rv = created["metadata"]["resourceVersion"];
  // One to two intervals later the RV is gone: each try writes (a commit runs the compaction
  // check) and watches from the old RV; the first ERROR 410 ends the wait.
  bool expired = false;
  for (int i = 0; i < 100 && !expired; ++i) {
    (void)sim.send("POST", "/api/v1/persistentvolumes", pv("tick-" + std::to_string(i)).dump());
    auto w = sim.send(
        "GET", "/api/v1/persistentvolumes?watch=true&timeoutSeconds=1&resourceVersion=" + rv);
    expired = w.body.find("\"type\":\"ERROR\"") != std::string::npos &&
              w.body.find("\"code\":410") != std::string::npos;
    if (!expired) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(expired) << "a watch from resourceVersion " << rv << " never got 410";
}

}  // namespace
}  // namespace kubesim_test
