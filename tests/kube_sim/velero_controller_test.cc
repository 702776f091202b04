// kube-sim's Velero controller against a real s3rver: backup sync from a BackupStorageLocation
// (unsigned GETs), and Restores — Completed with PVs/PVCs excluded and the run-strategy label
// applied, FailedValidation for a missing backup, PartiallyFailed when an item cannot be
// created, Failed for a corrupt tarball. Events are pumped on the test thread; ticks carry a
// ManualClock's time.
#include <gtest/gtest.h>

#include <deque>
#include <mutex>

#include "core/clock.h"
#include "core/curl_http.h"
#include "s3/s3_object_store.h"
#include "store.h"
#include "support/s3rver_process.h"
#include "support/velero_backup_writer.h"
#include "velero_controller.h"

namespace kubesim {
namespace {

using namespace std::chrono_literals;
using ocpvdr::testing::S3rverProcess;

class Pump final : public EventSink {
 public:
  Pump(Store& store, Controller& c) : store_(store), c_(c) { store.addSink(this); }
  ~Pump() override { store_.removeSink(this); }
  void deliver(const EventPtr& e) override {
    std::lock_guard lock(mu_);
    q_.push_back(e);
  }
  void pump() {
    for (;;) {
      EventPtr e;
      {
        std::lock_guard lock(mu_);
        if (q_.empty()) return;
        e = q_.front();
        q_.pop_front();
      }
      c_.onEvent(*e, store_);
    }
  }

 private:
  Store& store_;
  Controller& c_;
  std::mutex mu_;
  std::deque<EventPtr> q_;
};

class Velero : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = S3rverProcess::start({"oadp"});
    if (!s.ok() && s.error().kind == ocpvdr::ErrorKind::NotFound) GTEST_SKIP() << s.error().message;
    ASSERT_TRUE(s.ok()) << s.error().describe();
    s3 = std::move(s).value();
    ocpvdr::s3::S3Options o;
    o.endpoint = s3->endpoint();
    o.bucket = "oadp";
    auto st = ocpvdr::s3::S3ObjectStore::create(
        o, {S3rverProcess::kAccessKey, S3rverProcess::kSecretKey, "", "t"}, http, realClock);
    ASSERT_TRUE(st.ok());
    objects = std::move(st).value();
    for (const char* n : {"openshift-adp"}) create(t("", "v1", "namespaces"), "", ns(n));
    create(t("velero.io", "v1", "backupstoragelocations"), "openshift-adp",
           {{"apiVersion", "velero.io/v1"},
            {"kind", "BackupStorageLocation"},
            {"metadata", {{"name", "default"}, {"namespace", "openshift-adp"}}},
            {"spec",
             {{"provider", "aws"},
              {"objectStorage", {{"bucket", "oadp"}, {"prefix", "velero"}}},
              {"config", {{"s3Url", s3->endpoint()}, {"region", "us-east-1"}}}}}});
  }

