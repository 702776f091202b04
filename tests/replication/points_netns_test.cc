// `ocpv-dr points verify` over real ssh: the DR network-namespace host runs the command, which
// re-reads the DR point and runs `ocpv-dr-mover checksum` on the primary host through its sshd
// (the same checksum code at both ends, extent/checksum.h). The point and the primary's snapshot
// are written in the applier's and the snapshot's layout directly (the mover is tested in
// tests/extent). Needs root (network namespaces, sshd); skips loudly otherwise.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "catalog/catalog.h"
#include "catalog/points.h"
#include "replication/recovery_points.h"
#include "support/cli_run.h"
#include "support/netns_hosts.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

void writeFile(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << data;
}

TEST(PointsNetns, VerifyComparesWithThePrimarysSnapshotOverSsh) {
  OCPVDR_NETNS_HOSTS_OR_SKIP(hosts);
  config::Config cfg = hosts->config();
  const std::string configPath = hosts->writeConfig(cfg).string();
  const std::string pv = "pvc-net";
  const fs::path primaryRoot = cfg.primary.exportRoots.front().hostPath;
  const fs::path drRoot = cfg.dr.exportRoots.front().hostPath;
  {
    auto cat = catalog::Catalog::open(cfg.catalog.path);
    ASSERT_TRUE(cat.ok()) << cat.error().describe();
    catalog::ReplicaRecord r;
    r.pv = pv;
    r.sourceKind = "nfs";
    r.sourceServer = cfg.primary.nfsServer;
    r.sourcePath = cfg.primary.exportRoots.front().exportPath + "/vol-net";
    r.primaryHostPath = (primaryRoot / "vol-net").string();
    r.drPath = (drRoot / "vol-net").string();
    ASSERT_TRUE((*cat)->putReplica(r).ok());
    const std::string points = replication::pointsDirFor(drRoot.string(), pv);
    for (const std::string id : {"p-1", "p-2"}) {
      writeFile(points + "/" + id + "/tree/disk.img", "image " + id);
      writeFile(points + "/" + id + "/tree/odd name", "x");
      writeFile(points + "/" + id + "/point", "id=" + id + "\n");
      catalog::PointRecord p;
      p.pv = pv;
      p.pointId = id;
      p.dataTimeNs = (id == "p-1" ? 100 : 200) * 1'000'000'000LL;
      p.path = points + "/" + id;
      ASSERT_TRUE(catalog::PointStore(**cat).add(p).ok());
    }
  }
  // The primary holds only the newest snapshot.
  const fs::path snap = primaryRoot / ".ocpv-dr/snapshots" / pv / "p-2";
  writeFile(snap / "manifest", "m\n");
  writeFile(snap / "tree/disk.img", "image p-2");
  writeFile(snap / "tree/odd name", "x");

  auto verify = [&](const std::string& id) {
    ProcessSpec spec;
    spec.argv =
        hosts->onHost(hosts->dr(), {binaryPath("src/cli/ocpv-dr").string(), "-c", configPath,
                                    "points", "verify", pv, id, "--json", "--mover",
                                    binaryPath("src/extent/ocpv-dr-mover").string()});
    spec.timeout = 120s;
    return runCliProcess(spec);
  };
  auto same = verify("p-2");
  ASSERT_EQ(same.code, 0) << same.out << same.err;
  EXPECT_EQ(same.doc["compared_with_primary"], true);
  EXPECT_EQ(same.doc["files"], 2);
  EXPECT_EQ(same.doc["result"], "verified");
  // The checksum really ran on the primary, from the DR host's address.
  const std::string log = hosts->sshdLogText(hosts->primary());
  EXPECT_NE(log.find("Accepted publickey for root from " + hosts->dr().ip), std::string::npos)
      << log;

  auto older = verify("p-1");
  ASSERT_EQ(older.code, 0) << older.out << older.err;
  EXPECT_EQ(older.doc["compared_with_primary"], false);
  EXPECT_EQ(older.doc["checked"], "DR only");

  writeFile(snap / "tree/odd name", "y");  // the primary's copy differs now
  auto differs = verify("p-2");
  EXPECT_EQ(differs.code, 5) << differs.out << differs.err;
  EXPECT_EQ(differs.doc["mismatched"], Json::array({"odd name"}));
}

}  // namespace
}  // namespace ocpvdr::testing
