// The failover's Restore and its resource modifier (restore_modifiers.h), start-vms' per-VM
// decisions, and the DR Namespace built from the backup's (dr_namespaces.h). The modifier
// document is read back by kube-sim's model of Velero's resource modifiers.
#include "failover/restore_modifiers.h"

#include <gtest/gtest.h>

#include "failover/dr_namespaces.h"
#include "failover/workflow.h"
#include "resource_modifiers.h"

namespace ocpvdr::failover {
namespace {

config::Config cfg() {
  config::Config c;
  c.failover.oadpNamespace = "openshift-adp";
  return c;
}

TEST(RestoreModifier, TheRestoreNamesItAndKeepsNodePortsAndTheLabel) {
  Json r = restoreObject(cfg(), "20270115-080000-abcd", "nightly-1", {"a", "b"});
  EXPECT_EQ(r["spec"]["preserveNodePorts"], true);
  EXPECT_EQ(r["spec"]["resourceModifier"],
            Json({{"kind", "ConfigMap"}, {"name", "ocpv-dr-20270115-080000-abcd-vm-halted"}}));
  EXPECT_EQ(r["metadata"]["labels"]["velero.kubevirt.io/restore-run-strategy"], "Halted");
  Json cm = resourceModifierConfigMap(cfg(), "20270115-080000-abcd", {"a", "b"});
  EXPECT_EQ(cm["metadata"]["name"], r["spec"]["resourceModifier"]["name"]);
  EXPECT_EQ(cm["metadata"]["namespace"], "openshift-adp");
  EXPECT_EQ(cm["metadata"]["labels"]["ocpv-dr.io/failover-run"], "20270115-080000-abcd");
  EXPECT_EQ(cm["data"].size(), 1u);  // Velero refuses a modifier ConfigMap with more keys
}

TEST(RestoreModifier, VeleroTurnsEveryVmOfTheNamespacesHalted) {
  auto m = kubesim::ResourceModifiers::fromConfigMap(
      resourceModifierConfigMap(cfg(), "r", {"vms-a", "vms-b"}));
  ASSERT_TRUE(m.ok()) << m.error().message;
  auto vm = [](const std::string& ns, const Json& spec) {
    return Json{{"apiVersion", "kubevirt.io/v1"},
                {"kind", "VirtualMachine"},
                {"metadata", {{"name", "vm"}, {"namespace", ns}}},
                {"spec", spec}};
  };
  for (const Json& spec : {Json{{"runStrategy", "Always"}}, Json{{"running", true}},
                           Json{{"runStrategy", "Manual"}, {"template", Json::object()}}}) {
    Json o = vm("vms-b", spec);
    EXPECT_TRUE(m.value().apply(o, "virtualmachines.kubevirt.io", true).empty());
    EXPECT_EQ(o["spec"]["runStrategy"], "Halted") << spec.dump();
    EXPECT_FALSE(o["spec"].contains("running")) << spec.dump();
  }
  Json other = vm("elsewhere", {{"runStrategy", "Always"}});
  EXPECT_TRUE(m.value().apply(other, "virtualmachines.kubevirt.io", true).empty());
  EXPECT_EQ(other["spec"]["runStrategy"], "Always");
}

TEST(VmStarts, MeantToRunFollowsTheStrategyBefore) {
  EXPECT_TRUE(meantToRun("Always", false));
  EXPECT_TRUE(meantToRun("RerunOnFailure", false));
  EXPECT_FALSE(meantToRun("Halted", true));
  EXPECT_FALSE(meantToRun("", true));
  EXPECT_TRUE(meantToRun("Manual", true));
  EXPECT_FALSE(meantToRun("Manual", false));
  EXPECT_TRUE(meantToRun("Once", true));
  EXPECT_EQ(runStrategyOf({{"spec", {{"running", false}}}}), "Halted");
  EXPECT_EQ(runStrategyOf({{"spec", {{"running", true}}}}), "Always");
  EXPECT_EQ(runStrategyOf({{"spec", Json::object()}}), "");
}

TEST(VmStarts, PlannedUsesTheJournalAndFallsBackToTheBackup) {
  const std::vector<VmRef> vms = {
      {"a", "run"}, {"a", "halted"}, {"a", "manual"}, {"a", "new"}, {"a", "gone"}};
  const Json stopped = {{"vms",
                         {{{"namespace", "a"},
                           {"name", "run"},
                           {"runStrategyBefore", "Always"},
                           {"printableStatusBefore", "Running"}},
                          {{"namespace", "a"},
                           {"name", "halted"},
                           {"runStrategyBefore", "Halted"},
                           {"printableStatusBefore", "Stopped"}},
                          {{"namespace", "a"},
                           {"name", "manual"},
                           {"runStrategyBefore", "Manual"},
                           {"printableStatusBefore", "Running"}}}}};
  // The backup says otherwise for "run" and "halted": the journal (taken at the stop) wins.
  const std::map<std::string, Json> backup = {{"a/run", {{"spec", {{"runStrategy", "Halted"}}}}},
                                              {"a/halted", {{"spec", {{"runStrategy", "Always"}}}}},
                                              {"a/new", {{"spec", {{"running", true}}}}}};
  auto d = decideVmStarts(vms, stopped, backup);
  ASSERT_EQ(d.size(), 5u);
  EXPECT_TRUE(d[0].start);
  EXPECT_EQ(d[0].source, "stop-vms");
  EXPECT_FALSE(d[1].start);
  EXPECT_TRUE(d[2].start);  // Manual and running at the stop
  EXPECT_TRUE(d[3].start);  // not seen by stop-vms: the backup's spec.running: true
  EXPECT_EQ(d[3].source, "backup");
  EXPECT_FALSE(d[4].start);  // in neither
  EXPECT_EQ(d[4].source, "none");
}

TEST(VmStarts, UnplannedUsesTheBackupsSpecAndStatus) {
  const std::vector<VmRef> vms = {
      {"a", "run"}, {"a", "halted"}, {"a", "manual-up"}, {"a", "manual-down"}};
  const std::map<std::string, Json> backup = {
      {"a/run", {{"spec", {{"runStrategy", "Always"}}}}},
      {"a/halted", {{"spec", {{"running", false}}}}},
      {"a/manual-up",
       {{"spec", {{"runStrategy", "Manual"}}}, {"status", {{"printableStatus", "Running"}}}}},
      {"a/manual-down",
       {{"spec", {{"runStrategy", "Manual"}}}, {"status", {{"printableStatus", "Stopped"}}}}}};
  auto d = decideVmStarts(vms, Json::object(), backup);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_TRUE(d[0].start);
  EXPECT_FALSE(d[1].start);
  EXPECT_EQ(d[1].runStrategyBefore, "Halted");
  EXPECT_TRUE(d[2].start);
  EXPECT_FALSE(d[3].start);
  for (const auto& x : d) EXPECT_EQ(x.source, "backup");
}

TEST(DrNamespace, KeepsLabelsAndAnnotationsButTheSccAllocations) {
  const Json backup = {
      {"apiVersion", "v1"},
      {"kind", "Namespace"},
      {"metadata",
       {{"name", "vms"},
        {"uid", "u-1"},
        {"resourceVersion", "7"},
        {"labels", {{"pod-security.kubernetes.io/enforce", "privileged"}, {"team", "virt"}}},
        {"annotations",
         {{"openshift.io/sa.scc.uid-range", "1000/10000"},
          {"openshift.io/sa.scc.supplemental-groups", "1000/10000"},
          {"openshift.io/description", "VMs"}}}}},
      {"spec", {{"finalizers", {"kubernetes"}}}},
      {"status", {{"phase", "Active"}}}};
  Json ns = drNamespace("vms", backup);
  EXPECT_EQ(ns["metadata"]["name"], "vms");
  EXPECT_EQ(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "privileged");
  EXPECT_EQ(ns["metadata"]["labels"]["team"], "virt");
  EXPECT_EQ(ns["metadata"]["labels"]["ocpv-dr.io/created-by"], "ocpv-dr");
  EXPECT_EQ(ns["metadata"]["annotations"], Json({{"openshift.io/description", "VMs"}}));
  EXPECT_FALSE(ns["metadata"].contains("uid"));
  EXPECT_FALSE(ns.contains("status"));
  Json bare = drNamespace("x", nullptr);
  EXPECT_EQ(bare["metadata"]["labels"], Json({{"ocpv-dr.io/created-by", "ocpv-dr"}}));
  EXPECT_FALSE(bare["metadata"].contains("annotations"));
}

}  // namespace
}  // namespace ocpvdr::failover
