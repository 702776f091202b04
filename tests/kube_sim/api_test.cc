// kube-sim over HTTP: Status bodies against the recorded fixtures, CRUD semantics, paging and
// list resourceVersions, selectors, finalizers, status subresource, discovery, TLS and kubeconfig,
// KubeVirt actions and a clean SIGTERM exit.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <regex>

#include "sim_test_util.h"

namespace kubesim_test {
namespace {

using ocpvdr::testing::KubeSimOptions;
using ocpvdr::testing::TempDir;

TEST(KubeSimApi, StatusBodiesHaveTheFixtureFieldSets) {
  KubeSimProcess sim(KubeSimOptions{.compactionWindow = 3});

  auto unauth = sim.send("GET", "/api/v1/persistentvolumes", "", "application/json",
                         {{"Authorization", "Bearer wrong"}});
  EXPECT_EQ(unauth.status, 401);
  EXPECT_EQ(keySet(unauth.json()), keySet(fixture("kube-api/status_401.json")));
  EXPECT_EQ(unauth.json(), fixture("kube-api/status_401.json"));  // exactly the real body
  auto anonymous =
      sim.send("GET", "/api/v1/persistentvolumes", "", "application/json", {{"Authorization", ""}});
  EXPECT_EQ(anonymous.status, 401);

  auto notFound = sim.send("GET", "/api/v1/persistentvolumes/nope");
  EXPECT_EQ(notFound.status, 404);
  EXPECT_EQ(notFound.json(), fixture("kube-api/status_404.json"));

  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("page-pv-1").dump()).status, 201);
  auto exists = sim.send("POST", "/api/v1/persistentvolumes", pv("page-pv-1").dump());
  EXPECT_EQ(exists.status, 409);
  EXPECT_EQ(exists.json(), fixture("kube-api/status_409_exists.json"));

  json stale = sim.request("GET", "/api/v1/persistentvolumes/page-pv-1");
  ASSERT_EQ(sim.send("PATCH", "/api/v1/persistentvolumes/page-pv-1",
                     R"({"metadata":{"labels":{"x":"y"}}})", "application/merge-patch+json")
                .status,
            200);
  auto conflict = sim.send("PUT", "/api/v1/persistentvolumes/page-pv-1", stale.dump());
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(conflict.json(), fixture("kube-api/status_409_conflict.json"));

  json bad = {{"apiVersion", "v1"},
              {"kind", "PersistentVolume"},
              {"metadata", {{"name", "Bad_Name"}}},
              {"spec", json::object()}};
  auto invalid = sim.send("POST", "/api/v1/persistentvolumes", bad.dump());
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(keySet(invalid.json()), keySet(fixture("kube-api/status_422.json")));
  EXPECT_EQ(invalid.json(), fixture("kube-api/status_422.json"));

  // Push the list's resourceVersion out of the 3-event window, then ask for it exactly.
  const auto oldRv = rvOf(sim.request("GET", "/api/v1/persistentvolumes/page-pv-1"));
  for (int i = 2; i <= 5; ++i) {
    ASSERT_EQ(
        sim.send("POST", "/api/v1/persistentvolumes", pv("page-pv-" + std::to_string(i)).dump())
            .status,
        201);
  }
  auto gone =
      sim.send("GET", "/api/v1/persistentvolumes?resourceVersionMatch=Exact&resourceVersion=" +
                          std::to_string(oldRv));
  EXPECT_EQ(gone.status, 410);
  EXPECT_EQ(gone.json(), fixture("kube-api/status_410_list_expired.json"));
}

