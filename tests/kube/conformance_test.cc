// Conformance of KubeClient with the Kubernetes API's documented behaviour, checked against
// kube-sim always and against a real cluster when OCPVDR_TEST_KUBECONFIG names a kubeconfig
// (otherwise those cases are skipped with a message). Each case uses PersistentVolumes named with
// a random suffix and labelled with it, and deletes them afterwards. A real cluster needs RBAC to
// create, patch, list, watch and delete PersistentVolumes; the PVs point at an unroutable
// documentation address (192.0.2.1) and are never bound.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "core/curl_http.h"
#include "kube/cluster_config.h"
#include "kube/kube_client.h"
#include "support/kube_sim_process.h"
#include "support/temp_dir.h"

namespace ocpvdr::kube {
namespace {

using namespace std::chrono_literals;
using ocpvdr::testing::KubeSimProcess;
using ocpvdr::testing::TempDir;

enum class Backend { KubeSim, RealCluster };

std::string randomSuffix() {
  std::random_device rd;
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 8; ++i) s.push_back(kAlphabet[rd() % (sizeof(kAlphabet) - 1)]);
  return s;
}

class Conformance : public ::testing::TestWithParam<Backend> {
 protected:
  static void SetUpTestSuite() { initHttpGlobal(); }

  void SetUp() override {
    if (GetParam() == Backend::RealCluster) {
      const char* path = std::getenv("OCPVDR_TEST_KUBECONFIG");
      if (path == nullptr || *path == '\0') {
        GTEST_SKIP() << "OCPVDR_TEST_KUBECONFIG is not set: real-cluster conformance skipped "
                        "(set it to a kubeconfig with PersistentVolume RBAC to run these cases)";
      }
      auto cfg = loadKubeconfig(path);
      ASSERT_TRUE(cfg.ok()) << cfg.error().describe();
      cfg_ = *cfg;
    } else {
      sim_ = std::make_unique<KubeSimProcess>();
      auto cfg = loadKubeconfig(sim_->writeKubeconfig((dir_ / "kubeconfig").string()));
      ASSERT_TRUE(cfg.ok()) << cfg.error().describe();
      cfg_ = *cfg;
    }
    http_ = std::make_unique<CurlHttpClient>(tlsOptionsFor(cfg_));
    client_ = std::make_unique<KubeClient>(*http_, cfg_, clock_);
    suffix_ = randomSuffix();
  }

  void TearDown() override {
    if (!client_) return;
    // Clean up everything this case labelled, whatever happened.
    ListOptions lo;
    lo.labelSelector = "ocpvdr-conformance=" + suffix_;
    auto left = client_->listAll(resources::persistentVolumes(), "", lo);
    if (!left.ok()) {
      ADD_FAILURE() << "cleanup list failed: " << left.error().describe();
      return;
    }
    for (const auto& pv : left->items) {
      auto r = client_->remove(resources::persistentVolumes(), "",
                               pv["metadata"]["name"].get<std::string>());
      if (!r.ok() && !isNotFound(r.error())) ADD_FAILURE() << r.error().describe();
    }
  }

  std::string name(const std::string& base) const { return "ocpvdr-conf-" + suffix_ + "-" + base; }

  Json pv(const std::string& base) const {
    return {{"apiVersion", "v1"},
            {"kind", "PersistentVolume"},
            {"metadata", {{"name", name(base)}, {"labels", {{"ocpvdr-conformance", suffix_}}}}},
            {"spec",
             {{"capacity", {{"storage", "1Gi"}}},
              {"accessModes", {"ReadWriteMany"}},
              {"persistentVolumeReclaimPolicy", "Retain"},
              {"storageClassName", "ocpvdr-conformance"},
              {"nfs", {{"server", "192.0.2.1"}, {"path", "/exports/conformance/" + base}}}}}};
  }

  ListOptions mine() const {
    ListOptions lo;
    lo.labelSelector = "ocpvdr-conformance=" + suffix_;
    return lo;
  }

  TempDir dir_;
  std::unique_ptr<KubeSimProcess> sim_;
  ClusterConfig cfg_;
  RealClock clock_;
  std::unique_ptr<CurlHttpClient> http_;
  std::unique_ptr<KubeClient> client_;
  std::string suffix_;
};

TEST_P(Conformance, ListPagingKeepsOneResourceVersion) {
  for (int i = 0; i < 5; ++i) {
    auto r = client_->create(resources::persistentVolumes(), pv("page-" + std::to_string(i)));
    ASSERT_TRUE(r.ok()) << r.error().describe();
  }
  ListOptions lo = mine();
  lo.limit = 2;
  std::vector<std::string> names;
  std::string rv;
  int pages = 0;
  do {
    auto page = client_->list(resources::persistentVolumes(), "", lo);
    ASSERT_TRUE(page.ok()) << page.error().describe();
    ++pages;
    EXPECT_LE(page->items.size(), 2u);
    if (pages == 1) rv = page->resourceVersion;
    EXPECT_EQ(page->resourceVersion, rv) << "every page carries the list's resourceVersion";
    // The server cannot count what remains under a label selector, so it leaves the count out.
    EXPECT_FALSE(page->remainingItemCount.has_value());
    for (const auto& it : page->items) names.push_back(it["metadata"]["name"]);
    lo.continueToken = page->continueToken;
  } while (!lo.continueToken.empty());
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(names.size(), 5u);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));

  auto all = client_->listAll(resources::persistentVolumes(), "", [&] {
    ListOptions o = mine();
    o.limit = 2;
    return o;
  }());
  ASSERT_TRUE(all.ok()) << all.error().describe();
  EXPECT_EQ(all->items.size(), 5u);
  EXPECT_EQ(all->pages, 3);
}

