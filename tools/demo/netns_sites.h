// NetnsHosts: two "hosts" — primary-nfs and dr-nfs — for the demo and the tests, as Linux network
// namespaces, each running a real sshd, joined through veth pairs to a bridge in the root
// namespace.
//
//   root ns:  bridge ovb<pid>x<n>  10.A.B.1/24   (kube-sim and other root-ns peers are reachable
//                                                 from both hosts at this address)
//   <ns>-primary:  eth0 10.A.B.2   sshd on :22
//   <ns>-dr:       eth0 10.A.B.3   sshd on :22
// Names are unique per instance (ocpvdr-<pid>-<n>-primary|dr, links ov?<pid>x<n>); the /24 is
// chosen under a machine-wide lock so parallel test processes never collide. The filesystem is
// shared (only the network is namespaced): each host gets its own data tree under the instance's
// directory (<dir>/primary/srv/nfs/ocp, <dir>/dr/srv/nfs/ocp; a fresh temp dir unless
// NetnsOptions::dir names one), presented to the product as the
// export roots of a ready-made config::Config (also rendered as YAML for the CLI).
//
// Teardown (destructor, so also when a test fails): every process left in either namespace
// (sshd, its sessions, ssh control masters started inside) is killed by PID, control masters of
// the instance's ssh control dir are told to exit, then namespaces, veths and bridge are deleted.
// cleanupStale() removes leftovers of crashed runs (instances whose creating PID is gone).
// Needs root; create() fails (Refused) with a message saying why otherwise.
// tests/support/netns_hosts.h re-exports these names for the tests (and their skip macro).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/process.h"
#include "core/result.h"

namespace ocpvdr::demo {

struct NetnsHost {
  std::string role;                 // "primary-nfs" | "dr-nfs"
  std::string ns;                   // network namespace name
  std::string ip;                   // address inside the namespace
  std::string hostVeth;             // root-namespace end of its veth pair
  std::filesystem::path root;       // <tmp>/primary | <tmp>/dr
  std::filesystem::path exportDir;  // <root>/srv/nfs/ocp — host path of the NFS export
  std::filesystem::path sshdLog;
  pid_t sshdPid = -1;
};

struct NetnsOptions {
  bool startSshd = true;
  std::string exportPath = "/exports/ocp";  // export path PVs name, on both sites
  std::string primaryServer = "nfs-primary.example.com";
  std::string drServer = "nfs-dr.example.com";
  // Extra sshd_config lines for both hosts (e.g. "SetEnv PATH=..." to put test doubles of host
  // tools such as exportfs on the remote PATH).
  std::vector<std::string> sshdExtraConfig;
  // Where the hosts' trees, keys and configs go. Empty: a fresh directory under $TMPDIR, removed
  // at teardown; given: created if needed and kept (the demo's work directory).
  std::string dir;
};

class NetnsHosts {
 public:
  [[nodiscard]] static Result<std::unique_ptr<NetnsHosts>> create(NetnsOptions opts = {});
  ~NetnsHosts();
  NetnsHosts(const NetnsHosts&) = delete;
  NetnsHosts& operator=(const NetnsHosts&) = delete;

  const NetnsHost& primary() const { return primary_; }
  const NetnsHost& dr() const { return dr_; }
  const std::string& bridgeIp() const { return bridgeIp_; }
  const std::string& bridge() const { return bridge_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::string clientKey() const { return (dir_ / "client_key").string(); }
  std::string knownHosts() const { return (dir_ / "known_hosts").string(); }
  const NetnsOptions& options() const { return opts_; }

  // Sites, export roots, path mapping, ssh to the primary's namespace address, catalog and lock
  // dir under <dir>/dr. Tests adjust it freely.
  config::Config config() const;
  // YAML for `ocpv-dr -c` (snake_case keys of docs/configuration.md).
  static std::string toYaml(const config::Config& cfg);
  // Writes toYaml(cfg) to <tmp>/<name> and returns the path.
  std::filesystem::path writeConfig(const config::Config& cfg,
                                    const std::string& name = "config.yaml") const;

  // argv prefixed with `ip netns exec <ns>`: the command runs "on" that host.
  std::vector<std::string> onHost(const NetnsHost& h, std::vector<std::string> argv) const;
  [[nodiscard]] Result<ProcessResult> runOn(
      const NetnsHost& h, std::vector<std::string> argv,
      std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  // Link down/up between a host and the bridge (simulates a network cut).
  [[nodiscard]] Status setLink(const NetnsHost& h, bool up) const;
  std::string sshdLogText(const NetnsHost& h) const;

  // Removes namespaces/links left by crashed runs; returns how many objects were removed.
  static int cleanupStale();

 private:
  explicit NetnsHosts(NetnsOptions opts) : opts_(std::move(opts)) {}
  [[nodiscard]] Status setUp();
  [[nodiscard]] Status setUpHost(NetnsHost& h, const std::string& peer, const std::string& ip);
  [[nodiscard]] Status startSshd(NetnsHost& h);
  void tearDown();

  std::filesystem::path dir_;
  bool ownDir_ = false;  // created here: removed at teardown
  NetnsOptions opts_;
  int serial_ = 0;
  std::string bridge_, bridgeIp_, subnet_;
  NetnsHost primary_, dr_;
  bool bridgeCreated_ = false;
};

// Runs every command inside a network namespace (rsync/ssh from "the DR host" in-process).
class NetnsProcessRunner final : public ProcessRunner {
 public:
  NetnsProcessRunner(ProcessRunner& inner, std::string ns) : inner_(inner), ns_(std::move(ns)) {}
  Result<ProcessResult> run(const ProcessSpec& spec, std::stop_token stop = {}) override;

 private:
  ProcessRunner& inner_;
  std::string ns_;
};

}  // namespace ocpvdr::demo