TEST(KubeSimApi, CreateGetUpdateDeleteFollowServerSemantics) {
  KubeSimProcess sim;
  auto created = sim.send("POST", "/api/v1/persistentvolumes", pv("pv-a").dump());
  ASSERT_EQ(created.status, 201) << created.body;
  json a = created.json();
  static const std::regex uuid4(
      "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  EXPECT_TRUE(std::regex_match(a["metadata"]["uid"].get<std::string>(), uuid4));
  static const std::regex ts("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ");
  EXPECT_TRUE(std::regex_match(a["metadata"]["creationTimestamp"].get<std::string>(), ts));
  EXPECT_TRUE(a["metadata"]["resourceVersion"].is_string());
  EXPECT_EQ(a["status"]["phase"], "Pending");          // the server's create default for PVs
  EXPECT_FALSE(a["metadata"].contains("generation"));  // core PVs carry no generation

  // One global resourceVersion across kinds, bumped by every write.
  ASSERT_EQ(createNamespace(sim, "demo")["kind"], "Namespace");
  auto v = sim.send("POST", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines",
                    vm("demo", "vm1").dump());
  ASSERT_EQ(v.status, 201) << v.body;
  EXPECT_GT(rvOf(v.json()), rvOf(a));
  EXPECT_EQ(v.json()["metadata"]["generation"], 1);

  // Unconditional PUT (no resourceVersion) succeeds; the RV moves on.
  json upd = a;
  upd["metadata"].erase("resourceVersion");
  upd["spec"]["persistentVolumeReclaimPolicy"] = "Delete";
  auto put = sim.send("PUT", "/api/v1/persistentvolumes/pv-a", upd.dump());
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_GT(rvOf(put.json()), rvOf(v.json()));
  EXPECT_EQ(put.json()["metadata"]["uid"], a["metadata"]["uid"]);
  // A no-op write stores nothing: same resourceVersion back.
  auto same = sim.send("PUT", "/api/v1/persistentvolumes/pv-a", put.body);
  ASSERT_EQ(same.status, 200);
  EXPECT_EQ(rvOf(same.json()), rvOf(put.json()));

  // Generation moves on spec changes only (custom resources).
  json vmObj = v.json();
  vmObj["metadata"]["labels"] = {{"a", "b"}};
  auto labelled =
      sim.send("PUT", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines/vm1", vmObj.dump());
  ASSERT_EQ(labelled.status, 200) << labelled.body;
  EXPECT_EQ(labelled.json()["metadata"]["generation"], 1);
  auto specPatch = sim.send("PATCH", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines/vm1",
                            R"({"spec":{"runStrategy":"Always"}})", "application/merge-patch+json");
  ASSERT_EQ(specPatch.status, 200) << specPatch.body;
  EXPECT_EQ(specPatch.json()["metadata"]["generation"], 2);

  // Namespaced create in a namespace that does not exist: 404 naming the namespace.
  auto noNs = sim.send("POST", "/apis/kubevirt.io/v1/namespaces/nowhere/virtualmachines",
                       vm("nowhere", "x").dump());
  EXPECT_EQ(noNs.status, 404);
  EXPECT_EQ(noNs.json()["message"], "namespaces \"nowhere\" not found");
  EXPECT_EQ(noNs.json()["details"]["kind"], "namespaces");

  // generateName.
  json gen = pv("");
  gen["metadata"] = {{"generateName", "pv-gen-"}};
  auto g = sim.send("POST", "/api/v1/persistentvolumes", gen.dump());
  ASSERT_EQ(g.status, 201) << g.body;
  const std::string gname = g.json()["metadata"]["name"];
  EXPECT_EQ(gname.rfind("pv-gen-", 0), 0u);
  EXPECT_EQ(gname.size(), std::string("pv-gen-").size() + 5);

  // resourceVersion on create is refused like the etcd3 storage layer does.
  json withRv = pv("pv-rv");
  withRv["metadata"]["resourceVersion"] = "12";
  EXPECT_EQ(sim.send("POST", "/api/v1/persistentvolumes", withRv.dump()).status, 500);

  // DELETE without finalizers returns the object and removes it.
  auto del = sim.send("DELETE", "/api/v1/persistentvolumes/pv-a");
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(del.json()["kind"], "PersistentVolume");
  EXPECT_EQ(del.json()["metadata"]["name"], "pv-a");
  EXPECT_EQ(sim.send("GET", "/api/v1/persistentvolumes/pv-a").status, 404);

  // Delete preconditions.
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("pv-b").dump()).status, 201);
  auto pre = sim.send("DELETE", "/api/v1/persistentvolumes/pv-b",
                      R"({"preconditions":{"uid":"00000000-0000-4000-8000-000000000000"}})");
  EXPECT_EQ(pre.status, 409);
  EXPECT_EQ(pre.json()["reason"], "Conflict");
}