TEST_P(Conformance, WatchFromAResourceVersionSeesEachChangeInOrder) {
  auto start = client_->list(resources::persistentVolumes(), "", mine());
  ASSERT_TRUE(start.ok()) << start.error().describe();
  ASSERT_TRUE(client_->create(resources::persistentVolumes(), pv("watched")).ok());
  ASSERT_TRUE(client_
                  ->mergePatch(resources::persistentVolumes(), "", name("watched"),
                               {{"metadata", {{"labels", {{"step", "two"}}}}}})
                  .ok());
  ASSERT_TRUE(client_->remove(resources::persistentVolumes(), "", name("watched")).ok());

  std::vector<std::string> types;
  std::stop_source stop;
  WatchOptions wo;
  wo.resourceVersion = start->resourceVersion;
  wo.labelSelector = mine().labelSelector;
  wo.timeoutSeconds = 20;
  auto end = client_->watch(
      resources::persistentVolumes(), "", wo,
      [&](WatchEvent& ev) {
        if (ev.type == WatchEventType::Bookmark) return;
        EXPECT_EQ(ev.object["metadata"]["name"], name("watched"));
        types.emplace_back(toString(ev.type));
        if (ev.type == WatchEventType::Deleted) stop.request_stop();
      },
      stop.get_token());
  ASSERT_TRUE(end.ok()) << end.error().describe();
  EXPECT_EQ(end->how, WatchEnd::How::Stopped);
  // A real PV can pick up extra MODIFIED events (finalizers, phase) between these.
  ASSERT_GE(types.size(), 3u);
  EXPECT_EQ(types.front(), "ADDED");
  EXPECT_EQ(types.back(), "DELETED");
  EXPECT_NE(std::find(types.begin(), types.end(), "MODIFIED"), types.end());
}

// A watch from a compacted resourceVersion. Two documented answers, both fine for a client that
// re-lists on 410 and diffs what it is sent: 410 Expired (etcd, and kube-sim), or — seen on a real
// kube-apiserver 1.32 — the watch cache starting the watch with the current objects as ADDED. The
// watch carries timeoutSeconds and stops at the first event of ours, so it always ends.
TEST_P(Conformance, ACompactedResourceVersionIsExpiredOrAnsweredWithCurrentObjects) {
  ASSERT_TRUE(client_->create(resources::persistentVolumes(), pv("before-compaction")).ok());
  if (sim_) sim_->compact();  // a real cluster compacts etcd on its own (every 5 minutes)
  std::stop_source stop;
  std::vector<std::string> names;
  WatchOptions wo;
  wo.resourceVersion = "1";
  wo.labelSelector = mine().labelSelector;
  wo.timeoutSeconds = 20;
  auto end = client_->watch(
      resources::persistentVolumes(), "", wo,
      [&](WatchEvent& ev) {
        if (ev.type == WatchEventType::Bookmark) return;
        names.push_back(ev.object["metadata"]["name"].get<std::string>());
        stop.request_stop();
      },
      stop.get_token());
  ASSERT_TRUE(end.ok()) << end.error().describe();
  if (end->how == WatchEnd::How::Expired) {
    EXPECT_TRUE(names.empty());
  } else {
    EXPECT_EQ(end->how, WatchEnd::How::Stopped) << "neither 410 nor the current objects";
    ASSERT_FALSE(names.empty());
    EXPECT_EQ(names.front(), name("before-compaction"));
  }
  if (sim_) {
    EXPECT_EQ(end->how, WatchEnd::How::Expired) << "kube-sim answers 410";
  }

  ListOptions lo = mine();
  lo.resourceVersion = "1";
  auto stale = client_->list(resources::persistentVolumes(), "", lo);
  if (!stale.ok()) {
    // The real server answers a non-exact old list RV from its cache instead; both are fine, but
    // an error must be the Expired one.
    EXPECT_TRUE(isExpired(stale.error())) << stale.error().describe();
  }
}

// ValidatePersistentVolumeUpdate: the volume source of a PV never changes after creation (422);
// other fields do.
TEST_P(Conformance, APersistentVolumeSourceIsImmutable) {
  ASSERT_TRUE(client_->create(resources::persistentVolumes(), pv("immutable")).ok());
  auto moved = client_->mergePatch(resources::persistentVolumes(), "", name("immutable"),
                                   {{"spec", {{"nfs", {{"path", "/exports/conformance/moved"}}}}}});
  ASSERT_FALSE(moved.ok());
  EXPECT_EQ(moved.error().kind, ErrorKind::Invalid) << moved.error().describe();
  EXPECT_NE(moved.error().message.find("spec.persistentvolumesource is immutable after creation"),
            std::string::npos)
      << moved.error().message;
  auto labelled = client_->mergePatch(resources::persistentVolumes(), "", name("immutable"),
                                      {{"metadata", {{"labels", {{"step", "two"}}}}}});
  EXPECT_TRUE(labelled.ok()) << labelled.error().describe();
}

