// VM-consistent recovery points (issue 17) end to end, as root: the Replicator with the local
// transport over a loop-mounted XFS (both export roots reflink, so the extent mover runs), the
// primary cluster's API served by kube-sim with its kubevirt controller (VMI Running with
// AgentConnected, the freeze subresources, the automatic thaw) and the product's KubePrimary over
// the real Kubernetes client.
//
// The application: one VM "db" with two disks (PVs pv-a, pv-b). A writer thread writes numbered
// transactions as a pair of records — first to disk A, then to disk B. It is the guest's
// application: kube-sim's guest agent runs an fsfreeze hook (qemu-guest-agent's --fsfreeze-hook,
// KUBE_SIM_FSFREEZE_HOOK) that, on freeze, waits for the transaction in flight (the writer's lock)
// and marks the guest frozen; the writer does not start a transaction while it is marked; thaw
// clears the mark. Group cycles run meanwhile.
//
// Must show: every application-consistent point holds only complete pairs (A's records == B's);
// with the VM opted out of freezing (ocpv-dr.io/freeze=false) the points are crash-consistent and
// at least one holds a torn pair — so the check can fail. Every way out of the freeze thaws: an
// error while snapshotting (unfreeze called), a thaw that fails (reported: thaw_errors, metric,
// the guest stays frozen as KubeVirt leaves it), the process killed mid-freeze (KubeVirt's
// unfreezeTimeout thaws it, seen on the VMI's status).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>
#include <thread>

#include "catalog/catalog.h"
#include "catalog/points.h"
#include "core/curl_http.h"
#include "core/metrics.h"
#include "engine/primary_api.h"
#include "extent/loop_fs.h"
#include "kube/cluster_config.h"
#include "kube/kube_client.h"
#include "replication/recovery_points.h"
#include "replication/replicator.h"
#include "replication/test_util.h"
#include "support/eventually.h"
#include "support/kube_sim_process.h"
#include "support/temp_dir.h"