TEST(KubeSimApi, PagingMatchesTheRecordedListShapeAndIsASnapshot) {
  KubeSimProcess sim;
  for (int i = 1; i <= 5; ++i) {
    ASSERT_EQ(
        sim.send(
               "POST", "/api/v1/persistentvolumes",
               pv("page-pv-" + std::to_string(i), json::object(), "/e/" + std::to_string(i)).dump())
            .status,
        201);
  }
  json p1 = sim.request("GET", "/api/v1/persistentvolumes?limit=2");
  json f1 = fixture("kube-api/list_page1.json");
  EXPECT_EQ(topKeys(p1), topKeys(f1));
  EXPECT_EQ(topKeys(p1["metadata"]), topKeys(f1["metadata"]));
  EXPECT_EQ(p1["kind"], "PersistentVolumeList");
  EXPECT_EQ(p1["apiVersion"], "v1");
  EXPECT_EQ(p1["metadata"]["remainingItemCount"], 3);
  ASSERT_EQ(p1["items"].size(), 2u);
  // Typed core list items carry no kind/apiVersion, like the recorded list.
  EXPECT_EQ(topKeys(p1["items"][0]), topKeys(f1["items"][0]));
  EXPECT_EQ(p1["items"][0]["metadata"]["name"], "page-pv-1");
  EXPECT_EQ(p1["items"][1]["metadata"]["name"], "page-pv-2");

  // Writes between pages do not show: every page is served at the first page's RV.
  ASSERT_EQ(sim.send("PATCH", "/api/v1/persistentvolumes/page-pv-4",
                     R"({"metadata":{"labels":{"changed":"yes"}}})", "application/merge-patch+json")
                .status,
            200);
  ASSERT_EQ(sim.send("DELETE", "/api/v1/persistentvolumes/page-pv-5").status, 200);
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("page-pv-0").dump()).status, 201);

  const std::string cont = p1["metadata"]["continue"];
  json p2 = sim.request("GET", "/api/v1/persistentvolumes?limit=2&continue=" + cont);
  json f2 = fixture("kube-api/list_page2.json");
  EXPECT_EQ(topKeys(p2["metadata"]), topKeys(f2["metadata"]));
  EXPECT_EQ(p2["metadata"]["resourceVersion"], p1["metadata"]["resourceVersion"]);
  EXPECT_EQ(p2["metadata"]["remainingItemCount"], 1);
  ASSERT_EQ(p2["items"].size(), 2u);
  EXPECT_EQ(p2["items"][0]["metadata"]["name"], "page-pv-3");
  EXPECT_EQ(p2["items"][1]["metadata"]["name"], "page-pv-4");
  EXPECT_FALSE(p2["items"][1]["metadata"].contains("labels"));

  json p3 = sim.request("GET", "/api/v1/persistentvolumes?limit=2&continue=" +
                                   p2["metadata"]["continue"].get<std::string>());
  EXPECT_EQ(p3["metadata"]["resourceVersion"], p1["metadata"]["resourceVersion"]);
  ASSERT_EQ(p3["items"].size(), 1u);
  EXPECT_EQ(p3["items"][0]["metadata"]["name"], "page-pv-5");
  EXPECT_FALSE(p3["metadata"].contains("continue"));
  EXPECT_FALSE(p3["metadata"].contains("remainingItemCount"));

  // A fresh list sees the current state, sorted by name.
  json now = sim.request("GET", "/api/v1/persistentvolumes");
  ASSERT_EQ(now["items"].size(), 5u);
  EXPECT_EQ(now["items"][0]["metadata"]["name"], "page-pv-0");
  EXPECT_GT(std::stoull(now["metadata"]["resourceVersion"].get<std::string>()),
            std::stoull(p1["metadata"]["resourceVersion"].get<std::string>()));

  // Once compacted past the list's RV the continue token expires.
  sim.compact();
  auto expired = sim.send("GET", "/api/v1/persistentvolumes?limit=2&continue=" + cont);
  EXPECT_EQ(expired.status, 410);
  EXPECT_EQ(expired.json()["reason"], "Expired");

  auto garbage = sim.send("GET", "/api/v1/persistentvolumes?limit=2&continue=%21%21");
  EXPECT_EQ(garbage.status, 400);
}

