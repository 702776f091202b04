// kube-sim patches over HTTP: merge patch, JSON patch (failed test op -> 422), strategic merge
// patch refused with 415, and server-side apply with fieldManager, conflicts and force.
#include <gtest/gtest.h>

#include "sim_test_util.h"

namespace kubesim_test {
namespace {

const char* kApply = "application/apply-patch+yaml";

json managers(const json& obj) {
  json out = json::object();
  for (const auto& m : obj["metadata"]["managedFields"]) {
    out[m["manager"].get<std::string>() + "/" + m["operation"].get<std::string>()] = m["fieldsV1"];
  }
  return out;
}

TEST(KubeSimPatch, MergeAndJsonPatch) {
  KubeSimProcess sim;
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("p", {{"a", "1"}, {"b", "2"}}).dump())
                .status,
            201);
  auto merge =
      sim.send("PATCH", "/api/v1/persistentvolumes/p",
               R"({"metadata":{"labels":{"a":null,"c":"3"}}})", "application/merge-patch+json");
  ASSERT_EQ(merge.status, 200) << merge.body;
  EXPECT_EQ(merge.json()["metadata"]["labels"], (json{{"b", "2"}, {"c", "3"}}));

  auto jp = sim.send("PATCH", "/api/v1/persistentvolumes/p",
                     R"([{"op":"test","path":"/metadata/labels/b","value":"2"},
                         {"op":"replace","path":"/spec/persistentVolumeReclaimPolicy","value":"Delete"},
                         {"op":"add","path":"/metadata/annotations","value":{"x":"y"}}])",
                     "application/json-patch+json");
  ASSERT_EQ(jp.status, 200) << jp.body;
  EXPECT_EQ(jp.json()["spec"]["persistentVolumeReclaimPolicy"], "Delete");
  EXPECT_EQ(jp.json()["metadata"]["annotations"]["x"], "y");

  auto failedTest = sim.send("PATCH", "/api/v1/persistentvolumes/p",
                             R"([{"op":"test","path":"/metadata/labels/b","value":"nope"},
                                 {"op":"remove","path":"/metadata/labels"}])",
                             "application/json-patch+json");
  EXPECT_EQ(failedTest.status, 422);
  EXPECT_EQ(failedTest.json()["kind"], "Status");
  EXPECT_EQ(sim.request("GET", "/api/v1/persistentvolumes/p")["metadata"]["labels"]["b"], "2");
  EXPECT_EQ(sim.send("PATCH", "/api/v1/persistentvolumes/p",
                     R"([{"op":"remove","path":"/spec/nothing"}])", "application/json-patch+json")
                .status,
            422);

  // A resourceVersion inside a merge patch is a precondition.
  auto stale = sim.send("PATCH", "/api/v1/persistentvolumes/p",
                        R"({"metadata":{"resourceVersion":"1","labels":{"d":"4"}}})",
                        "application/merge-patch+json");
  EXPECT_EQ(stale.status, 409);

  auto smp =
      sim.send("PATCH", "/api/v1/persistentvolumes/p", R"({"metadata":{"labels":{"e":"5"}}})",
               "application/strategic-merge-patch+json");
  EXPECT_EQ(smp.status, 415);
  EXPECT_EQ(smp.json()["reason"], "UnsupportedMediaType");

  auto forced = sim.send("PATCH", "/api/v1/persistentvolumes/p?force=true", R"({"metadata":{}})",
                         "application/merge-patch+json");
  EXPECT_EQ(forced.status, 422);
  EXPECT_EQ(
      sim.send("PATCH", "/api/v1/persistentvolumes/missing", "{}", "application/merge-patch+json")
          .status,
      404);
}