TEST_P(Conformance, NotFoundAlreadyExistsAndConflictStatusBodies) {
  auto missing = client_->get(resources::persistentVolumes(), "", name("missing"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
  EXPECT_TRUE(isNotFound(missing.error()));
  EXPECT_NE(missing.error().message.find(name("missing")), std::string::npos)
      << missing.error().message;

  auto created = client_->create(resources::persistentVolumes(), pv("dup"));
  ASSERT_TRUE(created.ok()) << created.error().describe();
  auto dup = client_->create(resources::persistentVolumes(), pv("dup"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().kind, ErrorKind::Conflict);
  EXPECT_TRUE(isAlreadyExists(dup.error())) << dup.error().describe();

  Json stale = *created;
  ASSERT_TRUE(client_
                  ->mergePatch(resources::persistentVolumes(), "", name("dup"),
                               {{"metadata", {{"labels", {{"touched", "yes"}}}}}})
                  .ok());
  stale["metadata"]["labels"]["mine"] = "no";
  auto conflict = client_->update(resources::persistentVolumes(), stale);
  ASSERT_FALSE(conflict.ok());
  EXPECT_TRUE(isConflict(conflict.error())) << conflict.error().describe();
  EXPECT_FALSE(isAlreadyExists(conflict.error()));

  auto invalid = client_->create(
      resources::persistentVolumes(),
      {{"apiVersion", "v1"}, {"kind", "PersistentVolume"}, {"metadata", {{"name", "Bad_Name"}}}});
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().kind, ErrorKind::Invalid) << invalid.error().describe();
  EXPECT_NE(invalid.error().message.find("metadata.name"), std::string::npos);
}

TEST_P(Conformance, MergePatchAndServerSideApply) {
  ASSERT_TRUE(client_->create(resources::persistentVolumes(), pv("patched")).ok());
  auto patched = client_->mergePatch(resources::persistentVolumes(), "", name("patched"),
                                     {{"spec", {{"persistentVolumeReclaimPolicy", "Delete"}}},
                                      {"metadata", {{"labels", {{"tier", "gold"}}}}}});
  ASSERT_TRUE(patched.ok()) << patched.error().describe();
  EXPECT_EQ((*patched)["spec"]["persistentVolumeReclaimPolicy"], "Delete");
  EXPECT_EQ((*patched)["metadata"]["labels"]["tier"], "gold");
  EXPECT_EQ((*patched)["metadata"]["labels"]["ocpvdr-conformance"], suffix_)
      << "merge keeps the rest";

  // Apply creates when missing and records the field manager.
  Json applied = pv("applied");
  applied["metadata"]["labels"]["owner"] = "first";
  auto a1 = client_->apply(resources::persistentVolumes(), applied, {"ocpvdr-conf-first", false});
  ASSERT_TRUE(a1.ok()) << a1.error().describe();
  EXPECT_EQ((*a1)["metadata"]["labels"]["owner"], "first");
  bool managed = false;
  for (const auto& mf : (*a1)["metadata"].value("managedFields", Json::array())) {
    managed = managed || mf.value("manager", "") == "ocpvdr-conf-first";
  }
  EXPECT_TRUE(managed) << "managedFields name the apply's field manager";

  // Another manager changing the same field conflicts unless it forces.
  Json other = {{"apiVersion", "v1"},
                {"kind", "PersistentVolume"},
                {"metadata", {{"name", name("applied")}, {"labels", {{"owner", "second"}}}}}};
  auto conflict =
      client_->apply(resources::persistentVolumes(), other, {"ocpvdr-conf-second", false});
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().kind, ErrorKind::Conflict) << conflict.error().describe();
  auto forced = client_->apply(resources::persistentVolumes(), other, {"ocpvdr-conf-second", true});
  ASSERT_TRUE(forced.ok()) << forced.error().describe();
  EXPECT_EQ((*forced)["metadata"]["labels"]["owner"], "second");

  auto jp = client_->jsonPatch(
      resources::persistentVolumes(), "", name("applied"),
      Json::array({{{"op", "test"}, {"path", "/metadata/labels/owner"}, {"value", "nobody"}}}));
  ASSERT_FALSE(jp.ok()) << "a failed JSON-patch test op is refused";
  EXPECT_EQ(jp.error().kind, ErrorKind::Invalid) << jp.error().describe();
}

INSTANTIATE_TEST_SUITE_P(Backends, Conformance,
                         ::testing::Values(Backend::KubeSim, Backend::RealCluster),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::KubeSim ? "KubeSim" : "RealCluster";
                         });

}  // namespace
}  // namespace ocpvdr::kube
