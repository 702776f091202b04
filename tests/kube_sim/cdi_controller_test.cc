// kube-sim's "cdi" controller (CDI's import and upload rules on claims) and CDI's DataVolume
// admission rule, in-process: the binder and the cdi controller are pumped on the test thread,
// so "no pod was created" is a state read after every event was handled, not a wait.
#include <gtest/gtest.h>

#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>

#include "binding_controller.h"
#include "builtin_controllers.h"
#include "cdi_controller.h"
#include "core/clock.h"
#include "store.h"
#include "support/temp_dir.h"

namespace kubesim {
namespace {

// Hands committed events to every controller until none are left.
class Pump final : public EventSink {
 public:
  Pump(Store& store, std::vector<Controller*> cs) : store_(store), cs_(std::move(cs)) {
    store.addSink(this);
  }
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
      for (auto* c : cs_) c->onEvent(*e, store_);
    }
    FAIL() << "controllers keep writing: event loop";
  }

 private:
  Store& store_;
  std::vector<Controller*> cs_;
  std::mutex mu_;
  std::deque<EventPtr> q_;
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class Cdi : public ::testing::Test {
 protected:
  Cdi() {
    cdi = std::make_unique<CdiController>(
        std::vector<NfsExportMapping>{{"nfs-dr", "/exports", exportDir.path()}});
    pump = std::make_unique<Pump>(store, std::vector<Controller*>{&binder, cdi.get()});
    EXPECT_TRUE(
        store
            .create(type("namespaces"), "",
                    {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "vms"}}}})
            .ok());
  }
  const ResourceType& type(const char* plural) { return *store.table().find("", "v1", plural); }
  const ResourceType& dvs() {
    return *store.table().find("cdi.kubevirt.io", "v1beta1", "datavolumes");
  }

  // A PV with a disk image under the mapped export, and its pre-bound claim with `annotations`.
  void volume(const std::string& claim, const Json& annotations, bool withPv = true) {
    const std::string pvName = "pv-" + claim;
    if (withPv) {
      exportDir.write(pvName + "/disk.img", "replicated guest disk " + claim);
      Json pv = {{"apiVersion", "v1"},
                 {"kind", "PersistentVolume"},
                 {"metadata", {{"name", pvName}}},
                 {"spec",
                  {{"accessModes", {"ReadWriteMany"}},
                   {"capacity", {{"storage", "5Gi"}}},
                   {"claimRef", {{"namespace", "vms"}, {"name", claim}}},
                   {"nfs", {{"server", "nfs-dr"}, {"path", "/exports/" + pvName}}}}}};
      ASSERT_TRUE(store.create(type("persistentvolumes"), "", pv).ok());
    }
    Json pvc = {{"apiVersion", "v1"},
                {"kind", "PersistentVolumeClaim"},
                {"metadata", {{"name", claim}, {"namespace", "vms"}, {"annotations", annotations}}},
                {"spec",
                 {{"accessModes", {"ReadWriteMany"}},
                  {"resources", {{"requests", {{"storage", "5Gi"}}}}},
                  {"volumeName", pvName}}}};
    auto r = store.create(type("persistentvolumeclaims"), "vms", pvc);
    ASSERT_TRUE(r.ok()) << r.error().message;
    pump->pump();
  }
  bool exists(const ResourceType& t, const std::string& ns, const std::string& name) {
    return store.get(t, ns, name).ok();
  }
  std::vector<Json> eventsAbout(const std::string& name) {
    std::vector<Json> out;
    auto l = store.list(type("events"), ListRequest{});
    for (const auto& e : l.value().items)
      if (str(child(e->object, "involvedObject"), "name") == name) out.push_back(e->object);
    return out;
  }
  std::string phase(const std::string& claim) {
    auto got = store.get(type("persistentvolumeclaims"), "vms", claim);
    return got.ok() ? str(child(got.value()->object, "status"), "phase") : "";
  }
  std::string disk(const std::string& claim) {
    return slurp(exportDir.path() / ("pv-" + claim) / "disk.img");
  }

  ocpvdr::testing::TempDir exportDir{"kube-sim-cdi"};
  ocpvdr::ManualClock clock;
  Store store{clock};
  BindingController binder;
  std::unique_ptr<CdiController> cdi;
  std::unique_ptr<Pump> pump;
};

const Json kLegacyImportDone = {
    {"cdi.kubevirt.io/storage.import.endpoint", "docker://quay.io/containerdisks/fedora:40"},
    {"cdi.kubevirt.io/storage.import.source", "registry"},
    {"cdi.kubevirt.io/storage.import.importPodName", "importer-root"},
    {"cdi.kubevirt.io/storage.pod.phase", "Succeeded"},
    {"cdi.kubevirt.io/storage.condition.running", "false"},
    {"cdi.kubevirt.io/storage.populatedFor", "root"}};

