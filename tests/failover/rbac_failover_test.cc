// The DR host's RBAC as docs/security.md documents it ("DR host → primary cluster" and "DR host →
// DR cluster"), checked against kube-sim --rbac: ocpv-dr's kubeconfigs carry a token of the user
// `ocpv-dr-dr-host`, bound to roles built from those tables (failover_lab.h, LabRbac). A planned
// and an unplanned failover complete with them; without one verb the run needs it stops with the
// 403 named in its error and DR holds nothing the run had not written before that step. Two
// kube-sims and s3rver in the root namespace.
#include <gtest/gtest.h>

#include "failover/failover_lab.h"

namespace ocpvdr::testing {
namespace {

using namespace std::chrono_literals;

class FailoverRbac : public ::testing::Test {
 protected:
  // `edit` takes verbs away from the documented roles before they are bound.
  void start(const std::function<void(LabRbac&)>& edit = {}) {
    LabRbac rbac;
    rbac.primary = LabRbac::documentedPrimary();
    rbac.dr = LabRbac::documentedDr();
    if (edit) edit(rbac);
    LabOptions o;
    o.vms = 4;
    o.namespaces = {"vms-a", "vms-b"};
    o.rbac = rbac;
    auto l = FailoverLab::create(FailoverLab::localSites(tmp.str()), tmp.str(), o);
    if (!l.ok() && l.error().kind == ErrorKind::NotFound) GTEST_SKIP() << l.error().message;
    ASSERT_TRUE(l.ok()) << l.error().describe();
    lab = std::move(l).value();
    lab->populatePrimary();
    RealProcessRunner runner;
    lab->replicate(runner);
    lab->takeBackup("nightly-1");
    lab->prepareDr("nightly-1");
  }

  CliRun failover(const std::string& mode) {
    return runCli(lab->configPath,
                  {"failover", "run", mode, "--json", "--poll-interval-ms", "100"});
  }

  void expectRunningAtDr() {
    for (const auto& [ns, name] : lab->scenario.vms) {
      Json vm = lab->dr->request(
          "GET", "/apis/kubevirt.io/v1/namespaces/" + ns + "/virtualmachines/" + name);
      EXPECT_EQ(vm["status"].value("printableStatus", ""), "Running") << vm.dump();
    }
  }

  // No step, preflight check included, was refused or degraded for want of a permission (a
  // preflight check that cannot read an object only warns: "could not read ...").
  static void expectNothingForbidden(const CliRun& r) {
    for (const char* s : {"forbidden", "could not"})
      EXPECT_EQ((r.out + r.err).find(s), std::string::npos) << s << ": " << r.out << r.err;
  }

  // The run's error message (JSON output), else everything it printed.
  static std::string errorOf(const CliRun& r) {
    if (r.doc.is_object() && r.doc["error"].is_object())
      return r.doc["error"].value("message", "") + " " + r.out + r.err;
    return r.out + r.err;
  }

  static void removeVerb(std::vector<RbacRule>& rules, const std::string& resource,
                         const std::string& verb) {
    bool found = false;
    for (auto& r : rules) {
      if (std::find(r.resources.begin(), r.resources.end(), resource) == r.resources.end())
        continue;
      const auto v = std::find(r.verbs.begin(), r.verbs.end(), verb);
      ASSERT_NE(v, r.verbs.end()) << resource << " " << verb;
      found = true;
      if (r.resources.size() == 1) {
        r.verbs.erase(v);
      } else {  // split the rule: the other resources keep the verb
        RbacRule rest = r;
        rest.resources.erase(std::find(rest.resources.begin(), rest.resources.end(), resource));
        r.resources = {resource};
        r.verbs.erase(std::find(r.verbs.begin(), r.verbs.end(), verb));
        rules.push_back(rest);
      }
      return;
    }
    ASSERT_TRUE(found) << resource;
  }

  TempDir tmp{"ocpvdr-failover-rbac"};
  std::unique_ptr<FailoverLab> lab;
};

TEST_F(FailoverRbac, TheDocumentedRolesAreEnoughForAPlannedFailover) {
  start();
  if (!lab) return;
  auto r = failover("--planned");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.doc["result"], "done") << r.out;
  expectRunningAtDr();
  for (const auto& vm : FailoverLab::list(*lab->primary, "/apis/kubevirt.io/v1/virtualmachines"))
    EXPECT_EQ(vm["spec"]["runStrategy"], "Halted") << vm.dump();
  expectNothingForbidden(r);
}

TEST_F(FailoverRbac, TheDocumentedRolesAreEnoughForAnUnplannedFailover) {
  start();
  if (!lab) return;
  ASSERT_EQ(lab->primary->stop(), 0);
  auto r = failover("--unplanned");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.doc["result"], "done") << r.out;
  expectRunningAtDr();
  expectNothingForbidden(r);
}

// Stopping the primary's VMs is the planned run's first write: without `patch` it stops there,
// and DR is exactly as before the run.
TEST_F(FailoverRbac, WithoutPatchOnThePrimarysVirtualMachinesThePlannedRunStopsBeforeDr) {
  start([](LabRbac& r) { removeVerb(r.primary, "virtualmachines", "patch"); });
  if (!lab) return;
  const Json before = FailoverLab::normalisedState(*lab->dr);
  auto r = failover("--planned");
  EXPECT_NE(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.doc["failedStep"], "stop-vms") << r.out;
  const std::string err = errorOf(r);
  EXPECT_NE(err.find("User \\\"ocpv-dr-dr-host\\\" cannot patch resource \\\"virtualmachines\\\" "
                     "in API group \\\"kubevirt.io\\\""),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("403"), std::string::npos) << err;
  for (const auto& vm : FailoverLab::list(*lab->primary, "/apis/kubevirt.io/v1/virtualmachines"))
    EXPECT_NE(vm["spec"].value("runStrategy", ""), "Halted") << vm.dump();
  EXPECT_EQ(FailoverLab::normalisedState(*lab->dr), before);
}

// Without `create` on restores the run stops at the restore step: the volumes it applied before
// are there, no Restore and no VM is.
TEST_F(FailoverRbac, WithoutCreateOnRestoresTheRunStopsAtTheRestoreStep) {
  start([](LabRbac& r) { removeVerb(r.dr, "restores", "create"); });
  if (!lab) return;
  auto r = failover("--unplanned");
  EXPECT_NE(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.doc["failedStep"], "restore") << r.out;
  const std::string err = errorOf(r);
  EXPECT_NE(err.find("cannot create resource \\\"restores\\\" in API group \\\"velero.io\\\""),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("403"), std::string::npos) << err;
  EXPECT_TRUE(FailoverLab::list(*lab->dr, "/apis/velero.io/v1/restores").empty());
  EXPECT_TRUE(FailoverLab::list(*lab->dr, "/apis/kubevirt.io/v1/virtualmachines").empty());
  EXPECT_EQ(FailoverLab::list(*lab->dr, "/api/v1/persistentvolumeclaims").size(),
            lab->scenario.volumes.size());
}

}  // namespace
}  // namespace ocpvdr::testing
