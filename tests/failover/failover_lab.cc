// Two simulated sites for the failover tests (see failover_lab.h).
#include "failover/failover_lab.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <thread>

#include "catalog/catalog.h"
#include "core/clock.h"
#include "core/curl_http.h"
#include "replication/replicator.h"
#include "s3/s3_object_store.h"
#include "support/velero_backup_writer.h"

namespace ocpvdr::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

void writeBytes(const fs::path& p, std::size_t n, unsigned seed) {
  fs::create_directories(p.parent_path());
  std::mt19937 rng(seed);
  std::string data(n, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  std::ofstream(p, std::ios::binary) << data;
}

}  // namespace

Result<std::unique_ptr<FailoverLab>> FailoverLab::create(const config::Config& base,
                                                         const std::string& dir,
                                                         LabOptions options) {
  std::unique_ptr<FailoverLab> lab(new FailoverLab());
  lab->opt_ = options;
  lab->dir = dir;
  lab->cfg = base;
  auto s3 = S3rverProcess::start({lab->bucket}, options.listenHost);
  if (!s3.ok()) return s3.error();
  lab->s3 = std::move(s3).value();

  const std::string tick = std::to_string(options.controllerTickMs);
  const std::string delay = "kubevirt.start-delay-ms=" + std::to_string(options.vmStartDelayMs);
  KubeSimOptions po;
  po.listen = options.listenHost + ":0";
  po.extraArgs = {"--controller",         "binding",
                  "--controller",         "kubevirt",
                  "--controller-tick-ms", tick,
                  "--controller-option",  delay,
                  "--controller-option",  "kubevirt.stop-delay-ms=100"};
  if (options.rbac) {
    po.extraArgs.insert(po.extraArgs.end(),
                        {"--rbac", "--token-user", options.rbac->token + "=" + options.rbac->user});
  }
  if (options.startPrimary) lab->primary = std::make_unique<KubeSimProcess>(po);
  KubeSimOptions dro = po;
  dro.extraArgs.insert(dro.extraArgs.end(), {"--controller", "velero", "--controller-option",
                                             "velero.sync-interval-ms=200"});
  for (const auto& o : options.drControllerOptions)
    dro.extraArgs.insert(dro.extraArgs.end(), {"--controller-option", o});
  if (options.cdiAtDr) {
    std::string exports;
    for (const auto& r : base.dr.exportRoots)
      exports +=
          (exports.empty() ? "" : ",") + base.dr.nfsServer + ":" + r.exportPath + "=" + r.hostPath;
    dro.extraArgs.insert(dro.extraArgs.end(), {"--controller", "cdi"});
    if (!exports.empty())
      dro.extraArgs.insert(dro.extraArgs.end(),
                           {"--controller-option", "cdi.nfs-exports=" + exports});
  }
  lab->dr = std::make_unique<KubeSimProcess>(dro);

  config::Config& c = lab->cfg;
  // With options.rbac ocpv-dr authenticates as the DR host's user; the lab stays admin.
  const std::string token = options.rbac ? options.rbac->token : "";
  if (lab->primary)
    c.primary.kubernetes.kubeconfig =
        lab->primary->writeKubeconfig(dir + "/primary.kubeconfig", "sim", token);
  c.dr.kubernetes.kubeconfig = lab->dr->writeKubeconfig(dir + "/dr.kubeconfig", "sim", token);
  {
    std::ofstream f(dir + "/cloud-credentials");
    f << "[default]\naws_access_key_id = " << S3rverProcess::kAccessKey
      << "\naws_secret_access_key = " << S3rverProcess::kSecretKey << "\n";
  }
  c.backupStore.endpoint = lab->s3->endpoint();
  c.backupStore.bucket = lab->bucket;
  c.backupStore.prefix = lab->prefix;
  c.backupStore.region = "us-east-1";
  c.backupStore.credentialsFile = dir + "/cloud-credentials";
  c.backupStore.pathStyle = true;
  c.failover.oadpNamespace = "openshift-adp";
  c.failover.protectedNamespaces = options.namespaces;
  c.failover.timeouts.backupSync = 30s;
  c.failover.timeouts.vmStop = 30s;
  c.failover.timeouts.pvcBind = 30s;
  c.failover.timeouts.restore = 60s;
  c.failover.timeouts.vmReady = 60s;
  c.failover.runStrategyAfterRestore = "Always";
  c.failover.fieldManager = "ocpv-dr";
  demo::ScenarioOptions so;
  so.unfinishedDataVolumes = options.unfinishedDataVolumes;
  lab->scenario = buildScenario(options.vms, options.namespaces, c.primary.nfsServer,
                                c.primary.exportRoots.front().exportPath, so);
  lab->configPath = lab->writeConfig();
  return lab;
}

