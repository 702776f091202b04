// AnsibleProject: runs the repository's playbooks with Debian's ansible-playbook the way an
// operator or AAP would — from the project root, with its ansible.cfg, roles and group_vars — but
// hermetically: Ansible's home, temp and ssh control directories live in the test's temp dir, ssh
// connection sharing is off (no control master outlives a run), and every run's outcome is read
// from the ansible.posix.json callback (task results, per-host stats, set_stats artifacts).
//
// Inventories written here mirror inventory/hosts.ini (group dr_nfs, host dr-nfs) and carry a
// link to the project's group_vars/, so the real shared defaults apply; tests override only what
// differs on this machine (binary and config paths) through extra vars.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "support/netns_hosts.h"

namespace ocpvdr::testing {

struct PlaybookRun {
  int exitCode = -1;
  std::string out, err;  // raw stdout (the JSON document) and stderr
  Json doc;              // parsed stdout; null when it was not JSON

  // set_stats data of the run (ansible-playbook's global custom stats).
  Json customStats() const;
  // Summary counters of a host ("ok", "changed", "failures", "unreachable", "rescued", ...).
  int stat(const std::string& host, const std::string& counter) const;
  // Every failed task result of the run as "task: msg" lines (for assertions and diagnostics).
  std::string failures() const;
  // Results of the named task for a host, in order (a looped or retried task has one entry).
  std::vector<Json> taskResults(const std::string& taskNameSuffix, const std::string& host) const;
  // Something to print when an expectation fails.
  std::string describe() const;
};

class AnsibleProject {
 public:
  // Empty when ansible-playbook is usable here; otherwise why not (tests skip loudly).
  static std::string unavailableReason();

  explicit AnsibleProject(std::filesystem::path workDir);

  // inventory/hosts.ini for the netns DR host: real ssh with the harness's key and known_hosts.
  std::filesystem::path writeNetnsInventory(const NetnsHosts& hosts) const;
  // The same groups, but the DR host is this machine over the local connection.
  std::filesystem::path writeLocalInventory() const;

  // ansible-playbook <playbook> -i <inventory> -e @<extra vars JSON>, from the project root.
  PlaybookRun run(const std::string& playbook, const std::filesystem::path& inventory,
                  const Json& extraVars,
                  std::chrono::seconds timeout = std::chrono::seconds(300)) const;

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path writeInventory(const std::string& drHostLine) const;

  std::filesystem::path dir_;
  mutable int runs_ = 0;
};

// An event as ansible.eda.webhook delivers it and EDA hands it to a job (FACTS §1):
// {"payload": <the forwarder's POST body>, "meta": {"endpoint", "headers", "source", ...}}.
Json edaEvent(const std::string& id, const std::string& kind, const std::string& type,
              const Json& resource);
// The extra vars a job launched by run_job_template receives: job_args.extra_vars plus
// ansible_eda {ruleset, rule, event}.
Json edaJobVars(const std::string& rule, const Json& event, const Json& jobArgsExtraVars);

}  // namespace ocpvdr::testing
