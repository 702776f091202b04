// What the failover restores is in the state it should be: VMs backed up Running come up
// Running, VMs backed up Halted stay Halted (and are not waited for) — also when the DR's
// kubevirt-velero-plugin ignores the restore-run-strategy label (v0.7.0, OADP 1.4), which the
// Restore's resource modifier covers; protected namespaces arrive with the backup's labels and
// annotations (minus openshift.io/sa.scc.*) while an existing one is left alone; with
// failover.require_guest_agent the VMs' AgentConnected condition is waited for. Two kube-sims
// and s3rver in the root namespace (failover_lab.h).
#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "failover/failover_lab.h"
#include "failover/journal.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kHaltedVm = "vm-001";  // in vms-b; every other VM runs

class RestoreState : public ::testing::Test {
 protected:
  void start(LabOptions opts) {
    opts.vms = 4;
    opts.namespaces = {"vms-a", "vms-b"};
    auto l = FailoverLab::create(FailoverLab::localSites(tmp.str()), tmp.str(), opts);
    if (!l.ok() && l.error().kind == ErrorKind::NotFound) GTEST_SKIP() << l.error().message;
    ASSERT_TRUE(l.ok()) << l.error().describe();
    lab = std::move(l).value();
    // The protected namespaces carry pod-security and custom labels, and the SCC annotations
    // OpenShift's namespace controller allocates per cluster.
    for (auto& o : lab->scenario.objects) {
      if (o["kind"] != "Namespace") continue;
      auto& md = o["metadata"];
      md["labels"]["pod-security.kubernetes.io/enforce"] = "restricted";
      md["labels"]["pod-security.kubernetes.io/audit"] = "restricted";
      md["labels"]["team.example.com/owner"] = "virt-ops";
      md["annotations"] = {{"openshift.io/sa.scc.uid-range", "1000680000/10000"},
                           {"openshift.io/sa.scc.mcs", "s0:c26,c15"},
                           {"example.com/cost-center", "4711"}};
    }
    lab->populatePrimary();
    // One VM halted at the primary before the backup.
    auto r = lab->primary->send(
        "PATCH", std::string("/apis/kubevirt.io/v1/namespaces/vms-b/virtualmachines/") + kHaltedVm,
        R"({"spec":{"runStrategy":"Halted"}})", "application/merge-patch+json");
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(FailoverLab::waitFor(
        [&] {
          return lab->primary
                     ->request("GET", std::string("/apis/kubevirt.io/v1/namespaces/vms-b/"
                                                  "virtualmachines/") +
                                          kHaltedVm)["status"]
                     .value("printableStatus", "") == "Stopped";
        },
        30s));
    RealProcessRunner runner;
    lab->replicate(runner);
    lab->takeBackup("nightly-1");
    lab->prepareDr("nightly-1");
  }

  Json drVm(const std::string& ns, const std::string& name) {
    return lab->dr->request("GET",
                            "/apis/kubevirt.io/v1/namespaces/" + ns + "/virtualmachines/" + name);
  }

