// The extent mover end to end over real ssh: the DR network-namespace host runs
// `ssh primary ocpv-dr-mover send … | ocpv-dr-mover apply …`, as rsync's remote side is started
// (tests/support/netns_hosts.h). Primary export root and DR points on loop-mounted XFS (reflink).
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "extent/applier.h"
#include "extent/loop_fs.h"
#include "support/netns_hosts.h"

namespace ocpvdr::extent {
namespace {

using ocpvdr::testing::LoopFs;
using ocpvdr::testing::shell;
namespace fs = std::filesystem;

std::string field(const std::string& text, const std::string& key) {
  std::smatch m;
  if (std::regex_search(text, m, std::regex(" " + key + "=([^ \n]*)"))) return m[1];
  return "";
}

TEST(MoverNetns, CyclesOverSshBuildPointsAndTheGuardStopsAnEmptySource) {
  // Mounted before the hosts start: `ip netns exec` gives sshd its own mount namespace, which
  // does not see mounts made afterwards.
  auto p = LoopFs::create("xfs", 1024 << 20);
  if (!p.ok()) GTEST_SKIP() << p.error().message;
  auto d = LoopFs::create("xfs", 1024 << 20);
  ASSERT_TRUE(d.ok());
  OCPVDR_NETNS_HOSTS_OR_SKIP(hosts);
  const std::string mover = ocpvdr::testing::binaryPath("src/extent/ocpv-dr-mover").string();
  const std::string root = (*p)->mountPoint() + "/export";
  const std::string pv = root + "/pv-net";
  const std::string points = (*d)->mountPoint() + "/points/pv-net";
  fs::create_directories(pv);
  const std::string ssh =
      "ssh -i " + hosts->clientKey() + " -o UserKnownHostsFile=" + hosts->knownHosts() +
      " -o StrictHostKeyChecking=no -o BatchMode=yes root@" + hosts->primary().ip;
  auto cycle = [&](const std::string& base) {
    std::string cmd = "set -o pipefail; " + ssh + " " + mover + " send --root " + root +
                      " --pv pv-net --dir " + pv + (base.empty() ? "" : " --base " + base) + " | " +
                      mover + " apply --points " + points;
    return hosts->runOn(hosts->dr(), {"bash", "-c", cmd}, std::chrono::seconds(120));
  };

  // An empty source: the guard line and exit 97 travel back over ssh, nothing is applied.
  auto empty = cycle("");
  ASSERT_TRUE(empty.ok());
  EXPECT_NE(empty->exitCode, 0);
  EXPECT_NE(empty->err.find("OCPVDR-GUARD empty " + pv), std::string::npos) << empty->err;
  EXPECT_TRUE(listPoints(points).valueOr({}).empty());

  ASSERT_EQ(shell("truncate -s 64M " + pv + "/disk.img && dd if=/dev/urandom of=" + pv +
                  "/disk.img bs=1M count=6 seek=10 conv=notrunc status=none"),
            0);
  auto c1 = cycle("");
  ASSERT_TRUE(c1.ok());
  ASSERT_EQ(c1->exitCode, 0) << c1->err;
  const std::string id1 = field(c1->out, "point");
  ASSERT_FALSE(id1.empty()) << c1->out;
  EXPECT_EQ(field(c1->out, "data_bytes"), std::to_string(6 << 20));
  EXPECT_EQ(shell("cmp -s " + pv + "/disk.img " + points + "/" + id1 + "/tree/disk.img"), 0);

  ASSERT_EQ(shell("dd if=/dev/urandom of=" + pv +
                  "/disk.img bs=64K count=1 seek=500 conv=notrunc status=none"),
            0);
  auto c2 = cycle(id1);
  ASSERT_TRUE(c2.ok());
  ASSERT_EQ(c2->exitCode, 0) << c2->err;
  const std::string id2 = field(c2->out, "point");
  EXPECT_EQ(field(c2->out, "base"), id1);
  EXPECT_EQ(field(c2->out, "data_bytes"), std::to_string(64 << 10));
  EXPECT_EQ(shell("cmp -s " + pv + "/disk.img " + points + "/" + id2 + "/tree/disk.img"), 0);
  EXPECT_EQ(listPoints(points).valueOr({}), (std::vector<std::string>{id1, id2}));
}

}  // namespace
}  // namespace ocpvdr::extent
