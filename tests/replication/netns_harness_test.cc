// The reusable network-namespace ssh harness itself: both hosts up with sshd, key login works
// across the bridge, the root namespace is reachable from the hosts, and teardown leaves nothing.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "support/netns_hosts.h"

namespace ocpvdr::testing {
namespace {

std::vector<std::string> sshTo(const NetnsHosts& h, const NetnsHost& target,
                               const std::string& cmd) {
  return {"ssh",
          "-i",
          h.clientKey(),
          "-o",
          "UserKnownHostsFile=" + h.knownHosts(),
          "-o",
          "StrictHostKeyChecking=yes",
          "-o",
          "BatchMode=yes",
          "-o",
          "ConnectTimeout=5",
          "root@" + target.ip,
          cmd};
}

TEST(NetnsHarness, HostsTalkSshAndReachTheRootNamespace) {
  std::string primaryNs, drNs, bridge;
  {
    OCPVDR_NETNS_HOSTS_OR_SKIP(hosts);
    primaryNs = hosts->primary().ns;
    drNs = hosts->dr().ns;
    bridge = hosts->bridge();
    EXPECT_NE(hosts->primary().ip, hosts->dr().ip);
    EXPECT_TRUE(std::filesystem::is_directory(hosts->primary().exportDir));
    EXPECT_TRUE(std::filesystem::is_directory(hosts->dr().exportDir));

    // dr-nfs → primary-nfs over ssh, with strict host key checking against the harness's file.
    auto r = hosts->runOn(hosts->dr(),
                          sshTo(*hosts, hosts->primary(), "echo hello-from-$(hostname -I)"));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exitCode, 0) << r->err;
    EXPECT_NE(r->out.find("hello-from-" + hosts->primary().ip), std::string::npos) << r->out;
    EXPECT_NE(hosts->sshdLogText(hosts->primary())
                  .find("Accepted publickey for root from " + hosts->dr().ip),
              std::string::npos)
        << hosts->sshdLogText(hosts->primary());
    // And the other way.
    auto back = hosts->runOn(hosts->primary(), sshTo(*hosts, hosts->dr(), "true"));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->exitCode, 0) << back->err;

    // The root namespace (where kube-sim runs in tests) answers on the bridge address.
    int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    ::inet_pton(AF_INET, hosts->bridgeIp().c_str(), &sa.sin_addr);
    ASSERT_EQ(::bind(ls, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ASSERT_EQ(::listen(ls, 4), 0);
    socklen_t len = sizeof sa;
    ::getsockname(ls, reinterpret_cast<sockaddr*>(&sa), &len);
    int port = ntohs(sa.sin_port);
    std::thread acceptor([&] {
      int c = ::accept(ls, nullptr, nullptr);
      if (c >= 0) {
        (void)!::write(c, "pong\n", 5);
        ::close(c);
      }
    });
    auto tcp = hosts->runOn(hosts->primary(), {"bash", "-c",
                                               "exec 3<>/dev/tcp/" + hosts->bridgeIp() + "/" +
                                                   std::to_string(port) + "; head -n1 <&3"});
    acceptor.join();
    ::close(ls);
    ASSERT_TRUE(tcp.ok());
    EXPECT_EQ(tcp->out, "pong\n") << tcp->err;

    // A cut link is a real cut.
    ASSERT_TRUE(hosts->setLink(hosts->primary(), false).ok());
    auto cut = hosts->runOn(hosts->dr(), sshTo(*hosts, hosts->primary(), "true"));
    ASSERT_TRUE(cut.ok());
    EXPECT_EQ(cut->exitCode, 255);
    ASSERT_TRUE(hosts->setLink(hosts->primary(), true).ok());

    // The YAML rendering carries what the product needs.
    std::string yaml = NetnsHosts::toYaml(hosts->config());
    EXPECT_NE(yaml.find(hosts->primary().exportDir.string()), std::string::npos);
    EXPECT_NE(yaml.find("known_hosts_file"), std::string::npos);
  }
  // Teardown removed namespaces and links.
  RealProcessRunner runner;
  ProcessSpec spec;
  spec.argv = {"ip", "netns", "list"};
  auto ns = runner.run(spec);
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ(ns->out.find(primaryNs), std::string::npos);
  EXPECT_EQ(ns->out.find(drNs), std::string::npos);
  spec.argv = {"ip", "link", "show", bridge};
  auto link = runner.run(spec);
  ASSERT_TRUE(link.ok());
  EXPECT_NE(link->exitCode, 0);
}

TEST(NetnsHarness, CleanupStaleRemovesLeftoversOfDeadRuns) {
  if (::geteuid() != 0) GTEST_SKIP() << netnsSkipBanner(refusedError("not root"));
  // Fake a crashed run: a namespace named after a PID that cannot exist.
  RealProcessRunner runner;
  ProcessSpec spec;
  spec.argv = {"ip", "netns", "add", "ocpvdr-4194399-0-primary"};
  auto add = runner.run(spec);
  ASSERT_TRUE(add.ok());
  if (add->exitCode != 0) GTEST_SKIP() << netnsSkipBanner(refusedError(add->err));
  EXPECT_GE(NetnsHosts::cleanupStale(), 1);
  spec.argv = {"ip", "netns", "list"};
  auto list = runner.run(spec);
  EXPECT_EQ(list->out.find("ocpvdr-4194399-0-primary"), std::string::npos);
}

}  // namespace
}  // namespace ocpvdr::testing