  const ResourceType& t(const char* g, const char* v, const char* p) {
    return *store.table().find(g, v, p);
  }
  static Json ns(const std::string& n) {
    return {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", n}}}};
  }
  void create(const ResourceType& type, const std::string& n, const Json& o) {
    auto r = store.create(type, n, o);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  Json get(const ResourceType& type, const std::string& n, const std::string& name) {
    auto r = store.get(type, n, name);
    return r.ok() ? r.value()->object : Json();
  }
  void upload(const std::string& name, std::vector<Json> items, const std::string& phase) {
    ocpvdr::testing::VeleroBackupSpec spec;
    spec.name = name;
    spec.phase = phase;
    spec.started = std::chrono::system_clock::now() - 1h;
    if (phase == "Completed") spec.completed = std::chrono::system_clock::now();
    spec.includedNamespaces = {"vms"};
    spec.objects = std::move(items);
    for (const auto& [key, data] : ocpvdr::testing::veleroBackupObjects("velero", spec))
      ASSERT_TRUE(objects->put(key, data).ok());
  }
  void sync() {
    ctl.syncBackups(store, clock.now());
    pump.pump();
  }
  Json restore(const std::string& name, const std::string& backup, const Json& labels = nullptr) {
    Json r = {{"apiVersion", "velero.io/v1"},
              {"kind", "Restore"},
              {"metadata", {{"name", name}, {"namespace", "openshift-adp"}}},
              {"spec",
               {{"backupName", backup},
                {"includedNamespaces", {"vms"}},
                {"excludedResources", {"persistentvolumes", "persistentvolumeclaims"}},
                {"restorePVs", false},
                {"existingResourcePolicy", "none"}}}};
    if (!labels.is_null()) r["metadata"]["labels"] = labels;
    create(t("velero.io", "v1", "restores"), "openshift-adp", r);
    pump.pump();
    ctl.tick(store, clock.now());
    pump.pump();
    return get(t("velero.io", "v1", "restores"), "openshift-adp", name);
  }
  std::vector<Json> items() {
    using namespace ocpvdr::testing;
    Json vmi = {{"apiVersion", "kubevirt.io/v1"},
                {"kind", "VirtualMachineInstance"},
                {"metadata",
                 {{"name", "vm-1"},
                  {"namespace", "vms"},
                  {"ownerReferences", {{{"kind", "VirtualMachine"}, {"name", "vm-1"}}}}}},
                {"spec", Json::object()}};
    Json cm = {{"apiVersion", "v1"},
               {"kind", "Service"},
               {"metadata", {{"name", "cfg"}, {"namespace", "vms"}}},
               {"spec", Json::object()}};
    return {ns("vms"),
            samplePv("pvc-1", "nfs-primary", "/exports/ocp/x", "vms", "root"),
            samplePvc("vms", "root", "pvc-1", "root"),
            sampleVm("vms", "vm-1", "root"),
            sampleDataVolume("vms", "root"),
            vmi,
            cm,
            sampleVm("other", "vm-9", "x")};
  }

  ocpvdr::ManualClock clock;
  ocpvdr::RealClock realClock;
  ocpvdr::CurlHttpClient http;
  Store store{clock};
  VeleroController ctl{1s};
  Pump pump{store, ctl};
  std::unique_ptr<S3rverProcess> s3;
  std::unique_ptr<ocpvdr::s3::S3ObjectStore> objects;
};

TEST_F(Velero, BackupSyncImportsBackupsAndRefreshesThoseInProgress) {
  upload("nightly-1", items(), "Completed");
  upload("nightly-2", items(), "Finalizing");
  sync();
  Json b1 = get(t("velero.io", "v1", "backups"), "openshift-adp", "nightly-1");
  ASSERT_TRUE(b1.is_object()) << "not synced";
  EXPECT_EQ(b1["status"]["phase"], "Completed");
  EXPECT_EQ(b1["metadata"]["labels"]["velero.io/storage-location"], "default");
  EXPECT_EQ(get(t("velero.io", "v1", "backups"), "openshift-adp", "nightly-2")["status"]["phase"],
            "Finalizing");
  Json bsl = get(t("velero.io", "v1", "backupstoragelocations"), "openshift-adp", "default");
  EXPECT_EQ(bsl["status"]["phase"], "Available");
  upload("nightly-2", items(), "Completed");
  sync();
  EXPECT_EQ(get(t("velero.io", "v1", "backups"), "openshift-adp", "nightly-2")["status"]["phase"],
            "Completed");
}

TEST_F(Velero, RestoreCreatesTheIncludedObjectsExceptVolumesAndAppliesTheRunStrategy) {
  upload("nightly-1", items(), "Completed");
  sync();
  Json r = restore("r1", "nightly-1", {{"velero.kubevirt.io/restore-run-strategy", "Halted"}});
  EXPECT_EQ(r["status"]["phase"], "Completed") << r.dump();
  EXPECT_EQ(r["status"]["errors"], 0);
  EXPECT_EQ(r["status"]["warnings"], 1);  // the Service: not served here
  Json vm = get(t("kubevirt.io", "v1", "virtualmachines"), "vms", "vm-1");
  ASSERT_TRUE(vm.is_object());
  EXPECT_EQ(vm["spec"]["runStrategy"], "Halted");
  EXPECT_FALSE(vm.contains("status") && vm["status"].contains("printableStatus"));
  EXPECT_EQ(vm["metadata"]["labels"]["velero.io/restore-name"], "r1");
  EXPECT_NE(vm["metadata"]["uid"], "9a8b7c6d-6666-4c3e-9a55-3f0e5f0e0006");  // a new object
  EXPECT_TRUE(get(t("cdi.kubevirt.io", "v1beta1", "datavolumes"), "vms", "root").is_object());
  EXPECT_TRUE(get(t("", "v1", "persistentvolumes"), "", "pvc-1").is_null());
  EXPECT_TRUE(get(t("", "v1", "persistentvolumeclaims"), "vms", "root").is_null());
  EXPECT_TRUE(get(t("kubevirt.io", "v1", "virtualmachineinstances"), "vms", "vm-1").is_null());
  // Not in includedNamespaces.
  EXPECT_TRUE(get(t("kubevirt.io", "v1", "virtualmachines"), "other", "vm-9").is_null());

  // A second restore of the same backup: existingResourcePolicy none leaves objects as they are.
  Json r2 = restore("r2", "nightly-1");
  EXPECT_EQ(r2["status"]["phase"], "Completed");
  EXPECT_GE(r2["status"]["warnings"].get<int>(), 3);
  EXPECT_EQ(get(t("kubevirt.io", "v1", "virtualmachines"), "vms",
                "vm-1")["metadata"]["labels"]["velero.io/restore-name"],
            "r1");
}

// The document ocpv-dr's failover puts in the modifier ConfigMap (restore_modifiers.h).
Json modifierConfigMap(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", "openshift-adp"}}},
          {"data",
           {{"rules.yaml",
             "version: v1\nresourceModifierRules:\n- conditions:\n"
             "    groupResource: virtualmachines.kubevirt.io\n    namespaces: [vms]\n"
             "  mergePatches:\n"
             "  - patchData: '{\"spec\":{\"runStrategy\":\"Halted\",\"running\":null}}'\n"}}}};
}

TEST_F(Velero, PluginV070IgnoresTheRunStrategyLabelAndModifiersApplyAfterThePlugin) {
  upload("nightly-1", items(), "Completed");
  sync();
  // A second Velero that behaves like kubevirt-velero-plugin v0.7.0 runs the Restores below;
  // the fixture's controller is not pumped from here on.
  VeleroController old{1s, "v0.7.0"};
  Pump oldPump{store, old};
  auto run = [&](const std::string& name, const Json& spec) {
    Json r = {{"apiVersion", "velero.io/v1"},
              {"kind", "Restore"},
              {"metadata",
               {{"name", name},
                {"namespace", "openshift-adp"},
                {"labels", {{"velero.kubevirt.io/restore-run-strategy", "Halted"}}}}},
              {"spec", spec}};
    create(t("velero.io", "v1", "restores"), "openshift-adp", r);
    oldPump.pump();
    old.tick(store, clock.now());
    oldPump.pump();
    return get(t("velero.io", "v1", "restores"), "openshift-adp", name);
  };
  Json spec = {{"backupName", "nightly-1"},
               {"includedNamespaces", {"vms"}},
               {"excludedResources", {"persistentvolumes", "persistentvolumeclaims"}}};
  // Label only: the VM keeps the backup's runStrategy Always.
  Json r1 = run("r1", spec);
  EXPECT_EQ(r1["status"]["phase"], "Completed") << r1.dump();
  Json vm = get(t("kubevirt.io", "v1", "virtualmachines"), "vms", "vm-1");
  EXPECT_EQ(vm["spec"]["runStrategy"], "Always") << vm.dump();

  // With the resource modifier: Halted on v0.7.0 too.
  ASSERT_TRUE(store.remove(t("kubevirt.io", "v1", "virtualmachines"), "vms", "vm-1").ok());
  create(t("", "v1", "configmaps"), "openshift-adp", modifierConfigMap("halt"));
  spec["resourceModifier"] = {{"kind", "ConfigMap"}, {"name", "halt"}};
  Json r2 = run("r2", spec);
  EXPECT_EQ(r2["status"]["phase"], "Completed") << r2.dump();
  vm = get(t("kubevirt.io", "v1", "virtualmachines"), "vms", "vm-1");
  EXPECT_EQ(vm["spec"]["runStrategy"], "Halted") << vm.dump();
  EXPECT_FALSE(vm["spec"].contains("running")) << vm.dump();
  // Modifiers touch only what their conditions select: the DataVolume is as in the backup.
  EXPECT_FALSE(get(t("cdi.kubevirt.io", "v1beta1", "datavolumes"), "vms", "root")["spec"].contains(
      "runStrategy"));

  // A Restore naming a missing modifier ConfigMap fails validation, as in Velero.
  spec["resourceModifier"]["name"] = "missing";
  Json r3 = run("r3", spec);
  EXPECT_EQ(r3["status"]["phase"], "FailedValidation") << r3.dump();
  EXPECT_NE(r3["status"]["validationErrors"][0].get<std::string>().find(
                "failed to get resource modifiers configmap openshift-adp/missing"),
            std::string::npos);
  // And one whose document is invalid.
  Json bad = modifierConfigMap("bad");
  bad["data"]["rules.yaml"] = "version: v9\nresourceModifierRules: []\n";
  create(t("", "v1", "configmaps"), "openshift-adp", bad);
  spec["resourceModifier"]["name"] = "bad";
  Json r4 = run("r4", spec);
  EXPECT_EQ(r4["status"]["phase"], "FailedValidation") << r4.dump();
}

TEST_F(Velero, RestoreOfAMissingBackupFailsValidation) {
  Json r = restore("r1", "nope");
  EXPECT_EQ(r["status"]["phase"], "FailedValidation");
  EXPECT_NE(r["status"]["validationErrors"][0].get<std::string>().find("nope"), std::string::npos);
}

TEST_F(Velero, AnItemThatCannotBeCreatedMakesTheRestorePartiallyFailed) {
  auto list = items();
  list.push_back({{"apiVersion", "snapshot.storage.k8s.io/v1"},
                  {"kind", "VolumeSnapshot"},
                  {"metadata", {{"name", "broken"}, {"namespace", "vms"}}},
                  {"spec", "not an object"}});
  upload("nightly-1", list, "Completed");
  sync();
  Json r = restore("r1", "nightly-1");
  EXPECT_EQ(r["status"]["phase"], "PartiallyFailed") << r.dump();
  EXPECT_EQ(r["status"]["errors"], 1);
  EXPECT_TRUE(get(t("kubevirt.io", "v1", "virtualmachines"), "vms", "vm-1").is_object());
}

TEST_F(Velero, ACorruptTarballFailsTheRestoreWithAReason) {
  upload("nightly-1", items(), "Completed");
  ASSERT_TRUE(objects->put("velero/backups/nightly-1/nightly-1.tar.gz", "garbage").ok());
  sync();
  Json r = restore("r1", "nightly-1");
  EXPECT_EQ(r["status"]["phase"], "Failed");
  EXPECT_FALSE(r["status"].value("failureReason", "").empty());
}

TEST_F(Velero, AnUnreachableLocationIsUnavailable) {
  ASSERT_TRUE(store
                  .modify(t("velero.io", "v1", "backupstoragelocations"), "openshift-adp",
                          "default",
                          [](Json& o) { o["spec"]["config"]["s3Url"] = "http://127.0.0.1:1"; })
                  .ok());
  sync();
  Json bsl = get(t("velero.io", "v1", "backupstoragelocations"), "openshift-adp", "default");
  EXPECT_EQ(bsl["status"]["phase"], "Unavailable");
  EXPECT_FALSE(bsl["status"].value("message", "").empty());
}

}  // namespace
}  // namespace kubesim