  // Every VM Running and ready except kHaltedVm, which is Halted with no VMI; start-vms
  // reports which it started and waited for.
  void expectVmStates(const Json& doc) {
    for (const auto& [ns, name] : lab->scenario.vms) {
      Json vm = drVm(ns, name);
      if (name == kHaltedVm) {
        EXPECT_EQ(vm["spec"].value("runStrategy", ""), "Halted") << vm.dump();
        EXPECT_NE(vm["status"].value("printableStatus", ""), "Running") << vm.dump();
        EXPECT_EQ(lab->dr
                      ->send("GET", "/apis/kubevirt.io/v1/namespaces/" + ns +
                                        "/virtualmachineinstances/" + name)
                      .status,
                  404);
      } else {
        EXPECT_EQ(vm["spec"].value("runStrategy", ""), "Always") << vm.dump();
        EXPECT_EQ(vm["status"].value("printableStatus", ""), "Running") << vm.dump();
        EXPECT_EQ(vm["status"].value("ready", false), true) << name;
      }
    }
    // start-vms' journaled details say, per VM, whether it was started and waited for.
    auto cat = catalog::Catalog::open(lab->cfg.catalog.path);
    ASSERT_TRUE(cat.ok());
    auto run = failover::Journal(**cat).run(doc.value("run", ""));
    ASSERT_TRUE(run.ok() && run->has_value()) << doc.dump();
    const auto* startStep = (*run)->step("start-vms");
    ASSERT_NE(startStep, nullptr);
    ASSERT_EQ(startStep->details["vms"].size(), lab->scenario.vms.size()) << startStep->details;
    for (const auto& v : startStep->details["vms"]) {
      const bool halted = v["name"] == kHaltedVm;
      EXPECT_EQ(v["started"], !halted) << v.dump();
      EXPECT_EQ(v["waitedFor"], !halted) << v.dump();
      EXPECT_EQ(v["runStrategyBefore"], halted ? "Halted" : "Always") << v.dump();
    }
    for (const auto& v : doc["report"]["vms"])
      EXPECT_EQ(v["started"], v["name"] != kHaltedVm) << v.dump();
  }

  TempDir tmp{"ocpvdr-restore-state"};
  std::unique_ptr<FailoverLab> lab;
};

