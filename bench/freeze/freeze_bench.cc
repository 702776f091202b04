// freeze_bench DISKS RUNS — the freeze window of a VM-consistent point (issue 17): one VM with
// DISKS PVs (each a 256 MiB sparse disk.img with 32 MiB of data, 64 random 64 KiB writes between
// cycles, committed to disk as an NFS COMMIT would), Running with its guest agent in kube-sim
// (kubevirt controller); the product's Replicator (local transport, extent mover over one
// loop-mounted XFS) and KubePrimary run RUNS group cycles. Per cycle: freeze_ms (first freeze call
// → last thaw done, as the catalog records it) and snapshot_ms (the group snapshot at the primary).
// Prints one line:
//   disks=N runs=R freeze_p50_ms=… freeze_p99_ms=… freeze_max_ms=… snapshot_p50_ms=… consistency=…
// Root (loop device). Not a test: no assertions beyond "every cycle made an application point".
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "catalog/catalog.h"
#include "core/curl_http.h"
#include "engine/primary_api.h"
#include "extent/loop_fs.h"
#include "kube/cluster_config.h"
#include "kube/kube_client.h"
#include "replication/replicator.h"
#include "replication/test_util.h"
#include "support/eventually.h"
#include "support/kube_sim_process.h"
#include "support/temp_dir.h"

using namespace ocpvdr;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  const std::size_t i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

void randomWrites(const std::string& file, int n, std::mt19937_64& rng) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  std::string buf(64 * 1024, 'x');
  for (int i = 0; i < n; ++i) {
    for (auto& c : buf) c = static_cast<char>(rng());
    const off_t off = static_cast<off_t>((rng() % (256 * 16)) * 64 * 1024);
    (void)!::pwrite(fd, buf.data(), buf.size(), off);
  }
  // A guest's writes reach the NFS server and are committed (the freeze itself syncs the guest's
  // file systems): the server's page cache holds no dirty data of the disk when the clone runs.
  ::fdatasync(fd);
  ::close(fd);
}

