// Replication reading the primary cluster's API (kube-sim on the bridge address, reachable from
// the DR namespace host): `pv sync --pv NAME`, and `snapshot sync` fetching the bound
// VolumeSnapshotContent and the source PVC itself. Data still moves over real ssh.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "catalog/catalog.h"
#include "replication/test_util.h"
#include "support/cli_run.h"
#include "support/kube_sim_process.h"
#include "support/netns_hosts.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class PrimaryApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto h = NetnsHosts::create();
    if (!h.ok()) GTEST_SKIP() << netnsSkipBanner(h.error());
    hosts = std::move(h).value();
    KubeSimOptions ko;
    ko.listen = hosts->bridgeIp() + ":0";  // reachable from the namespace hosts
    sim = std::make_unique<KubeSimProcess>(ko);
    cfg = hosts->config();
    cfg.primary.kubernetes.kubeconfig =
        sim->writeKubeconfig((hosts->dir() / "primary.kubeconfig").string());
    configPath = hosts->writeConfig(cfg).string();
    bin = binaryPath("src/cli/ocpv-dr").string();
  }

  CliRun cli(std::vector<std::string> args) {
    std::vector<std::string> argv{bin, "-c", configPath};
    argv.insert(argv.end(), args.begin(), args.end());
    ProcessSpec spec;
    spec.argv = hosts->onHost(hosts->dr(), argv);
    spec.timeout = 120s;
    CliRun out = runCliProcess(spec);
    if (out.code != -1) {
      EXPECT_FALSE(out.doc.is_discarded()) << out.out << out.err;
    }
    return out;
  }
  std::string writeJson(const std::string& name, const Json& j) {
    fs::path p = hosts->dir() / name;
    std::ofstream(p) << j.dump();
    return p.string();
  }

  std::unique_ptr<NetnsHosts> hosts;
  std::unique_ptr<KubeSimProcess> sim;
  config::Config cfg;
  std::string configPath, bin;
  RealProcessRunner runner;
};