config::Config FailoverLab::localSites(const std::string& dir) {
  const fs::path root(dir);
  config::Config c;
  auto site = [&](const std::string& name, const std::string& server) {
    config::Site s;
    s.name = name;
    s.nfsServer = server;
    s.exportRoots = {{"/exports/ocp", (root / (name + "/srv/nfs/ocp")).string()}};
    fs::create_directories(s.exportRoots.front().hostPath);
    return s;
  };
  c.primary = site("primary", "nfs-primary.example.com");
  c.dr = site("dr", "nfs-dr.example.com");
  c.replication.transport = config::Transport::Local;
  c.replication.pathMappings = {{"/exports/ocp", "/exports/ocp"}};
  c.replication.storageClasses = {"nfs-dynamic", "nfs-csi"};
  c.replication.lockDir = (root / "dr/locks").string();
  c.catalog.path = (root / "dr/catalog.db").string();
  c.failover.workDir = (root / "dr/failover").string();
  c.failover.fencing.method = config::FencingMethod::None;
  return c;
}

std::string FailoverLab::writeConfig() {
  return writeConfig(cfg, dir + "/config.yaml");
}

std::string FailoverLab::writeConfig(const config::Config& c, const std::string& file) {
  std::ofstream(file) << config::toJson(c).dump(2) << "\n";
  return file;
}

std::vector<Json> FailoverLab::list(KubeSimProcess& sim, const std::string& path) {
  Json l = sim.request("GET", path);
  std::vector<Json> out;
  if (!l.contains("items")) {
    ADD_FAILURE() << "GET " << path << ": " << l.dump();
    return out;
  }
  for (auto& i : l["items"]) out.push_back(i);
  return out;
}

bool FailoverLab::waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

void FailoverLab::populatePrimary() {
  ASSERT_TRUE(primary) << "the lab was created without a primary";
  for (const auto& o : scenario.objects) {
    const std::string kind = o["kind"];
    const std::string ns = o["metadata"].value("namespace", "");
    std::string path;
    if (kind == "Namespace")
      path = "/api/v1/namespaces";
    else if (kind == "PersistentVolume")
      path = "/api/v1/persistentvolumes";
    else if (kind == "PersistentVolumeClaim")
      path = "/api/v1/namespaces/" + ns + "/persistentvolumeclaims";
    else if (kind == "DataVolume")
      path = "/apis/cdi.kubevirt.io/v1beta1/namespaces/" + ns + "/datavolumes";
    else if (kind == "VirtualMachine")
      path = "/apis/kubevirt.io/v1/namespaces/" + ns + "/virtualmachines";
    auto r = primary->send("POST", path, o.dump());
    ASSERT_EQ(r.status, 201) << path << ": " << r.body;
  }
  for (std::size_t i = 0; i < scenario.volumes.size(); ++i) {
    const auto& v = scenario.volumes[i];
    fs::path root = cfg.primary.exportRoots.front().hostPath;
    writeBytes(root / v.dir / "disk.img", 96 * 1024 + i * 1000, 100 + static_cast<unsigned>(i));
    std::ofstream(root / v.dir / "owner.txt") << v.ns << "/" << v.pvc << "\n";
  }
  const bool up = waitFor(
      [&] {
        for (const auto& vm : list(*primary, "/apis/kubevirt.io/v1/virtualmachines"))
          if (vm.value("/status/printableStatus"_json_pointer, "") != "Running") return false;
        return list(*primary, "/apis/kubevirt.io/v1/virtualmachines").size() == scenario.vms.size();
      },
      30s);
  ASSERT_TRUE(up) << "primary VMs did not reach Running";
}