int run(int disks, int runs) {
  auto f = testing::LoopFs::create("xfs", (static_cast<uint64_t>(disks) * 512 + 512) << 20);
  if (!f.ok()) {
    std::fprintf(stderr, "loop XFS: %s\n", f.error().describe().c_str());
    return 2;
  }
  testing::TempDir tmp("ocpvdr-bench-freeze");
  config::Config cfg = testing::localSitesConfig((*f)->mountPoint());
  cfg.replication.mover = config::MoverKind::Extent;
  cfg.replication.moverLocalPath = testing::binaryPath("src/extent/ocpv-dr-mover").string();
  cfg.replication.recoveryPoints.keepLast = 3;
  const std::string root = cfg.primary.exportRoots.front().hostPath;
  initHttpGlobal();
  testing::KubeSimOptions o;
  o.extraArgs = {"--controller",         "kubevirt",
                 "--controller-option",  "kubevirt.start-delay-ms=0",
                 "--controller-tick-ms", "50"};
  testing::KubeSimProcess sim(o);
  auto kc = kube::loadKubeconfig(sim.writeKubeconfig(tmp.str() + "/kubeconfig"));
  if (!kc.ok()) {
    std::fprintf(stderr, "kubeconfig: %s\n", kc.error().describe().c_str());
    return 2;
  }
  CurlHttpClient http(kube::tlsOptionsFor(*kc));
  RealClock clock;
  kube::KubeClient client(http, *kc, clock, {});
  engine::KubePrimary primary(client);
  sim.request(
      "POST", "/api/v1/namespaces",
      Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "vms"}}}}.dump());
  Json volumes = Json::array();
  std::mt19937_64 rng(17);
  for (int i = 0; i < disks; ++i) {
    const std::string pv = "pv-" + std::to_string(i), claim = "disk-" + std::to_string(i);
    fs::create_directories(root + "/" + claim);
    const std::string img = root + "/" + claim + "/disk.img";
    { std::ofstream(img).flush(); }
    fs::resize_file(img, 256ull << 20);
    randomWrites(img, 512, rng);  // 32 MiB of data
    sim.request("POST", "/api/v1/persistentvolumes",
                testing::inTreePv(pv, "nfs-primary", "/exports/ocp/" + claim, claim).dump());
    sim.request("POST", "/api/v1/namespaces/vms/persistentvolumeclaims",
                Json{{"apiVersion", "v1"},
                     {"kind", "PersistentVolumeClaim"},
                     {"metadata", {{"name", claim}, {"namespace", "vms"}}},
                     {"spec",
                      {{"volumeName", pv},
                       {"accessModes", {"ReadWriteMany"}},
                       {"resources", {{"requests", {{"storage", "10Gi"}}}}},
                       {"storageClassName", "nfs-dynamic"}}}}
                    .dump());
    sim.send("PATCH", "/api/v1/namespaces/vms/persistentvolumeclaims/" + claim + "/status",
             Json{{"status", {{"phase", "Bound"}}}}.dump(), "application/merge-patch+json");
    volumes.push_back({{"name", claim}, {"persistentVolumeClaim", {{"claimName", claim}}}});
  }
  sim.request(
      "POST", "/apis/kubevirt.io/v1/namespaces/vms/virtualmachines",
      Json{{"apiVersion", "kubevirt.io/v1"},
           {"kind", "VirtualMachine"},
           {"metadata", {{"name", "db"}, {"namespace", "vms"}}},
           {"spec", {{"runStrategy", "Always"}, {"template", {{"spec", {{"volumes", volumes}}}}}}}}
          .dump());
  if (!testing::eventually(
          [&] {
            auto r =
                sim.send("GET", "/apis/kubevirt.io/v1/namespaces/vms/virtualmachineinstances/db");
            return r.status == 200 && r.json()["status"].value("phase", "") == "Running";
          },
          10s, 10ms)) {
    std::fprintf(stderr, "the VMI never became Running: %s\n",
                 sim.request("GET", "/apis/kubevirt.io/v1/namespaces/vms/virtualmachines/db")
                     .dump()
                     .c_str());
    return 2;
  }
  auto cat = catalog::Catalog::open(cfg.catalog.path);
  if (!cat.ok()) {
    std::fprintf(stderr, "catalog: %s\n", cat.error().describe().c_str());
    return 2;
  }
  RealProcessRunner runner;
  replication::Replicator rep(cfg, runner, clock, **cat, &primary);
  rep.setConsistencyApi(&primary);
  std::vector<double> freeze, snap;
  std::string consistency;
  const Json pvDoc = sim.request("GET", "/api/v1/persistentvolumes/pv-0");
  for (int r = 0; r <= runs; ++r) {  // cycle 0 is the full copy, not counted
    for (int i = 0; i < disks; ++i)
      randomWrites(root + "/disk-" + std::to_string(i) + "/disk.img", 64, rng);
    auto rr = rep.syncPv(pvDoc);
    if (!rr.ok() || !rr->ok()) {
      std::fprintf(stderr, "cycle %d failed: %s\n", r,
                   rr.ok() ? rr->toJson().dump().c_str() : rr.error().describe().c_str());
      return 1;
    }
    const Json g = rr->details.value("consistency_group", Json::object());
    if (g.value("consistency", "") != "application") {
      std::fprintf(stderr, "cycle %d not application-consistent: %s\n", r, g.dump().c_str());
      return 1;
    }
    if (r == 0) continue;
    freeze.push_back(g["freeze_ms"].get<double>());
    snap.push_back(g["snapshot_ms"].get<double>());
  }
  std::printf(
      "disks=%d runs=%d freeze_p50_ms=%.0f freeze_p99_ms=%.0f freeze_max_ms=%.0f "
      "snapshot_p50_ms=%.0f snapshot_p99_ms=%.0f consistency=application\n",
      disks, runs, pct(freeze, 0.5), pct(freeze, 0.99), pct(freeze, 1.0), pct(snap, 0.5),
      pct(snap, 0.99));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: freeze_bench DISKS RUNS\n");
    return 2;
  }
  return run(std::atoi(argv[1]), std::atoi(argv[2]));
}