TEST_F(PrimaryApiTest, PvSyncByNameReadsThePvFromThePrimaryApi) {
  writeRandomFile(hosts->primary().exportDir / "vms-disk/disk.img", 1 << 20, 5);
  Json pv = inTreePv("pvc-byname", "nfs-primary.example.com", "/exports/ocp/vms-disk");
  pv.erase("status");
  Json created = sim->request("POST", "/api/v1/persistentvolumes", pv.dump());
  ASSERT_EQ(created["metadata"]["name"], "pvc-byname") << created.dump();

  auto r = cli({"pv", "sync", "--pv", "pvc-byname", "--no-progress"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.doc["result"], "synced");
  EXPECT_EQ(r.doc["pv"], "pvc-byname");
  EXPECT_EQ(sha256File(hosts->primary().exportDir / "vms-disk/disk.img"),
            sha256File(hosts->dr().exportDir / "vms-disk/disk.img"));

  auto missing = cli({"pv", "sync", "--pv", "pvc-nope", "--no-progress"});
  EXPECT_EQ(missing.code, 7) << missing.out;
  EXPECT_EQ(missing.doc["error"]["kind"], "not-found");

  auto del = cli({"pv", "delete", "--pv", "pvc-byname"});
  ASSERT_EQ(del.code, 0) << del.out;
  EXPECT_EQ(del.doc["result"], "quarantined");
}

TEST_F(PrimaryApiTest, SnapshotSyncFetchesTheContentAndTheSourceClaim) {
  const std::string snapName = "snapshot-aa11-bb22";
  writeRandomFile(hosts->primary().exportDir / "pvc-src/disk.img", 1 << 20, 6);
  writeRandomFile(hosts->primary().exportDir / snapName / "pvc-src.tar.gz", 200000, 7);
  // The source claim is known only to the primary API (the catalog has never seen the PV).
  sim->request("POST", "/api/v1/namespaces", R"({"metadata":{"name":"vms"}})");
  Json pvc = Json::parse(R"({"apiVersion":"v1","kind":"PersistentVolumeClaim",
    "metadata":{"name":"rootdisk","namespace":"vms"},
    "spec":{"accessModes":["ReadWriteMany"],"resources":{"requests":{"storage":"1Gi"}},
            "volumeName":"pvc-src","storageClassName":"nfs-csi"}})");
  Json pvcCreated =
      sim->request("POST", "/api/v1/namespaces/vms/persistentvolumeclaims", pvc.dump());
  ASSERT_EQ(pvcCreated["metadata"]["name"], "rootdisk") << pvcCreated.dump();

  Json vsc =
      Json::parse(R"({"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshotContent",
    "metadata":{"name":"snapcontent-aa11-bb22"},
    "spec":{"driver":"nfs.csi.k8s.io","deletionPolicy":"Delete",
            "source":{"volumeHandle":"nfs-primary.example.com#exports/ocp#pvc-src#pvc-src#"},
            "volumeSnapshotRef":{"namespace":"vms","name":"nightly","uid":"aa11-bb22"}}})");
  Json c =
      sim->request("POST", "/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents", vsc.dump());
  ASSERT_EQ(c["metadata"]["name"], "snapcontent-aa11-bb22") << c.dump();
  c["status"] = {{"readyToUse", true},
                 {"creationTime", 1795479141000000000LL},
                 {"restoreSize", 1048576},
                 {"snapshotHandle",
                  "nfs-primary.example.com#exports/ocp#" + snapName + "#" + snapName + "#pvc-src"}};
  Json st = sim->request(
      "PUT", "/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/snapcontent-aa11-bb22/status",
      c.dump());
  ASSERT_EQ(st["status"]["readyToUse"], true) << st.dump();

  Json vs = Json::parse(R"({"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot",
    "metadata":{"name":"nightly","namespace":"vms","uid":"aa11-bb22"},
    "spec":{"source":{"persistentVolumeClaimName":"rootdisk"},"volumeSnapshotClassName":"csi-nfs"},
    "status":{"boundVolumeSnapshotContentName":"snapcontent-aa11-bb22","readyToUse":true}})");
  auto r = cli({"snapshot", "sync", "--snapshot-json", writeJson("vs.json", vs), "--no-progress"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.doc["result"], "synced");
  EXPECT_EQ(r.doc["pv"], "pvc-src");  // from the PVC's spec.volumeName
  EXPECT_EQ(r.doc["record"]["creation_time"], "2026-11-24T00:12:21Z");
  EXPECT_EQ(r.doc["record"]["restore_size_bytes"], 1048576);
  EXPECT_EQ(sha256File(hosts->primary().exportDir / snapName / "pvc-src.tar.gz"),
            sha256File(hosts->dr().exportDir / snapName / "pvc-src.tar.gz"));
}

TEST_F(PrimaryApiTest, UnreachablePrimaryApiIsAClearFailureAndRecordsNothingReady) {
  sim->stop();
  Json vs =
      Json::parse(R"({"kind":"VolumeSnapshot","metadata":{"name":"s","namespace":"vms","uid":"u-9"},
    "spec":{"source":{"persistentVolumeClaimName":"x"}},
    "status":{"boundVolumeSnapshotContentName":"snapcontent-u-9","readyToUse":true}})");
  auto r = cli({"snapshot", "sync", "--snapshot-json", writeJson("vs.json", vs)});
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_EQ(r.doc["result"], "failed");
  EXPECT_NE(r.doc["error"]["message"].get<std::string>().find("snapcontent-u-9"), std::string::npos)
      << r.doc.dump();
  auto cat = catalog::Catalog::open(cfg.catalog.path);
  ASSERT_TRUE(cat.ok());
  auto rec = (*cat)->snapshot("u-9");
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->state, "pending");
  EXPECT_FALSE((*rec)->ready);
}

}  // namespace
}  // namespace ocpvdr::testing