void FailoverLab::replicate(ProcessRunner& runner) {
  auto cat = catalog::Catalog::open(cfg.catalog.path);
  ASSERT_TRUE(cat.ok()) << cat.error().describe();
  RealClock clock;
  replication::Replicator rep(cfg, runner, clock, **cat);
  for (const auto& v : scenario.volumes) {
    Json pv = primary->request("GET", "/api/v1/persistentvolumes/" + v.pv);
    auto r = rep.syncPv(pv);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    ASSERT_TRUE(r->ok()) << v.pv << ": " << r->toJson().dump();
  }
  rep.closeConnections();
}

void FailoverLab::takeBackup(const std::string& name, const std::string& phase) {
  std::vector<Json> objects;
  auto add = [&](const std::string& path, const std::string& apiVersion, const std::string& kind,
                 const std::function<bool(const Json&)>& keep) {
    for (auto& o : list(*primary, path)) {
      if (!keep(o)) continue;
      o["apiVersion"] = apiVersion;
      o["kind"] = kind;
      objects.push_back(o);
    }
  };
  std::set<std::string> nss(opt_.namespaces.begin(), opt_.namespaces.end());
  auto inNs = [&](const Json& o) { return nss.count(o["metadata"].value("namespace", "")) > 0; };
  add("/api/v1/namespaces", "v1", "Namespace",
      [&](const Json& o) { return nss.count(o["metadata"]["name"].get<std::string>()) > 0; });
  add("/api/v1/persistentvolumes", "v1", "PersistentVolume",
      [&](const Json& o) { return nss.count(o["spec"]["claimRef"].value("namespace", "")) > 0; });
  add("/api/v1/persistentvolumeclaims", "v1", "PersistentVolumeClaim", inNs);
  add("/apis/cdi.kubevirt.io/v1beta1/datavolumes", "cdi.kubevirt.io/v1beta1", "DataVolume", inNs);
  add("/apis/kubevirt.io/v1/virtualmachines", "kubevirt.io/v1", "VirtualMachine", inNs);
  add("/apis/kubevirt.io/v1/virtualmachineinstances", "kubevirt.io/v1", "VirtualMachineInstance",
      inNs);
  for (const auto& ns : opt_.namespaces)
    objects.push_back({{"apiVersion", "v1"},
                       {"kind", "ConfigMap"},
                       {"metadata", {{"name", "settings"}, {"namespace", ns}, {"uid", "cm-" + ns}}},
                       {"data", {{"key", "value"}}}});
  VeleroBackupSpec spec;
  spec.name = name;
  spec.phase = phase;
  const auto now = std::chrono::system_clock::now();
  spec.started = now - 2min;
  if (phase == "Completed" || phase == "PartiallyFailed") spec.completed = now - 1min;
  spec.includedNamespaces = opt_.namespaces;
  spec.objects = std::move(objects);
  RealClock clock;
  CurlHttpClient http;
  s3::S3Options so;
  so.endpoint = s3->endpoint();
  so.bucket = bucket;
  so.maxAttempts = 2;
  auto store = s3::S3ObjectStore::create(
      so, s3::AwsCredentials{S3rverProcess::kAccessKey, S3rverProcess::kSecretKey, "", "t"}, http,
      clock);
  ASSERT_TRUE(store.ok());
  for (const auto& [key, data] : veleroBackupObjects(prefix, spec)) {
    auto st = (*store)->put(key, data);
    ASSERT_TRUE(st.ok()) << st.error().describe();
  }
}