namespace ocpvdr::replication {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ocpvdr::testing::KubeSimOptions;
using ocpvdr::testing::KubeSimProcess;
using ocpvdr::testing::LoopFs;
using ocpvdr::testing::TempDir;

constexpr const char* kNs = "vms";
constexpr const char* kVmi = "/apis/kubevirt.io/v1/namespaces/vms/virtualmachineinstances/db";

std::string slurp(const std::string& p) {
  std::ifstream f(p);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The transaction numbers a disk's log holds (one "<n>\n" per record).
std::vector<long> records(const std::string& file) {
  std::vector<long> out;
  std::istringstream in(slurp(file));
  long n = 0;
  while (in >> n) out.push_back(n);
  return out;
}

// The application inside the guest: pairs of records, A then B, never started while frozen.
class PairWriter {
 public:
  PairWriter(std::string a, std::string b, std::string lock, std::string frozenMark)
      : a_(std::move(a)), b_(std::move(b)), lock_(std::move(lock)), mark_(std::move(frozenMark)) {}
  ~PairWriter() { stop(); }
  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  long written() const { return n_; }

 private:
  void run() {
    int lk = ::open(lock_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int fa = ::open(a_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int fb = ::open(b_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    while (!stop_) {
      ::flock(lk, LOCK_EX);
      if (::access(mark_.c_str(), F_OK) != 0) {
        const std::string rec = std::to_string(n_ + 1) + "\n";
        // The transaction's two records, A then B, with the transaction in flight in between.
        (void)!::write(fa, rec.data(), rec.size());
        std::this_thread::sleep_for(100us);
        (void)!::write(fb, rec.data(), rec.size());
        ++n_;
      }
      ::flock(lk, LOCK_UN);
      std::this_thread::sleep_for(300us);  // let the freeze hook in
    }
    ::close(fa);
    ::close(fb);
    ::close(lk);
  }
  std::string a_, b_, lock_, mark_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<long> n_{0};
};

class Consistency : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { initHttpGlobal(); }

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (loop-mounted XFS)";
    auto f = LoopFs::create("xfs", 768ull << 20);
    if (!f.ok() && f.error().kind == ErrorKind::NotFound) GTEST_SKIP() << f.error().message;
    ASSERT_TRUE(f.ok()) << f.error().describe();
    fsys_ = std::move(f).value();
    base_ = fsys_->mountPoint();
    cfg_ = testing::localSitesConfig(base_);
    cfg_.replication.mover = config::MoverKind::Extent;
    cfg_.replication.moverLocalPath =
        ocpvdr::testing::binaryPath("src/extent/ocpv-dr-mover").string();
    cfg_.replication.consistency.unfreezeTimeout = std::chrono::seconds(2);
    cfg_.replication.recoveryPoints.keepLast = 100;
    primaryRoot_ = cfg_.primary.exportRoots.front().hostPath;
    drRoot_ = cfg_.dr.exportRoots.front().hostPath;
    fs::create_directories(primaryRoot_ + "/a");
    fs::create_directories(primaryRoot_ + "/b");
    std::ofstream(primaryRoot_ + "/a/log") << "";
    std::ofstream(primaryRoot_ + "/b/log") << "";

    // The guest agent's fsfreeze hook: quiesce the application (wait for its transaction, mark
    // frozen), and resume it on thaw.
    lock_ = tmp_.str() + "/app.lock";
    mark_ = tmp_.str() + "/frozen";
    hook_ = tmp_.str() + "/fsfreeze-hook";
    std::ofstream(hook_) << "#!/bin/sh\ncase \"$1\" in\n  freeze) exec flock " << lock_ << " touch "
                         << mark_ << " ;;\n  thaw) rm -f " << mark_ << " ;;\nesac\n";
    fs::permissions(hook_, fs::perms::owner_all);
    ::setenv("KUBE_SIM_FSFREEZE_HOOK", hook_.c_str(), 1);
    KubeSimOptions o;
    o.extraArgs = {"--controller",         "kubevirt",
                   "--controller-option",  "kubevirt.start-delay-ms=0",
                   "--controller-tick-ms", "50"};
    sim_ = std::make_unique<KubeSimProcess>(o);
    ::unsetenv("KUBE_SIM_FSFREEZE_HOOK");
    auto kc = kube::loadKubeconfig(sim_->writeKubeconfig(tmp_.str() + "/kubeconfig"));
    ASSERT_TRUE(kc.ok()) << kc.error().describe();
    http_ = std::make_unique<CurlHttpClient>(kube::tlsOptionsFor(*kc));
    kube::KubeClientOptions ko;
    ko.retry.maxAttempts = 2;
    ko.retry.initialBackoff = 10ms;
    client_ = std::make_unique<kube::KubeClient>(*http_, *kc, clock_, ko);
    primary_ = std::make_unique<engine::KubePrimary>(*client_);

    sim_->request(
        "POST", "/api/v1/namespaces",
        Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", kNs}}}}.dump());
    for (const auto& [pv, claim, dir] :
         std::vector<std::tuple<std::string, std::string, std::string>>{{"pv-a", "db-data", "a"},
                                                                        {"pv-b", "db-log", "b"}}) {
      Json p = testing::inTreePv(pv, "nfs-primary", "/exports/ocp/" + dir, claim);
      ASSERT_EQ(sim_->send("POST", "/api/v1/persistentvolumes", p.dump()).status, 201);
      Json pvc = {{"apiVersion", "v1"},
                  {"kind", "PersistentVolumeClaim"},
                  {"metadata", {{"name", claim}, {"namespace", kNs}}},
                  {"spec",
                   {{"accessModes", {"ReadWriteMany"}},
                    {"resources", {{"requests", {{"storage", "10Gi"}}}}},
                    {"storageClassName", "nfs-dynamic"},
                    {"volumeName", pv}}}};
      ASSERT_EQ(
          sim_->send("POST", "/api/v1/namespaces/vms/persistentvolumeclaims", pvc.dump()).status,
          201);
      auto bound =
          sim_->send("PATCH", "/api/v1/namespaces/vms/persistentvolumeclaims/" + claim + "/status",
                     Json{{"status", {{"phase", "Bound"}}}}.dump(), "application/merge-patch+json");
      ASSERT_EQ(bound.status, 200) << bound.body;
    }
  }

  // The VM with both disks (one as a DataVolume), Running with its guest agent.
  void startVm(bool freezeOptOut) {
    Json vm = {{"apiVersion", "kubevirt.io/v1"},
               {"kind", "VirtualMachine"},
               {"metadata", {{"name", "db"}, {"namespace", kNs}, {"labels", Json::object()}}},
               {"spec",
                {{"runStrategy", "Always"},
                 {"template",
                  {{"spec",
                    {{"volumes",
                      {{{"name", "data"}, {"persistentVolumeClaim", {{"claimName", "db-data"}}}},
                       {{"name", "log"}, {"dataVolume", {{"name", "db-log"}}}}}}}}}}}}};
    if (freezeOptOut) vm["metadata"]["labels"]["ocpv-dr.io/freeze"] = "false";
    ASSERT_EQ(
        sim_->send("POST", "/apis/kubevirt.io/v1/namespaces/vms/virtualmachines", vm.dump()).status,
        201);
    ASSERT_TRUE(ocpvdr::testing::eventually(
        [&] {
          auto r = sim_->send("GET", kVmi);
          return r.status == 200 && r.json()["status"].value("phase", "") == "Running";
        },
        10s, 10ms));
  }

  std::unique_ptr<Replicator> replicator(catalog::Catalog& cat) {
    auto r = std::make_unique<Replicator>(cfg_, runner_, clock_, cat, primary_.get());
    r->setConsistencyApi(primary_.get());
    r->setMetrics(&metrics_);
    return r;
  }
  Json pvDoc(const std::string& pv) {
    return sim_->request("GET", "/api/v1/persistentvolumes/" + pv);
  }
  std::string freezeStatus() {
    return sim_->request("GET", kVmi)["status"].value("fsFreezeStatus", "");
  }

  // Group cycles while the writer writes; returns the catalog rows of pv-a and pv-b by point id.
  struct Pair {
    catalog::PointRecord a, b;
  };
  std::map<std::string, Pair> cyclesWhileWriting(int cycles) {
    auto cat = catalog::Catalog::open(cfg_.catalog.path);
    EXPECT_TRUE(cat.ok());
    auto rep = replicator(**cat);
    PairWriter w(primaryRoot_ + "/a/log", primaryRoot_ + "/b/log", lock_, mark_);
    w.start();
    for (int i = 0; i < cycles; ++i) {
      std::this_thread::sleep_for(30ms);  // let the writer write between points
      auto r = rep->syncPv(pvDoc(i % 2 == 0 ? "pv-a" : "pv-b"));
      EXPECT_TRUE(r.ok() && r->ok()) << (r.ok() ? r->toJson().dump(2) : r.error().describe());
      if (r.ok()) {
        const Json& g = r->details.value("consistency_group", Json::object());
        EXPECT_EQ(g.value("group", ""), "vm/vms/db") << r->toJson().dump(2);
        EXPECT_TRUE(g.value("thaw_errors", Json::array()).empty()) << g.dump(2);
      }
    }
    w.stop();
    EXPECT_GT(w.written(), 20) << "the writer must have made progress";
    catalog::PointStore ps(**cat);
    std::map<std::string, Pair> out;
    for (const auto& p : ps.list().valueOr({}))
      (p.pv == "pv-a" ? out[p.pointId].a : out[p.pointId].b) = p;
    return out;
  }
  std::string pointFile(const std::string& pv, const std::string& id) {
    return pointsDirFor(drRoot_, pv) + "/" + id + "/tree/log";
  }

  std::unique_ptr<LoopFs> fsys_;
  std::string base_;
  config::Config cfg_;
  std::string primaryRoot_, drRoot_;
  TempDir tmp_{"ocpvdr-consist"};
  std::string lock_, mark_, hook_;
  std::unique_ptr<KubeSimProcess> sim_;
  RealClock clock_;
  RealProcessRunner runner_;
  MetricsRegistry metrics_;
  std::unique_ptr<CurlHttpClient> http_;
  std::unique_ptr<kube::KubeClient> client_;
  std::unique_ptr<engine::KubePrimary> primary_;
};

TEST_F(Consistency, EveryApplicationConsistentPointHoldsOnlyCompletePairs) {
  ASSERT_NO_FATAL_FAILURE(startVm(false));
  auto points = cyclesWhileWriting(6);
  ASSERT_EQ(points.size(), 6u);
  std::set<std::size_t> sizes;
  for (const auto& [id, p] : points) {
    // Both disks have the point, from one snapshot, with one data time, and it says what it is.
    ASSERT_EQ(p.a.pointId, id);
    ASSERT_EQ(p.b.pointId, id);
    EXPECT_EQ(p.a.consistency, "application") << id;
    EXPECT_EQ(p.b.consistency, "application") << id;
    EXPECT_EQ(p.a.group, "vm/vms/db");
    EXPECT_EQ(p.a.dataTimeNs, p.b.dataTimeNs);
    EXPECT_GE(p.a.freezeMs, 0);
    EXPECT_EQ(p.a.freezeMs, p.b.freezeMs);
    const auto a = records(pointFile("pv-a", id)), b = records(pointFile("pv-b", id));
    EXPECT_EQ(a, b) << "torn pair in application-consistent point " << id << ": disk A has "
                    << a.size() << " records, disk B " << b.size();
    sizes.insert(a.size());
  }
  EXPECT_GE(sizes.size(), 3u) << "the points must differ: the writer ran between them";
  EXPECT_EQ(freezeStatus(), "") << "thawed after every cycle";
  EXPECT_EQ(sim_->admin("GET", "/admin/guest-agent")["thaws"], 6);
  EXPECT_EQ(metrics_.get("ocpvdr_freeze_window_seconds_count"), 6);
}

TEST_F(Consistency, WithoutTheFreezeSomePointIsTornSoTheCheckCanFail) {
  ASSERT_NO_FATAL_FAILURE(startVm(true));  // ocpv-dr.io/freeze=false
  auto points = cyclesWhileWriting(30);
  ASSERT_EQ(points.size(), 30u);
  int torn = 0;
  for (const auto& [id, p] : points) {
    EXPECT_EQ(p.a.consistency, "crash") << id;
    EXPECT_EQ(p.a.freezeMs, -1);
    EXPECT_EQ(p.a.dataTimeNs, p.b.dataTimeNs);
    if (records(pointFile("pv-a", id)) != records(pointFile("pv-b", id))) ++torn;
  }
  std::cout << "torn points without the freeze: " << torn << " of " << points.size() << "\n";
  EXPECT_GE(torn, 1) << "no torn pair without the freeze: the application check would pass "
                        "whatever the freeze does";
  EXPECT_EQ(sim_->admin("GET", "/admin/guest-agent")["freezes"], 0);
}

TEST_F(Consistency, AnErrorWhileSnapshottingThawsAndThePvIsSyncedAlone) {
  ASSERT_NO_FATAL_FAILURE(startVm(false));
  auto cat = catalog::Catalog::open(cfg_.catalog.path);
  ASSERT_TRUE(cat.ok());
  auto rep = replicator(**cat);
  SyncOptions o;
  std::string seenFrozen;
  o.groupHook = [&](std::string_view phase) -> Status {
    if (phase != "frozen") return {};
    seenFrozen = freezeStatus();
    return terminalError("injected: the snapshot failed");
  };
  auto r = rep->syncPv(pvDoc("pv-a"), o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(seenFrozen, "frozen") << "the hook ran inside the freeze";
  const Json g = r->details["consistency_group"];
  EXPECT_NE(g.value("error", "").find("injected"), std::string::npos) << g.dump(2);
  EXPECT_EQ(freezeStatus(), "");
  EXPECT_EQ(sim_->admin("GET", "/admin/guest-agent")["thaws"], 1) << "unfreeze was called";
  // The PV itself still got a (per-file) point.
  EXPECT_TRUE(r->ok()) << r->toJson().dump(2);
  EXPECT_EQ(r->details.value("consistency", ""), "per-file");
}

TEST_F(Consistency, AThawThatFailsIsReportedLoudly) {
  ASSERT_NO_FATAL_FAILURE(startVm(false));
  auto cat = catalog::Catalog::open(cfg_.catalog.path);
  ASSERT_TRUE(cat.ok());
  auto rep = replicator(**cat);
  sim_->setFaults({{"unfreezeErrorCount", 3}});  // every retry fails
  auto r = rep->syncPv(pvDoc("pv-b"));
  ASSERT_TRUE(r.ok());
  const Json g = r->details["consistency_group"];
  ASSERT_EQ(g["thaw_errors"].size(), 1u) << g.dump(2);
  EXPECT_NE(g["thaw_errors"][0].get<std::string>().find("vms/db"), std::string::npos);
  EXPECT_EQ(metrics_.get("ocpvdr_thaws_failed_total", {{"vm", "vms/db"}}), 1);
  EXPECT_EQ(freezeStatus(), "frozen") << "KubeVirt leaves it frozen after a failed unfreeze";
  // The point itself was taken under the freeze.
  EXPECT_EQ(g.value("consistency", ""), "application");
  sim_->setFaults(Json::object());
  ASSERT_EQ(sim_->send("PUT",
                       "/apis/subresources.kubevirt.io/v1/namespaces/vms/"
                       "virtualmachineinstances/db/unfreeze")
                .status,
            200);
}

TEST_F(Consistency, AProcessKilledMidFreezeIsThawedByTheUnfreezeTimeout) {
  ASSERT_NO_FATAL_FAILURE(startVm(false));
  const auto start = std::chrono::steady_clock::now();
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The sync process: dies by SIGKILL inside the freeze, before it can thaw.
    auto cat = catalog::Catalog::open(cfg_.catalog.path);
    if (!cat.ok()) ::_exit(3);
    auto rep = replicator(**cat);
    SyncOptions o;
    o.groupHook = [](std::string_view phase) -> Status {
      if (phase == "frozen") ::raise(SIGKILL);
      return {};
    };
    (void)rep->syncPv(pvDoc("pv-a"), o);
    ::_exit(4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_EQ(freezeStatus(), "frozen") << "killed mid-freeze: nobody called unfreeze";
  // KubeVirt's own thaw after unfreeze_timeout (2 s) shows on the VMI's status.
  ASSERT_TRUE(ocpvdr::testing::eventually([&] { return freezeStatus().empty(); }, 10s, 20ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 2s);
  // kube-sim counts and logs the automatic thaw right after the status write.
  EXPECT_TRUE(ocpvdr::testing::eventually(
      [&] { return sim_->admin("GET", "/admin/guest-agent")["timeoutThaws"] == 1; }, 5s, 20ms));
  EXPECT_TRUE(ocpvdr::testing::eventually(
      [&] {
        return sim_->stderrText().find("thawed (unfreezeTimeout elapsed") != std::string::npos;
      },
      5s, 20ms));
}

}  // namespace
}  // namespace ocpvdr::replication