TEST(KubeSimApi, ListResourceVersionSemantics) {
  KubeSimProcess sim;
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("a").dump()).status, 201);
  const auto rvA = rvOf(sim.request("GET", "/api/v1/persistentvolumes/a"));
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", pv("b").dump()).status, 201);

  json any = sim.request("GET", "/api/v1/persistentvolumes?resourceVersion=0");
  EXPECT_EQ(any["items"].size(), 2u);
  json exact =
      sim.request("GET", "/api/v1/persistentvolumes?resourceVersionMatch=Exact&resourceVersion=" +
                             std::to_string(rvA));
  ASSERT_EQ(exact["items"].size(), 1u) << exact.dump();
  EXPECT_EQ(exact["metadata"]["resourceVersion"], std::to_string(rvA));
  json notOlder = sim.request(
      "GET", "/api/v1/persistentvolumes?resourceVersionMatch=NotOlderThan&resourceVersion=" +
                 std::to_string(rvA));
  EXPECT_EQ(notOlder["items"].size(), 2u);
  auto future = sim.send("GET", "/api/v1/persistentvolumes?resourceVersion=999999");
  EXPECT_EQ(future.status, 504);
  EXPECT_EQ(sim.send("GET", "/api/v1/persistentvolumes?resourceVersion=abc").status, 400);
}

TEST(KubeSimApi, LabelAndFieldSelectorsFilterLists) {
  KubeSimProcess sim;
  ASSERT_EQ(createNamespace(sim, "ns1")["kind"], "Namespace");
  ASSERT_EQ(createNamespace(sim, "ns2")["kind"], "Namespace");
  auto mk = [&](const std::string& ns, const std::string& name, const json& labels) {
    json o = vm(ns, name);
    if (!labels.empty()) o["metadata"]["labels"] = labels;
    auto r =
        sim.send("POST", "/apis/kubevirt.io/v1/namespaces/" + ns + "/virtualmachines", o.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  };
  mk("ns1", "gold-1", {{"tier", "gold"}, {"dr", "yes"}});
  mk("ns1", "silver-1", {{"tier", "silver"}});
  mk("ns2", "gold-2", {{"tier", "gold"}});
  mk("ns2", "plain", json::object());

  auto names = [&](const std::string& query) {
    json l = sim.request("GET", "/apis/kubevirt.io/v1/virtualmachines?" + query);
    std::vector<std::string> out;
    for (const auto& i : l["items"]) out.push_back(i["metadata"]["name"]);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names("labelSelector=tier%3Dgold"), (V{"gold-1", "gold-2"}));
  EXPECT_EQ(names("labelSelector=tier%3D%3Dgold"), (V{"gold-1", "gold-2"}));
  EXPECT_EQ(names("labelSelector=tier%21%3Dgold"), (V{"silver-1", "plain"}));
  EXPECT_EQ(names("labelSelector=tier%20in%20(gold,silver)"), (V{"gold-1", "silver-1", "gold-2"}));
  EXPECT_EQ(names("labelSelector=tier%20notin%20(gold)"), (V{"silver-1", "plain"}));
  EXPECT_EQ(names("labelSelector=dr"), (V{"gold-1"}));
  EXPECT_EQ(names("labelSelector=%21tier"), (V{"plain"}));
  EXPECT_EQ(names("labelSelector=tier%3Dgold,dr%3Dyes"), (V{"gold-1"}));
  EXPECT_EQ(names("fieldSelector=metadata.name%3Dplain"), (V{"plain"}));
  EXPECT_EQ(names("fieldSelector=metadata.namespace%3Dns1"), (V{"gold-1", "silver-1"}));
  EXPECT_EQ(names("fieldSelector=metadata.namespace%21%3Dns1"), (V{"gold-2", "plain"}));
  // Per-namespace path.
  json ns2 = sim.request("GET", "/apis/kubevirt.io/v1/namespaces/ns2/virtualmachines");
  ASSERT_EQ(ns2["items"].size(), 2u);
  EXPECT_EQ(ns2["items"][0]["kind"], "VirtualMachine");  // unstructured items keep their kind
  // Selector errors are 400 Status bodies.
  auto bad = sim.send("GET", "/apis/kubevirt.io/v1/virtualmachines?labelSelector=tier%20in%20gold");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.json()["kind"], "Status");
  EXPECT_EQ(sim.send("GET", "/apis/kubevirt.io/v1/virtualmachines?fieldSelector=spec.x%3D1").status,
            400);
}