std::string FailoverLab::collectionPath(const Json& o) {
  static const std::map<std::string, std::string> plural = {
      {"CSIDriver", "csidrivers"},
      {"StorageClass", "storageclasses"},
      {"DataProtectionApplication", "dataprotectionapplications"},
      {"BackupStorageLocation", "backupstoragelocations"},
      {"ControllerRevision", "controllerrevisions"},
      {"VirtualMachine", "virtualmachines"},
      {"DataVolume", "datavolumes"},
      {"Namespace", "namespaces"}};
  const std::string apiVersion = o.value("apiVersion", "");
  const std::string ns = o["metadata"].value("namespace", "");
  std::string path =
      apiVersion.find('/') == std::string::npos ? "/api/" + apiVersion : "/apis/" + apiVersion;
  if (!ns.empty()) path += "/namespaces/" + ns;
  return path + "/" + plural.at(o.value("kind", ""));
}

demo::DrSite FailoverLab::drSite() const {
  demo::DrSite site;
  site.oadpNamespace = cfg.failover.oadpNamespace;
  site.bucket = bucket;
  site.prefix = prefix;
  site.s3Url = s3->endpoint();
  site.nfsServer = cfg.dr.nfsServer;
  site.exportPath = cfg.dr.exportRoots.front().exportPath;
  return site;
}

void FailoverLab::prepareDr(const std::string& name) {
  auto r = dr->send("POST", "/api/v1/namespaces", R"({"metadata":{"name":"openshift-adp"}})");
  ASSERT_TRUE(r.status == 201 || r.status == 409) << r.body;
  // CSIDriver, StorageClasses, the DPA with the kubevirt plugin and its ReadOnly location: a DR
  // side that passes every preflight check (tests break one at a time).
  for (const auto& o : demo::drPrerequisites(drSite())) {
    r = dr->send("POST", collectionPath(o), o.dump());
    ASSERT_TRUE(r.status == 201 || r.status == 409) << collectionPath(o) << ": " << r.body;
  }
  const bool synced = waitFor(
      [&] {
        return dr->send("GET", "/apis/velero.io/v1/namespaces/openshift-adp/backups/" + name)
                   .status == 200;
      },
      20s);
  ASSERT_TRUE(synced) << "Velero backup sync did not import " << name << ": " << dr->stderrText();
  if (opt_.rbac) {
    if (primary) grant(*primary, opt_.rbac->primary);
    grant(*dr, opt_.rbac->dr);
  }
}

namespace {

Json rbacRules(const std::vector<RbacRule>& rules, bool oadpOnly) {
  Json out = Json::array();
  for (const auto& r : rules) {
    if (r.oadpOnly != oadpOnly) continue;
    out.push_back({{"apiGroups", {r.group}}, {"resources", r.resources}, {"verbs", r.verbs}});
  }
  return out;
}

}  // namespace

