// `ocpv-dr-demo`: the whole system on one machine, stage by stage, for a newcomer and for CI.
//
// Two kube-sim sites (primary: binding + kubevirt controllers; DR: + velero), two NFS export
// trees (two network-namespace ssh hosts as root, plain directories with the local transport
// otherwise), s3rver as the OADP bucket, and `ocpv-dr serve` (DR host) fed by `ocpv-dr forward`
// (primary cluster) as child processes with generated configs and tokens. Then: VMs with NFS
// disks at the primary, events replicating them to DR with the live RPO, a snapshot recorded
// and deleted, a reconcile with its report, a Velero-layout backup in S3, a planned failover and
// its RPO/RTO report. Every stage checks its own outcome; the first failure ends the demo with
// the stage named. Teardown always runs (also after a failure or SIGINT/SIGTERM): every child
// stopped by PID, the namespaces removed, and the work directory removed unless kept.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <stop_token>
#include <string>

#include "core/clock.h"
#include "core/http.h"
#include "core/process.h"
#include "core/result.h"

namespace ocpvdr::demo {

enum class Mode { Auto, Local, Netns };
[[nodiscard]] Result<Mode> parseMode(const std::string& text);

struct DemoOptions {
  std::filesystem::path workdir = "demo-out";  // emptied at start (only if a demo made it)
  bool keep = false;                           // keep the work directory after a success
  Mode mode = Mode::Auto;                      // Auto: netns when root with sshd and ip, else local
  std::string self;     // the ocpv-dr binary to run (serve, forward, reconcile, failover)
  std::string kubeSim;  // the kube-sim binary
  std::string s3rver;   // s3rver's bin/s3rver.js
  std::string node;     // node (runs s3rver)
  int vms = 4;
  std::chrono::seconds stageTimeout{120};  // the longest any one wait may take
};

// Environment lookups are passed in so the search order can be tested.
using EnvGet = std::function<std::optional<std::string>(const std::string&)>;
EnvGet processEnvGet();

// The ocpv-dr binary the demo drives: `flag`, then $OCPVDR_BIN, then the build tree
// (<dir of demoExe>/../../src/cli/ocpv-dr), then next to ocpv-dr-demo, then PATH. NotFound names
// every place tried.
[[nodiscard]] Result<std::string> locateOcpvDr(const std::string& flag, const EnvGet& env,
                                               const std::filesystem::path& demoExe);
// kube-sim: `flag`, then $OCPVDR_KUBE_SIM, then the build tree next to the ocpv-dr binary
// (<dir of selfExe>/../../tools/kube-sim/kube-sim), then PATH. NotFound names every place tried.
[[nodiscard]] Result<std::string> locateKubeSim(const std::string& flag, const EnvGet& env,
                                                const std::filesystem::path& selfExe);
// s3rver's bin/s3rver.js: `flag`, then $OCPVDR_S3RVER, then <cwd>/node_modules/s3rver (each may
// name the package directory or the script). NotFound names every place tried.
[[nodiscard]] Result<std::string> locateS3rver(const std::string& flag, const EnvGet& env,
                                               const std::filesystem::path& cwd);

// Runs the demo; returns the process exit code: 0 only when every stage passed and teardown left
// nothing behind; otherwise the failed stage's error kind (README "Exit codes"), 130 when
// interrupted. Output for people goes to `out`.
int runDemo(const DemoOptions& options, ProcessRunner& runner, HttpClient& http, Clock& clock,
            std::ostream& out, std::stop_token stop);

}  // namespace ocpvdr::demo