TEST(KubeSimApi, FinalizersHoldDeletionUntilCleared) {
  KubeSimProcess sim;
  json o = pv("pv-fin");
  o["metadata"]["finalizers"] = {"kubernetes.io/pv-protection"};
  ASSERT_EQ(sim.send("POST", "/api/v1/persistentvolumes", o.dump()).status, 201);
  const std::string rv0 =
      sim.request("GET", "/api/v1/persistentvolumes/pv-fin")["metadata"]["resourceVersion"];
  WatchClient w(sim, "/api/v1/persistentvolumes?watch=true&resourceVersion=" + rv0);

  auto del =
      sim.send("DELETE", "/api/v1/persistentvolumes/pv-fin",
               R"({"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Background"})");
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_TRUE(del.json()["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(del.json()["metadata"]["deletionGracePeriodSeconds"], 0);
  json still = sim.request("GET", "/api/v1/persistentvolumes/pv-fin");
  EXPECT_EQ(still["metadata"]["name"], "pv-fin");
  auto modified = w.next();
  ASSERT_TRUE(modified);
  EXPECT_EQ((*modified)["type"], "MODIFIED");

  // No new finalizers on an object being deleted.
  auto add = sim.send("PATCH", "/api/v1/persistentvolumes/pv-fin",
                      R"({"metadata":{"finalizers":["kubernetes.io/pv-protection","x/y"]}})",
                      "application/merge-patch+json");
  EXPECT_EQ(add.status, 422);

  auto clear = sim.send("PATCH", "/api/v1/persistentvolumes/pv-fin",
                        R"({"metadata":{"finalizers":null}})", "application/merge-patch+json");
  ASSERT_EQ(clear.status, 200) << clear.body;
  EXPECT_EQ(sim.send("GET", "/api/v1/persistentvolumes/pv-fin").status, 404);
  auto deleted = w.next();
  ASSERT_TRUE(deleted);
  EXPECT_EQ((*deleted)["type"], "DELETED");
  EXPECT_GT(rvOf((*deleted)["object"]), rvOf((*modified)["object"]));
  EXPECT_TRUE((*deleted)["object"]["metadata"].contains("deletionTimestamp"));
}

TEST(KubeSimApi, NamespaceDeletionRemovesItsContents) {
  KubeSimProcess sim;
  ASSERT_EQ(createNamespace(sim, "gone")["kind"], "Namespace");
  ASSERT_EQ(sim.send("POST", "/apis/kubevirt.io/v1/namespaces/gone/virtualmachines",
                     vm("gone", "v").dump())
                .status,
            201);
  json held = vm("gone", "held");
  held["metadata"]["finalizers"] = {"example.com/hold"};
  ASSERT_EQ(
      sim.send("POST", "/apis/kubevirt.io/v1/namespaces/gone/virtualmachines", held.dump()).status,
      201);
  auto del = sim.send("DELETE", "/api/v1/namespaces/gone");
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(del.json()["status"]["phase"], "Terminating");
  EXPECT_EQ(sim.send("GET", "/apis/kubevirt.io/v1/namespaces/gone/virtualmachines/v").status, 404);
  // Still terminating while an object with a finalizer remains; no new content meanwhile.
  EXPECT_EQ(sim.send("GET", "/api/v1/namespaces/gone").status, 200);
  EXPECT_EQ(sim.send("POST", "/apis/kubevirt.io/v1/namespaces/gone/virtualmachines",
                     vm("gone", "new").dump())
                .status,
            403);
  ASSERT_EQ(sim.send("PATCH", "/apis/kubevirt.io/v1/namespaces/gone/virtualmachines/held",
                     R"({"metadata":{"finalizers":[]}})", "application/merge-patch+json")
                .status,
            200);
  EXPECT_EQ(sim.send("GET", "/api/v1/namespaces/gone").status, 404);
}

TEST(KubeSimApi, StatusSubresourceSeparatesSpecAndStatus) {
  KubeSimProcess sim;
  ASSERT_EQ(createNamespace(sim, "demo")["kind"], "Namespace");
  const std::string base = "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines/vm1";
  json created = sim.request("POST", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines", [] {
    json o = vm("demo", "vm1");
    o["status"] = {{"printableStatus", "Ignored"}};
    return o.dump();
  }());
  EXPECT_FALSE(created.contains("status"));  // status is not settable on create

  json s = created;
  s["status"] = {{"printableStatus", "Stopped"}};
  s["spec"]["runStrategy"] = "Always";  // ignored by /status
  auto st = sim.send("PUT", base + "/status", s.dump());
  ASSERT_EQ(st.status, 200) << st.body;
  EXPECT_EQ(st.json()["status"]["printableStatus"], "Stopped");
  EXPECT_EQ(st.json()["spec"]["runStrategy"], "Halted");
  EXPECT_EQ(st.json()["metadata"]["generation"], 1);
  bool statusManaged = false;
  const json stObj = st.json();
  for (const auto& m : stObj["metadata"]["managedFields"]) {
    statusManaged = statusManaged || m.value("subresource", "") == "status";
  }
  EXPECT_TRUE(statusManaged);

  // Main-resource writes ignore .status.
  auto main = sim.send("PATCH", base, R"({"status":{"printableStatus":"Running"}})",
                       "application/merge-patch+json");
  ASSERT_EQ(main.status, 200);
  EXPECT_EQ(main.json()["status"]["printableStatus"], "Stopped");
  EXPECT_EQ(rvOf(main.json()), rvOf(st.json()));  // nothing changed, nothing stored

  auto sp = sim.send("PATCH", base + "/status", R"({"status":{"ready":true}})",
                     "application/merge-patch+json");
  ASSERT_EQ(sp.status, 200) << sp.body;
  EXPECT_EQ(sp.json()["status"]["ready"], true);
  EXPECT_EQ(sim.request("GET", base + "/status")["status"]["printableStatus"], "Stopped");

  // VirtualMachineInstance has no status subresource (as its CRD): /status is 404 and the main
  // resource carries status writes.
  json vmi = {{"apiVersion", "kubevirt.io/v1"},
              {"kind", "VirtualMachineInstance"},
              {"metadata", {{"name", "vm1"}, {"namespace", "demo"}}},
              {"spec", json::object()},
              {"status", {{"phase", "Running"}}}};
  auto vc =
      sim.send("POST", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachineinstances", vmi.dump());
  ASSERT_EQ(vc.status, 201) << vc.body;
  EXPECT_EQ(vc.json()["status"]["phase"], "Running");
  EXPECT_EQ(
      sim.send("GET", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachineinstances/vm1/status")
          .status,
      404);
}

TEST(KubeSimApi, DiscoveryVersionAndHealth) {
  KubeSimProcess sim;
  EXPECT_EQ(sim.request("GET", "/api")["versions"], json::array({"v1"}));
  json core = sim.request("GET", "/api/v1");
  bool pvs = false, pvStatus = false;
  for (const auto& r : core["resources"]) {
    pvs = pvs || (r["name"] == "persistentvolumes" && r["namespaced"] == false &&
                  r["kind"] == "PersistentVolume");
    pvStatus = pvStatus || r["name"] == "persistentvolumes/status";
  }
  EXPECT_TRUE(pvs);
  EXPECT_TRUE(pvStatus);
  json groups = sim.request("GET", "/apis");
  std::set<std::string> names;
  for (const auto& g : groups["groups"]) names.insert(g["name"]);
  for (const char* g : {"snapshot.storage.k8s.io", "kubevirt.io", "cdi.kubevirt.io", "velero.io",
                        "subresources.kubevirt.io"}) {
    EXPECT_TRUE(names.count(g)) << g;
  }
  json kv = sim.request("GET", "/apis/kubevirt.io/v1");
  EXPECT_EQ(kv["groupVersion"], "kubevirt.io/v1");
  EXPECT_EQ(sim.request("GET", "/apis/cdi.kubevirt.io")["preferredVersion"]["version"], "v1beta1");
  EXPECT_EQ(sim.request("GET", "/version")["major"], "1");
  EXPECT_EQ(sim.send("GET", "/healthz", "", "", {{"Authorization", ""}}).status, 200);
  EXPECT_EQ(sim.send("GET", "/readyz", "", "", {{"Authorization", "Bearer nope"}}).status, 401);
  EXPECT_EQ(sim.send("GET", "/apis/nonexistent.io/v1").status, 404);
  EXPECT_EQ(sim.send("GET", "/api/v1/services").status, 404);
}

TEST(KubeSimApi, KubevirtStartStopActions) {
  KubeSimProcess sim;
  ASSERT_EQ(createNamespace(sim, "demo")["kind"], "Namespace");
  ASSERT_EQ(sim.send("POST", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines",
                     vm("demo", "vm1", "Halted").dump())
                .status,
            201);
  const std::string sub = "/apis/subresources.kubevirt.io/v1/namespaces/demo/virtualmachines/vm1/";
  const std::string vmPath = "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines/vm1";
  auto start = sim.send("PUT", sub + "start", "{}");
  EXPECT_EQ(start.status, 202) << start.body;
  EXPECT_EQ(sim.request("GET", vmPath)["spec"]["runStrategy"], "Always");
  auto again = sim.send("PUT", sub + "start", "{}");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.json()["kind"], "Status");
  EXPECT_EQ(sim.send("PUT", sub + "stop", "{}").status, 202);
  EXPECT_EQ(sim.request("GET", vmPath)["spec"]["runStrategy"], "Halted");
  EXPECT_EQ(sim.send("PUT", sub + "stop", "{}").status, 409);
  EXPECT_EQ(sim.send("PUT", sub + "restart", "{}").status, 409);
  EXPECT_EQ(
      sim.send("PUT",
               "/apis/subresources.kubevirt.io/v1/namespaces/demo/virtualmachines/nope/start", "{}")
          .status,
      404);
  // The VM admission webhook: runStrategy and running are mutually exclusive; one is required.
  json both = vm("demo", "both");
  both["spec"]["running"] = true;
  auto r = sim.send("POST", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines", both.dump());
  EXPECT_EQ(r.status, 422);
  json neither = vm("demo", "neither");
  neither["spec"].erase("runStrategy");
  EXPECT_EQ(sim.send("POST", "/apis/kubevirt.io/v1/namespaces/demo/virtualmachines", neither.dump())
                .status,
            422);
}

TEST(KubeSimApi, TlsAndKubeconfig) {
  KubeSimProcess sim(KubeSimOptions{.tls = true});
  ASSERT_EQ(sim.url().rfind("https://127.0.0.1:", 0), 0u) << sim.url();
  auto r = sim.send("GET", "/api/v1/namespaces/default");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.json()["metadata"]["name"], "default");

  TempDir dir;
  const std::string path = sim.writeKubeconfig((dir / "kubeconfig").string(), "drsite");
  YAML::Node kc = YAML::LoadFile(path);
  EXPECT_EQ(kc["current-context"].as<std::string>(), "drsite");
  EXPECT_EQ(kc["clusters"][0]["cluster"]["server"].as<std::string>(), sim.url());
  EXPECT_EQ(kc["users"][0]["user"]["token"].as<std::string>(), sim.token());
  EXPECT_EQ(kc["contexts"][0]["context"]["cluster"].as<std::string>(), "drsite");
  const std::string caData =
      kc["clusters"][0]["cluster"]["certificate-authority-data"].as<std::string>();
  std::string decoded(caData.size(), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                          reinterpret_cast<const unsigned char*>(caData.data()),
                          static_cast<int>(caData.size()));
  ASSERT_GT(n, 0);
  std::ifstream f(sim.caFile());
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(decoded.substr(0, ss.str().size()), ss.str());
}

TEST(KubeSimApi, TlsCertificateNamesTheListenAddress) {
  // Any 127/8 address is local on Linux; the certificate must carry it for verification to pass.
  KubeSimOptions opts;
  opts.tls = true;
  opts.listen = "127.0.0.2:0";
  KubeSimProcess sim(opts);
  ASSERT_EQ(sim.url().rfind("https://127.0.0.2:", 0), 0u) << sim.url();
  auto r = sim.send("GET", "/version");
  EXPECT_EQ(r.status, 200) << r.error;
}

TEST(KubeSimApi, SigtermExitsZeroWithWatchesOpen) {
  KubeSimProcess sim;
  WatchClient w1(sim, "/api/v1/persistentvolumes?watch=true");
  WatchClient w2(sim, "/api/v1/namespaces?watch=true&allowWatchBookmarks=true");
  ASSERT_TRUE(waitForWatchers(sim, 2));
  // An idle keep-alive connection must not hold the exit up either.
  ASSERT_EQ(sim.send("GET", "/api/v1/namespaces").status, 200);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(sim.stop(), 0) << sim.stderrText();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
  EXPECT_TRUE(w1.waitEnd(2000ms));
}

TEST(KubeSimApi, BadInputGetsAClearStatusNotACrash) {
  KubeSimProcess sim;
  for (const char* body :
       {"", "{", "[]", "null", "{\"metadata\":42}", "\"x\"",
        "{\"apiVersion\":\"v2\",\"kind\":\"PersistentVolume\"}", "{\"kind\":\"Namespace\"}"}) {
    auto r = sim.send("POST", "/api/v1/persistentvolumes", body);
    EXPECT_GE(r.status, 400) << body;
    EXPECT_LT(r.status, 500) << body;
    EXPECT_EQ(r.json()["kind"], "Status") << body << " -> " << r.body;
  }
  for (const char* body :
       {R"({"metadata":{"name":"n1"},"spec":5})", R"({"metadata":{"name":"n2","labels":"x"}})",
        R"({"metadata":{"name":"n3","finalizers":{}}})"}) {
    auto r = sim.send("POST", "/api/v1/namespaces", body);
    EXPECT_EQ(r.status, 422) << body << " -> " << r.body;
  }
  EXPECT_EQ(
      sim.send("POST", "/api/v1/persistentvolumes", "{}", "application/vnd.kubernetes.protobuf")
          .status,
      415);
  EXPECT_EQ(sim.send("GET", "/api/v1/persistentvolumes?limit=-1").status, 400);
  EXPECT_EQ(sim.send("PUT", "/api/v1/persistentvolumes").status, 405);
  EXPECT_EQ(sim.send("GET", "/api/v1/namespaces/default/persistentvolumes").status, 404);
  EXPECT_EQ(sim.send("GET", "/api/v1/persistentvolumes/a/b/c").status, 404);
  // Still alive.
  EXPECT_EQ(sim.send("GET", "/api/v1/namespaces/default").status, 200);
}

}  // namespace
}  // namespace kubesim_test