TEST_F(Cdi, AnImportRequestWithoutCompletionOverwritesTheDisk) {
  Json ann = kLegacyImportDone;
  ann.erase("cdi.kubevirt.io/storage.pod.phase");  // what the old rewriter left
  volume("root", ann);
  ASSERT_TRUE(exists(type("pods"), "vms", "importer-root"));
  Json pod = store.get(type("pods"), "vms", "importer-root").value()->object;
  EXPECT_EQ(pod["status"]["phase"], "Running");
  EXPECT_EQ(pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"], "root");
  EXPECT_EQ(pod["metadata"]["ownerReferences"][0]["kind"], "PersistentVolumeClaim");
  auto events = eventsAbout("root");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["reason"], "ImporterPodCreated");
  EXPECT_EQ(events[0]["involvedObject"]["kind"], "PersistentVolumeClaim");
  // The PV shows it, and the disk image really was replaced.
  Json pv = store.get(type("persistentvolumes"), "", "pv-root").value()->object;
  EXPECT_EQ(pv["metadata"]["annotations"][kDataOverwrittenAnnotation], "vms/importer-root");
  auto pvEvents = eventsAbout("pv-root");
  ASSERT_EQ(pvEvents.size(), 1u);
  EXPECT_EQ(pvEvents[0]["reason"], "DataOverwritten");
  EXPECT_EQ(disk("root").find("replicated guest disk"), std::string::npos) << disk("root");
  EXPECT_NE(disk("root").find("importer-root rewrote this disk"), std::string::npos);

  // Once per claim: later events do not start a second pod or rewrite again.
  exportDir.write("pv-root/disk.img", "written after the import");
  cdi->tick(store, clock.now());
  pump->pump();
  EXPECT_EQ(disk("root"), "written after the import");
  EXPECT_EQ(eventsAbout("root").size(), 1u);
}

TEST_F(Cdi, ACompletedImportIsLeftAlone) {
  volume("root", kLegacyImportDone);
  cdi->tick(store, clock.now());
  pump->pump();
  EXPECT_EQ(phase("root"), "Bound");
  EXPECT_FALSE(exists(type("pods"), "vms", "importer-root"));
  EXPECT_TRUE(eventsAbout("root").empty());
  EXPECT_EQ(disk("root"), "replicated guest disk root");
  Json pv = store.get(type("persistentvolumes"), "", "pv-root").value()->object;
  EXPECT_FALSE(
      pv["metadata"].value("annotations", Json::object()).contains(kDataOverwrittenAnnotation));
}

TEST_F(Cdi, OnlyBoundClaimsAreHandled) {
  Json ann = kLegacyImportDone;
  ann.erase("cdi.kubevirt.io/storage.pod.phase");
  ann.erase("cdi.kubevirt.io/storage.import.importPodName");
  volume("root", ann, /*withPv=*/false);
  EXPECT_EQ(phase("root"), "Pending");
  EXPECT_FALSE(exists(type("pods"), "vms", "importer-root"));
  // Its PV arrives: the claim binds, and the importer (named importer-<pvc>) starts.
  exportDir.write("pv-root/disk.img", "replicated guest disk root");
  Json pv = {{"apiVersion", "v1"},
             {"kind", "PersistentVolume"},
             {"metadata", {{"name", "pv-root"}}},
             {"spec",
              {{"accessModes", {"ReadWriteMany"}},
               {"capacity", {{"storage", "5Gi"}}},
               {"csi",
                {{"driver", "nfs.csi.k8s.io"},
                 {"volumeHandle", "nfs-dr#exports#pv-root##"},
                 {"volumeAttributes",
                  {{"server", "nfs-dr"}, {"share", "/exports"}, {"subdir", "pv-root"}}}}}}}};
  ASSERT_TRUE(store.create(type("persistentvolumes"), "", pv).ok());
  pump->pump();
  EXPECT_TRUE(exists(type("pods"), "vms", "importer-root"));
  EXPECT_NE(disk("root").find("rewrote this disk"), std::string::npos);  // CSI share/subdir
}

TEST_F(Cdi, UploadAndCloneTargetsGetAnUploadPod) {
  volume("up", {{"cdi.kubevirt.io/storage.upload.target", ""}});
  EXPECT_TRUE(exists(type("pods"), "vms", "cdi-upload-up"));
  EXPECT_EQ(eventsAbout("up").at(0)["reason"], "UploadPodCreated");
  EXPECT_NE(disk("up").find("cdi-upload-up rewrote"), std::string::npos);

  volume("cl", {{"k8s.io/CloneRequest", "golden/fedora"}});
  EXPECT_TRUE(exists(type("pods"), "vms", "cdi-upload-cl"));

  volume("done", {{"cdi.kubevirt.io/storage.upload.target", ""},
                  {"cdi.kubevirt.io/storage.pod.phase", "Succeeded"}});
  EXPECT_FALSE(exists(type("pods"), "vms", "cdi-upload-done"));
  EXPECT_EQ(disk("done"), "replicated guest disk done");
}

