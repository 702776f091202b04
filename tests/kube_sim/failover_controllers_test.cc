// The controllers the failover tests run in kube-sim — binding (pre-bound PV/PVC), kubevirt (VM
// lifecycle) — in-process and on one thread: committed events are pumped into the controller by
// the test and ticks carry a ManualClock's time, so every transition is deterministic. Also the
// Velero storage readers (ListObjectsV2 page, backup tarball) and the controller catalogue.
#include <gtest/gtest.h>

#include <deque>
#include <mutex>

#include "binding_controller.h"
#include "builtin_controllers.h"
#include "core/clock.h"
#include "kubevirt_controller.h"
#include "store.h"
#include "support/velero_backup_writer.h"
#include "velero_storage.h"

namespace kubesim {
namespace {

using namespace std::chrono_literals;

// Collects committed events; pump() hands them to the controller until none are left.
class Pump final : public EventSink {
 public:
  Pump(Store& store, Controller& c) : store_(store), c_(c) { store.addSink(this); }
  ~Pump() override { store_.removeSink(this); }
  void deliver(const EventPtr& e) override {
    std::lock_guard lock(mu_);
    q_.push_back(e);
  }
  void pump() {
    for (int guard = 0; guard < 10000; ++guard) {
      EventPtr e;
      {
        std::lock_guard lock(mu_);
        if (q_.empty()) return;
        e = q_.front();
        q_.pop_front();
      }
      c_.onEvent(*e, store_);
    }
    FAIL() << "controller keeps writing: event loop";
  }

 private:
  Store& store_;
  Controller& c_;
  std::mutex mu_;
  std::deque<EventPtr> q_;
};

class Sim : public ::testing::Test {
 protected:
  const ResourceType& type(const char* group, const char* version, const char* plural) {
    return *store.table().find(group, version, plural);
  }
  const ResourceType& pvs() { return type("", "v1", "persistentvolumes"); }
  const ResourceType& pvcs() { return type("", "v1", "persistentvolumeclaims"); }
  const ResourceType& vms() { return type("kubevirt.io", "v1", "virtualmachines"); }
  const ResourceType& vmis() { return type("kubevirt.io", "v1", "virtualmachineinstances"); }