TEST_F(RestoreState, PlannedRunStartsOnlyTheVmsThatRanAndKeepsNamespaceMetadata) {
  start({});
  if (!lab) return;
  // vms-b exists at DR already, with metadata of its own: left as it is.
  auto pre = lab->dr->send("POST", "/api/v1/namespaces",
                           R"({"metadata":{"name":"vms-b","labels":{"site":"dr"}}})");
  ASSERT_EQ(pre.status, 201) << pre.body;

  auto r = runCli(lab->configPath,
                  {"failover", "run", "--planned", "--json", "--poll-interval-ms", "100"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const std::string runId = r.doc.value("run", "");
  expectVmStates(r.doc);

  // The Restore named the resource modifier and kept NodePorts; the modifier is gone again.
  Json restore = lab->dr->request(
      "GET", "/apis/velero.io/v1/namespaces/openshift-adp/restores/ocpv-dr-" + runId);
  EXPECT_EQ(restore["spec"]["preserveNodePorts"], true) << restore.dump();
  EXPECT_EQ(restore["spec"]["resourceModifier"]["kind"], "ConfigMap");
  const std::string cm = restore["spec"]["resourceModifier"].value("name", "");
  EXPECT_FALSE(cm.empty());
  EXPECT_EQ(restore["metadata"]["labels"]["velero.kubevirt.io/restore-run-strategy"], "Halted");
  EXPECT_EQ(lab->dr->send("GET", "/api/v1/namespaces/openshift-adp/configmaps/" + cm).status, 404);

  // vms-a did not exist at DR: created from the backup before its PVCs.
  Json a = lab->dr->request("GET", "/api/v1/namespaces/vms-a");
  const Json& labels = a["metadata"]["labels"];
  EXPECT_EQ(labels.value("pod-security.kubernetes.io/enforce", ""), "restricted") << a.dump();
  EXPECT_EQ(labels.value("pod-security.kubernetes.io/audit", ""), "restricted");
  EXPECT_EQ(labels.value("team.example.com/owner", ""), "virt-ops");
  EXPECT_EQ(labels.value("dr.example.com/protected", ""), "true");
  const Json ann = a["metadata"].value("annotations", Json::object());
  EXPECT_EQ(ann.value("example.com/cost-center", ""), "4711") << a.dump();
  EXPECT_FALSE(ann.contains("openshift.io/sa.scc.uid-range")) << a.dump();
  EXPECT_FALSE(ann.contains("openshift.io/sa.scc.mcs")) << a.dump();
  // vms-b existed: untouched.
  Json b = lab->dr->request("GET", "/api/v1/namespaces/vms-b");
  EXPECT_EQ(b["metadata"]["labels"].value("site", ""), "dr") << b.dump();
  EXPECT_FALSE(b["metadata"]["labels"].contains("pod-security.kubernetes.io/enforce")) << b.dump();
  EXPECT_FALSE(b["metadata"].contains("annotations") &&
               b["metadata"]["annotations"].contains("example.com/cost-center"));
}

// The DR's plugin ignores the restore-run-strategy label: the resource modifier alone keeps the
// restored VMs Halted until start-vms, and the outcome is the same.
TEST_F(RestoreState, UnplannedRunWithPluginV070RestoresHaltedAndStartsOnlyTheRunningVms) {
  LabOptions opts;
  opts.drControllerOptions = {"velero.kubevirt-plugin-version=v0.7.0"};
  start(opts);
  if (!lab) return;
  auto crashed = runCli(lab->configPath,
                        {"failover", "run", "--unplanned", "--json", "--poll-interval-ms", "100"},
                        {{"OCPVDR_FAILOVER_CRASH", "after:restore"}});
  ASSERT_EQ(crashed.code, 86) << crashed.out << crashed.err;
  // Right after the Restore: every VM Halted, none running (the backup said Always for most).
  for (const auto& [ns, name] : lab->scenario.vms) {
    Json vm = drVm(ns, name);
    EXPECT_EQ(vm["spec"].value("runStrategy", ""), "Halted") << vm.dump();
    EXPECT_FALSE(vm["spec"].contains("running")) << vm.dump();
  }
  EXPECT_TRUE(FailoverLab::list(*lab->dr, "/apis/kubevirt.io/v1/virtualmachineinstances").empty());
  // Journaled, still there for the resumed run's cleanup.
  auto cms = FailoverLab::list(*lab->dr, "/api/v1/namespaces/openshift-adp/configmaps");
  ASSERT_EQ(cms.size(), 1u);
  const std::string cm = cms[0]["metadata"]["name"];

  auto r = runCli(lab->configPath, {"failover", "resume", "--json", "--poll-interval-ms", "100"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  expectVmStates(r.doc);
  EXPECT_EQ(lab->dr->send("GET", "/api/v1/namespaces/openshift-adp/configmaps/" + cm).status, 404);
  // Both namespaces were created from the backup.
  for (const char* ns : {"vms-a", "vms-b"}) {
    Json n = lab->dr->request("GET", std::string("/api/v1/namespaces/") + ns);
    EXPECT_EQ(n["metadata"]["labels"].value("pod-security.kubernetes.io/enforce", ""), "restricted")
        << n.dump();
  }
}

// failover.require_guest_agent: a VM whose guest agent never connects is not "up".
TEST_F(RestoreState, RequireGuestAgentWaitsForAgentConnected) {
  LabOptions opts;
  opts.drControllerOptions = {"kubevirt.guest-agent=false"};
  start(opts);
  if (!lab) return;
  config::Config c = lab->cfg;
  c.failover.requireGuestAgent = true;
  c.failover.timeouts.vmReady = 3s;
  const std::string path = lab->writeConfig(c, tmp.str() + "/agent.yaml");
  auto r = runCli(path, {"failover", "run", "--unplanned", "--json", "--poll-interval-ms", "100"});
  ASSERT_NE(r.code, 0) << r.out;
  EXPECT_EQ(r.doc["failedStep"], "start-vms") << r.out;
  EXPECT_NE(r.out.find("AgentConnected"), std::string::npos) << r.out;
  // The VMs themselves are Running: only the agent is missing.
  for (const auto& [ns, name] : lab->scenario.vms) {
    if (name != kHaltedVm) {
      EXPECT_EQ(drVm(ns, name)["status"].value("printableStatus", ""), "Running") << name;
    }
  }
}

}  // namespace
}  // namespace ocpvdr::testing
