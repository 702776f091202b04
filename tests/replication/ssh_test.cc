// ssh command lines: options, connection reuse, rsync -e quoting, validation.
#include "replication/ssh.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace ocpvdr::replication {
namespace {

config::SshAccess access() {
  config::SshAccess a;
  a.user = "root";
  a.port = 2222;
  a.keyFile = "/etc/ocpv-dr/id_ed25519";
  a.knownHostsFile = "/etc/ocpv-dr/known_hosts";
  a.connectTimeout = std::chrono::seconds(7);
  return a;
}

bool hasPair(const std::vector<std::string>& v, const std::string& a, const std::string& b) {
  for (std::size_t i = 0; i + 1 < v.size(); ++i)
    if (v[i] == a && v[i + 1] == b) return true;
  return false;
}

TEST(Ssh, BaseOptions) {
  SshCommand s(access(), "nfs-primary", "/var/lib/ocpv-dr/locks/ssh");
  auto a = s.baseArgv();
  EXPECT_EQ(a[0], "ssh");
  EXPECT_TRUE(hasPair(a, "-p", "2222"));
  EXPECT_TRUE(hasPair(a, "-i", "/etc/ocpv-dr/id_ed25519"));
  EXPECT_TRUE(hasPair(a, "-o", "UserKnownHostsFile=/etc/ocpv-dr/known_hosts"));
  EXPECT_TRUE(hasPair(a, "-o", "StrictHostKeyChecking=yes"));
  EXPECT_TRUE(hasPair(a, "-o", "BatchMode=yes"));
  EXPECT_TRUE(hasPair(a, "-o", "ConnectTimeout=7"));
  EXPECT_TRUE(hasPair(a, "-o", "ControlMaster=auto"));
  EXPECT_TRUE(hasPair(a, "-o", "ControlPath=/var/lib/ocpv-dr/locks/ssh/%C"));
  EXPECT_TRUE(hasPair(a, "-o", "ControlPersist=60s"));
  EXPECT_EQ(s.destination(), "root@nfs-primary");
  EXPECT_EQ(s.remoteSpec("/srv/a/"), "root@nfs-primary:/srv/a/");
  auto r = s.remoteArgv("true");
  EXPECT_EQ(r.back(), "true");
  EXPECT_EQ(r[r.size() - 2], "root@nfs-primary");
  EXPECT_TRUE(s.validate().ok());
}

TEST(Ssh, ExplicitHostIpv6AndNoReuse) {
  auto a = access();
  a.host = "fd00::2";
  a.controlPersist = std::chrono::seconds(0);
  a.strictHostKeyChecking = false;
  SshCommand s(a, "ignored", "/x");
  EXPECT_EQ(s.remoteSpec("/p/"), "root@[fd00::2]:/p/");
  auto v = s.baseArgv();
  EXPECT_TRUE(hasPair(v, "-o", "ControlMaster=no"));
  EXPECT_TRUE(hasPair(v, "-o", "ControlPath=none"));
  EXPECT_TRUE(hasPair(v, "-o", "StrictHostKeyChecking=no"));
  EXPECT_FALSE(s.multiplexing());
}

TEST(Ssh, RsyncShellCommandQuotesSpaces) {
  auto a = access();
  a.keyFile = "/etc/ocpv dr/key";
  SshCommand s(a, "h", "/c");
  std::string cmd = s.rsyncShellCommand();
  EXPECT_NE(cmd.find("-i '/etc/ocpv dr/key'"), std::string::npos) << cmd;
  EXPECT_EQ(cmd.rfind("ssh -p 2222", 0), 0u);
  a.keyFile = "/etc/it's";
  EXPECT_FALSE(SshCommand(a, "h", "/c").validate().ok());
  EXPECT_FALSE(SshCommand(access(), "-oProxyCommand=x", "/c").validate().ok());
  EXPECT_FALSE(SshCommand(config::SshAccess{}, "", "/c").validate().ok());
}

TEST(Ssh, ControlDirFallsBackWhenTooLongForASocket) {
  EXPECT_EQ(chooseControlDir("/var/lib/ocpv-dr/locks/ssh"), "/var/lib/ocpv-dr/locks/ssh");
  std::string longDir = "/" + std::string(80, 'x');
  EXPECT_EQ(chooseControlDir(longDir).rfind("/tmp/ocpv-dr-ssh-", 0), 0u);
}

}  // namespace
}  // namespace ocpvdr::replication