  void ns(const std::string& name) {
    ASSERT_TRUE(
        store
            .create(type("", "v1", "namespaces"), "",
                    {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}})
            .ok());
  }
  void pv(const std::string& name, const Json& claimRef = nullptr) {
    Json o = {{"apiVersion", "v1"},
              {"kind", "PersistentVolume"},
              {"metadata", {{"name", name}}},
              {"spec",
               {{"accessModes", {"ReadWriteMany"}},
                {"capacity", {{"storage", "5Gi"}}},
                {"nfs", {{"server", "nfs-dr"}, {"path", "/exports/" + name}}}}}};
    if (!claimRef.is_null()) o["spec"]["claimRef"] = claimRef;
    auto r = store.create(pvs(), "", o);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  void pvc(const std::string& ns, const std::string& name, const std::string& volume) {
    Json o = {{"apiVersion", "v1"},
              {"kind", "PersistentVolumeClaim"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec",
               {{"accessModes", {"ReadWriteMany"}},
                {"resources", {{"requests", {{"storage", "5Gi"}}}}}}}};
    if (!volume.empty()) o["spec"]["volumeName"] = volume;
    auto r = store.create(pvcs(), ns, o);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }
  Json get(const ResourceType& t, const std::string& ns, const std::string& name) {
    auto r = store.get(t, ns, name);
    return r.ok() ? r.value()->object : Json();
  }

  ocpvdr::ManualClock clock;
  Store store{clock};
};

class Binding : public Sim {
 protected:
  BindingController binder;
  Pump pump{store, binder};
};

TEST_F(Binding, APreBoundClaimBindsToItsVolume) {
  ns("vms");
  pv("pv-a", {{"namespace", "vms"}, {"name", "root"}});
  pvc("vms", "root", "pv-a");
  pump.pump();
  Json v = get(pvs(), "", "pv-a"), c = get(pvcs(), "vms", "root");
  EXPECT_EQ(v["status"]["phase"], "Bound");
  EXPECT_EQ(v["spec"]["claimRef"]["uid"], c["metadata"]["uid"]);
  EXPECT_EQ(c["status"]["phase"], "Bound");
  EXPECT_EQ(c["status"]["capacity"]["storage"], "5Gi");
  EXPECT_EQ(c["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"], "yes");
}

TEST_F(Binding, AVolumeCreatedAfterItsClaimStillBinds) {
  ns("vms");
  pvc("vms", "root", "pv-late");
  pump.pump();
  EXPECT_EQ(get(pvcs(), "vms", "root")["status"]["phase"], "Pending");
  pv("pv-late");  // no claimRef: any claim naming it may take it
  pump.pump();
  EXPECT_EQ(get(pvcs(), "vms", "root")["status"]["phase"], "Bound");
  EXPECT_EQ(get(pvs(), "", "pv-late")["spec"]["claimRef"]["name"], "root");
}

TEST_F(Binding, NoDynamicProvisioningAndNoStealing) {
  ns("vms");
  pvc("vms", "unnamed", "");
  pv("pv-other", {{"namespace", "vms"}, {"name", "someone-else"}});
  pvc("vms", "thief", "pv-other");
  pump.pump();
  binder.tick(store, clock.now());
  pump.pump();
  EXPECT_EQ(get(pvcs(), "vms", "unnamed")["status"]["phase"], "Pending");
  EXPECT_EQ(get(pvcs(), "vms", "thief")["status"]["phase"], "Pending");
  EXPECT_EQ(get(pvs(), "", "pv-other")["spec"]["claimRef"]["name"], "someone-else");
  EXPECT_EQ(get(pvs(), "", "pv-other")["status"]["phase"], "Available");
}

TEST_F(Binding, DeletingTheClaimReleasesTheVolume) {
  ns("vms");
  pv("pv-a", {{"namespace", "vms"}, {"name", "root"}});
  pvc("vms", "root", "pv-a");
  pump.pump();
  ASSERT_TRUE(store.remove(pvcs(), "vms", "root").ok());
  pump.pump();
  EXPECT_EQ(get(pvs(), "", "pv-a")["status"]["phase"], "Released");
}

class Kubevirt : public Sim {
 protected:
  void SetUp() override {
    ns("vms");
    pv("pv-a", {{"namespace", "vms"}, {"name", "root"}});
  }
  void vm(const std::string& name, const std::string& strategy, const std::string& claim,
          bool dataVolume = false) {
    Json vol = dataVolume ? Json{{"name", "d"}, {"dataVolume", {{"name", claim}}}}
                          : Json{{"name", "d"}, {"persistentVolumeClaim", {{"claimName", claim}}}};
    Json o = {
        {"apiVersion", "kubevirt.io/v1"},
        {"kind", "VirtualMachine"},
        {"metadata", {{"name", name}, {"namespace", "vms"}}},
        {"spec",
         {{"runStrategy", strategy}, {"template", {{"spec", {{"volumes", Json::array({vol})}}}}}}}};
    ASSERT_TRUE(store.create(vms(), "vms", o).ok());
  }
  std::string status(const std::string& name) {
    return get(vms(), "vms", name)["status"].value("printableStatus", "");
  }
  void tickAfter(std::chrono::milliseconds d) {
    clock.advance(d);
    ctl.tick(store, clock.now());
    pump.pump();
  }
  KubevirtController ctl{500ms, 200ms};
  Pump pump{store, ctl};
};

TEST_F(Kubevirt, AnAlwaysVmStartsAfterTheDelayOnceItsClaimIsBound) {
  pvc("vms", "root", "pv-a");
  // Bind by hand (no binding controller here).
  ASSERT_TRUE(store
                  .modify(
                      pvcs(), "vms", "root", [](Json& o) { o["status"]["phase"] = "Bound"; },
                      WriteOptions{.subresource = "status"})
                  .ok());
  vm("vm-1", "Always", "root");
  pump.pump();
  EXPECT_EQ(status("vm-1"), "Starting");
  Json vmi = get(vmis(), "vms", "vm-1");
  EXPECT_EQ(vmi["status"]["phase"], "Scheduling");
  EXPECT_EQ(vmi["metadata"]["ownerReferences"][0]["kind"], "VirtualMachine");
  tickAfter(10ms);  // stamps the start
  tickAfter(300ms);
  EXPECT_EQ(status("vm-1"), "Starting");
  tickAfter(300ms);
  EXPECT_EQ(status("vm-1"), "Running");
  EXPECT_EQ(get(vms(), "vms", "vm-1")["status"]["ready"], true);
  EXPECT_EQ(get(vmis(), "vms", "vm-1")["status"]["phase"], "Running");
}

TEST_F(Kubevirt, MissingOrUnboundClaimsKeepTheVmFromStarting) {
  vm("no-claim", "Always", "nope");
  vm("dv", "Always", "root", true);
  pvc("vms", "root", "");  // exists, not Bound
  pump.pump();
  EXPECT_EQ(status("no-claim"), "ErrorPvcNotFound");
  EXPECT_EQ(status("dv"), "WaitingForVolumeBinding");
  EXPECT_FALSE(store.get(vmis(), "vms", "dv").ok());
  ASSERT_TRUE(store
                  .modify(
                      pvcs(), "vms", "root", [](Json& o) { o["status"]["phase"] = "Bound"; },
                      WriteOptions{.subresource = "status"})
                  .ok());
  pump.pump();
  EXPECT_EQ(status("dv"), "Starting");
}

TEST_F(Kubevirt, HaltingStopsTheVmiAndStartStopSubresourcesFollowKubevirt) {
  pvc("vms", "root", "pv-a");
  ASSERT_TRUE(store
                  .modify(
                      pvcs(), "vms", "root", [](Json& o) { o["status"]["phase"] = "Bound"; },
                      WriteOptions{.subresource = "status"})
                  .ok());
  vm("vm-1", "Always", "root");
  pump.pump();
  tickAfter(10ms);
  tickAfter(600ms);
  ASSERT_EQ(status("vm-1"), "Running");

  ActionRequest stop{"subresources.kubevirt.io", "v1", "virtualmachines", "vms", "vm-1", "stop"};
  auto r = defaultKubevirtAction(stop, store);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().code, 202);
  pump.pump();
  EXPECT_EQ(get(vms(), "vms", "vm-1")["spec"]["runStrategy"], "Halted");
  EXPECT_EQ(status("vm-1"), "Stopping");
  EXPECT_TRUE(store.get(vmis(), "vms", "vm-1").ok());
  tickAfter(10ms);
  tickAfter(250ms);
  EXPECT_EQ(status("vm-1"), "Stopped");
  EXPECT_FALSE(store.get(vmis(), "vms", "vm-1").ok());
  EXPECT_TRUE(store.get(vms(), "vms", "vm-1").ok());  // the VM itself stays