void FailoverLab::grant(KubeSimProcess& sim, const std::vector<RbacRule>& rules) {
  const std::string api = "/apis/rbac.authorization.k8s.io/v1";
  const std::string& user = opt_.rbac->user;
  const Json subjects = Json::array({{{"kind", "User"}, {"name", user}}});
  auto post = [&](const std::string& path, const Json& o) {
    auto r = sim.send("POST", api + path, o.dump());
    ASSERT_EQ(r.status, 201) << path << ": " << r.body;
  };
  // Cluster-wide: cluster-scoped PVs and namespaces, VMs across the protected namespaces.
  post("/clusterroles", {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                         {"kind", "ClusterRole"},
                         {"metadata", {{"name", user}}},
                         {"rules", rbacRules(rules, false)}});
  post("/clusterrolebindings",
       {{"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", "ClusterRoleBinding"},
        {"metadata", {{"name", user}}},
        {"roleRef",
         {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", user}}},
        {"subjects", subjects}});
  const Json oadp = rbacRules(rules, true);
  if (oadp.empty()) return;
  const std::string ns = "/namespaces/" + cfg.failover.oadpNamespace;
  post(ns + "/roles", {{"apiVersion", "rbac.authorization.k8s.io/v1"},
                       {"kind", "Role"},
                       {"metadata", {{"name", user}}},
                       {"rules", oadp}});
  post(ns + "/rolebindings",
       {{"apiVersion", "rbac.authorization.k8s.io/v1"},
        {"kind", "RoleBinding"},
        {"metadata", {{"name", user}}},
        {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", user}}},
        {"subjects", subjects}});
}

std::vector<RbacRule> LabRbac::documentedPrimary() {
  return {{"", {"persistentvolumes"}, {"get", "list", "watch"}},
          {"snapshot.storage.k8s.io", {"volumesnapshots"}, {"get", "list", "watch"}},
          {"snapshot.storage.k8s.io", {"volumesnapshotcontents"}, {"get"}},
          {"", {"persistentvolumeclaims"}, {"get"}},
          {"kubevirt.io", {"virtualmachines"}, {"get", "list", "patch"}},
          {"kubevirt.io", {"virtualmachineinstances"}, {"get"}}};
}

std::vector<RbacRule> LabRbac::documentedDr() {
  return {{"", {"namespaces"}, {"get", "create"}},
          {"", {"persistentvolumes", "persistentvolumeclaims"}, {"get", "create", "patch"}},
          {"velero.io", {"backups"}, {"get"}, true},
          {"velero.io", {"backupstoragelocations"}, {"list"}, true},
          {"velero.io", {"restores"}, {"create", "get"}, true},
          {"", {"configmaps"}, {"create", "get", "delete"}, true},
          {"oadp.openshift.io", {"dataprotectionapplications"}, {"list"}, true},
          {"kubevirt.io", {"virtualmachines"}, {"get", "list", "patch"}},
          // get: the guest-agent wait (failover.require_guest_agent) reads each VM's VMI.
          {"kubevirt.io", {"virtualmachineinstances"}, {"get"}},
          {"cdi.kubevirt.io", {"datavolumes"}, {"list"}},
          {"storage.k8s.io", {"csidrivers", "storageclasses"}, {"get"}},
          // Read only when a VM's ControllerRevision is missing from the backup.
          {"apps", {"controllerrevisions"}, {"get"}}};
}

namespace {

void scrub(Json& j, const std::string& runId) {
  if (j.is_object()) {
    for (const char* k : {"uid", "resourceVersion", "creationTimestamp", "managedFields",
                          "generation", "lastPhaseTransitionTime", "startTimestamp",
                          "completionTimestamp", "lastSyncedTime", "lastValidationTime"})
      j.erase(k);
    for (auto it = j.begin(); it != j.end(); ++it) scrub(it.value(), runId);
  } else if (j.is_array()) {
    for (auto& e : j) scrub(e, runId);
  } else if (j.is_string() && !runId.empty()) {
    std::string s = j.get<std::string>();
    for (auto p = s.find(runId); p != std::string::npos; p = s.find(runId))
      s.replace(p, runId.size(), "RUN");
    j = s;
  }
}

}  // namespace

Json FailoverLab::normalisedState(KubeSimProcess& sim, const std::string& runId) {
  Json st = sim.admin("GET", "/admin/state");
  Json objs = st["objects"];
  scrub(objs, runId);
  std::vector<Json> v(objs.begin(), objs.end());
  std::sort(v.begin(), v.end(), [](const Json& a, const Json& b) {
    auto key = [](const Json& o) {
      return o.value("kind", "") + "/" + o["metadata"].value("namespace", "") + "/" +
             o["metadata"].value("name", "");
    };
    return key(a) < key(b);
  });
  return Json(v);
}

CliRun runCli(const std::string& configPath, const std::vector<std::string>& args,
              const std::map<std::string, std::string>& env, const std::vector<std::string>& wrap,
              std::chrono::seconds timeout) {
  ProcessSpec spec;
  spec.argv = wrap;
  spec.argv.push_back(ocpvdrBinaryFor(env));
  spec.argv.insert(spec.argv.end(), {"-c", configPath, "--log-format", "json"});
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.env = env;
  spec.timeout = timeout;
  spec.maxCapture = 16 << 20;
  CliRun out = runCliProcess(spec);
  if (out.doc.is_discarded()) out.doc = nullptr;
  return out;
}

}  // namespace ocpvdr::testing