TEST(KubeSimPatch, ServerSideApplyTracksOwnersAndConflicts) {
  KubeSimProcess sim;
  const std::string path = "/api/v1/persistentvolumes/applied";
  json cfg = pv("applied", {{"team", "a"}});
  cfg["spec"]["persistentVolumeReclaimPolicy"] = "Retain";

  auto noManager = sim.send("PATCH", path, cfg.dump(), kApply);
  EXPECT_EQ(noManager.status, 422);
  EXPECT_EQ(noManager.json()["reason"], "Invalid");

  auto created = sim.send("PATCH", path + "?fieldManager=alpha", cfg.dump(), kApply);
  ASSERT_EQ(created.status, 201) << created.body;
  json m = managers(created.json());
  ASSERT_TRUE(m.contains("alpha/Apply")) << m.dump();
  EXPECT_TRUE(m["alpha/Apply"]["f:spec"].contains("f:persistentVolumeReclaimPolicy"));
  EXPECT_TRUE(m["alpha/Apply"]["f:metadata"]["f:labels"].contains("f:team"));

  // Reapplying the same configuration changes nothing.
  auto again = sim.send("PATCH", path + "?fieldManager=alpha", cfg.dump(), kApply);
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(rvOf(again.json()), rvOf(created.json()));

  // Another manager applying a different value of an owned field: 409 naming the owner.
  json beta = {{"apiVersion", "v1"},
               {"kind", "PersistentVolume"},
               {"metadata", {{"name", "applied"}}},
               {"spec", {{"persistentVolumeReclaimPolicy", "Delete"}}}};
  auto conflict = sim.send("PATCH", path + "?fieldManager=beta", beta.dump(), kApply);
  ASSERT_EQ(conflict.status, 409) << conflict.body;
  EXPECT_EQ(conflict.json()["reason"], "Conflict");
  EXPECT_NE(conflict.json()["message"].get<std::string>().find("alpha"), std::string::npos);
  EXPECT_EQ(conflict.json()["details"]["causes"][0]["field"],
            ".spec.persistentVolumeReclaimPolicy");
  EXPECT_EQ(sim.request("GET", path)["spec"]["persistentVolumeReclaimPolicy"], "Retain");

  // The same value is shared ownership, not a conflict.
  json betaSame = beta;
  betaSame["spec"]["persistentVolumeReclaimPolicy"] = "Retain";
  ASSERT_EQ(sim.send("PATCH", path + "?fieldManager=beta", betaSame.dump(), kApply).status, 200);

  // force=true takes the field over.
  auto forced = sim.send("PATCH", path + "?fieldManager=beta&force=true", beta.dump(), kApply);
  ASSERT_EQ(forced.status, 200) << forced.body;
  EXPECT_EQ(forced.json()["spec"]["persistentVolumeReclaimPolicy"], "Delete");
  json fm = managers(forced.json());
  EXPECT_FALSE(fm["alpha/Apply"]["f:spec"].contains("f:persistentVolumeReclaimPolicy"))
      << fm.dump();
  EXPECT_TRUE(fm["beta/Apply"]["f:spec"].contains("f:persistentVolumeReclaimPolicy"));

  // A field alpha stops applying (and nobody else owns) is removed; YAML bodies work.
  const std::string yaml =
      "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: applied\nspec:\n"
      "  capacity:\n    storage: 1Gi\n  accessModes: [ReadWriteMany]\n"
      "  nfs:\n    server: nfs.example.com\n    path: /exports/x\n";
  auto dropped = sim.send("PATCH", path + "?fieldManager=alpha", yaml, kApply);
  ASSERT_EQ(dropped.status, 200) << dropped.body;
  EXPECT_FALSE(dropped.json()["metadata"].contains("labels")) << dropped.body;
  EXPECT_EQ(dropped.json()["spec"]["persistentVolumeReclaimPolicy"], "Delete");  // beta's

  // A plain update (merge patch) by another writer takes fields without conflict.
  auto upd = sim.send("PATCH", path + "?fieldManager=gamma",
                      R"({"spec":{"persistentVolumeReclaimPolicy":"Retain"}})",
                      "application/merge-patch+json");
  ASSERT_EQ(upd.status, 200);
  json um = managers(upd.json());
  EXPECT_TRUE(um["gamma/Update"]["f:spec"].contains("f:persistentVolumeReclaimPolicy"))
      << um.dump();
  EXPECT_FALSE(um.contains("beta/Apply") &&
               um["beta/Apply"]["f:spec"].contains("f:persistentVolumeReclaimPolicy"));

  // Apply demands kind/apiVersion and a matching name.
  EXPECT_EQ(
      sim.send("PATCH", path + "?fieldManager=alpha", R"({"metadata":{"name":"applied"}})", kApply)
          .status,
      400);
  EXPECT_EQ(sim.send("PATCH", path + "?fieldManager=alpha",
                     R"({"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"other"}})",
                     kApply)
                .status,
            400);
}

TEST(KubeSimPatch, ApplyToStatusSubresource) {
  KubeSimProcess sim;
  ASSERT_EQ(createNamespace(sim, "demo")["kind"], "Namespace");
  ASSERT_EQ(sim.send("POST", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines",
                     vm("demo", "v").dump())
                .status,
            201);
  json st = {{"apiVersion", "kubevirt.io/v1"},
             {"kind", "VirtualMachine"},
             {"metadata", {{"name", "v"}, {"namespace", "demo"}}},
             {"status", {{"printableStatus", "Running"}}},
             {"spec", {{"runStrategy", "Always"}}}};
  auto r = sim.send(
      "PATCH", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines/v/status?fieldManager=ctl",
      st.dump(), kApply);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["status"]["printableStatus"], "Running");
  EXPECT_EQ(r.json()["spec"]["runStrategy"], "Halted");
}

}  // namespace
}  // namespace kubesim_test