  auto again = defaultKubevirtAction(stop, store);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, 409);
  ActionRequest start = stop;
  start.action = "start";
  ASSERT_TRUE(defaultKubevirtAction(start, store).ok());
  pump.pump();
  EXPECT_EQ(status("vm-1"), "Starting");
}

// --- Velero storage readers ------------------------------------------------------------------

TEST(VeleroStorage, ListPageDecodesKeysAndContinuation) {
  auto p = parseS3ListPage(
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Contents><Key>velero/backups/a&amp;b/velero-backup.json</Key></Contents>"
      "<Contents><Key>velero/backups/c/c.tar.gz</Key></Contents>"
      "<IsTruncated>true</IsTruncated><NextContinuationToken>tok&lt;1</NextContinuationToken>"
      "</ListBucketResult>");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.value().keys, (std::vector<std::string>{"velero/backups/a&b/velero-backup.json",
                                                      "velero/backups/c/c.tar.gz"}));
  EXPECT_TRUE(p.value().truncated);
  EXPECT_EQ(p.value().nextToken, "tok<1");
  EXPECT_FALSE(parseS3ListPage("<ListBucketResult><IsTruncated>true</IsTruncated>"
                               "</ListBucketResult>")
                   .ok());
  EXPECT_FALSE(parseS3ListPage("<Error><Code>AccessDenied</Code></Error>").ok());
}

TEST(VeleroStorage, TarballItemsPreferThePlainCopyAndRefuseEscapes) {
  using ocpvdr::testing::sampleVm;
  Json vm = sampleVm("vms", "vm-1", "root");
  ocpvdr::testing::VeleroTarballOptions preferredOnly;
  preferredOnly.plainCopies = false;
  for (const auto& opts : {ocpvdr::testing::VeleroTarballOptions{}, preferredOnly}) {
    auto items = readBackupTarball(ocpvdr::testing::veleroTarball({vm}, opts));
    ASSERT_TRUE(items.ok()) << items.error().message;
    ASSERT_EQ(items.value().size(), 1u);
    EXPECT_EQ(items.value()[0].groupResource, "virtualmachines.kubevirt.io");
    EXPECT_EQ(items.value()[0].ns, "vms");
    EXPECT_EQ(items.value()[0].name, "vm-1");
    EXPECT_EQ(items.value()[0].object["spec"]["runStrategy"], "Always");
  }
  auto bad = readBackupTarball(ocpvdr::testing::tarGz({{"../../etc/passwd", "x"}}));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("../../etc/passwd"), std::string::npos);
  auto link = readBackupTarball(ocpvdr::testing::tarGz(
      {{"resources/x/cluster/a.json", "", ocpvdr::testing::TarEntry::Type::Symlink, "/etc"}}));
  EXPECT_FALSE(link.ok());
  EXPECT_FALSE(readBackupTarball("not a tarball").ok());
}

TEST(Catalogue, TheFailoverControllersAndTheirOptions) {
  auto names = builtinControllerNames();
  EXPECT_EQ(names, (std::vector<std::string>{"binding", "kubevirt", "cdi", "velero"}));
  ocpvdr::ManualClock clock;
  Store store(clock);
  ControllerRunner runner(store, clock);
  EXPECT_TRUE(
      addBuiltinControllers(runner, {"binding", "kubevirt"}, {{"kubevirt.start-delay-ms", "10"}})
          .ok());
  EXPECT_EQ(runner.size(), 2u);
  auto unknown = addBuiltinControllers(runner, {"velero"}, {{"velero.sync", "1"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("velero.sync-interval-ms"), std::string::npos);
  auto bad = addBuiltinControllers(runner, {"kubevirt"}, {{"kubevirt.start-delay-ms", "soon"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("\"soon\""), std::string::npos);
}

}  // namespace
}  // namespace kubesim