TEST_F(Cdi, AMultiStageImportInProgressRunsEvenWhenComplete) {
  Json ann = kLegacyImportDone;
  ann["cdi.kubevirt.io/storage.checkpoint.current"] = "snap-2";
  volume("root", ann);
  EXPECT_TRUE(exists(type("pods"), "vms", "importer-root"));

  Json done = kLegacyImportDone;
  done["cdi.kubevirt.io/storage.import.importPodName"] = "importer-warm";
  done["cdi.kubevirt.io/storage.checkpoint.current"] = "snap-2";
  done["cdi.kubevirt.io/storage.checkpoint.done"] = "true";
  volume("warm", done);
  EXPECT_FALSE(exists(type("pods"), "vms", "importer-warm"));
}

TEST_F(Cdi, ClaimsWithoutARequestAreNotTouched) {
  // A populator-filled claim, a plain claim, an external population, a fatal error.
  volume("pop", {{"cdi.kubevirt.io/storage.usePopulator", "true"},
                 {"cdi.kubevirt.io/storage.pod.phase", "Succeeded"}});
  volume("plain", Json::object());
  volume("ext", {{"cdi.kubevirt.io/storage.import.endpoint", "http://x/disk.img"},
                 {"cdi.kubevirt.io/externalPopulation", "true"}});
  volume("bad", {{"cdi.kubevirt.io/storage.import.endpoint", "http://x/disk.img"},
                 {"cdi.kubevirt.io/storage.import.fatalError", "true"}});
  cdi->tick(store, clock.now());
  pump->pump();
  auto pods = store.list(type("pods"), ListRequest{});
  EXPECT_TRUE(pods.value().items.empty());
  for (const char* c : {"pop", "plain", "ext", "bad"})
    EXPECT_EQ(disk(c), std::string("replicated guest disk ") + c) << c;
}

TEST_F(Cdi, DataVolumeAdmission) {
  auto dv = [](const std::string& name, const Json& annotations = Json::object()) {
    return Json{{"apiVersion", "cdi.kubevirt.io/v1beta1"},
                {"kind", "DataVolume"},
                {"metadata", {{"name", name}, {"namespace", "vms"}, {"annotations", annotations}}},
                {"spec", {{"source", {{"blank", Json::object()}}}}}};
  };
  // No claim of that name: admitted.
  EXPECT_TRUE(store.create(dvs(), "vms", dv("fresh")).ok());
  // A claim populated for another DataVolume, or for none: refused.
  volume("taken", {{"cdi.kubevirt.io/storage.populatedFor", "someone-else"}});
  auto r = store.create(dvs(), "vms", dv("taken"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 422);
  EXPECT_NE(r.error().message.find("Destination PVC vms/taken already exists"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().details["causes"][0]["field"], "DataVolume.Name");
  EXPECT_FALSE(exists(dvs(), "vms", "taken"));
  volume("bare", Json::object());
  EXPECT_FALSE(store.create(dvs(), "vms", dv("bare")).ok());
  // populatedFor names the DV: admitted (the DV adopts the claim); so is explicit adoption.
  volume("root", kLegacyImportDone);
  EXPECT_TRUE(store.create(dvs(), "vms", dv("root")).ok());
  EXPECT_TRUE(
      store.create(dvs(), "vms", dv("bare", {{"cdi.kubevirt.io/allowClaimAdoption", "true"}}))
          .ok());
}

TEST(CdiOptions, ExportMappings) {
  std::string err;
  auto m = parseNfsExportMappings("nfs-dr:/exports/ocp=/srv/a,/exports/x/=/srv/b", &err);
  ASSERT_TRUE(m) << err;
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0].server, "nfs-dr");
  EXPECT_EQ((*m)[0].exportPath, "/exports/ocp");
  EXPECT_EQ((*m)[1].server, "");
  EXPECT_EQ((*m)[1].exportPath, "/exports/x");
  EXPECT_FALSE(parseNfsExportMappings("/exports", &err));
  EXPECT_FALSE(parseNfsExportMappings("/exports=relative/dir", &err));

  ocpvdr::ManualClock clock;
  Store store{clock};
  ControllerRunner runner(store, clock);
  EXPECT_TRUE(addBuiltinControllers(runner, {"cdi"}, {{"cdi.nfs-exports", "/e=/srv/e"}}).ok());
  auto bad = addBuiltinControllers(runner, {"cdi"}, {{"cdi.nfs-exports", "nonsense"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("cdi.nfs-exports"), std::string::npos);
}

}  // namespace
}  // namespace kubesim
