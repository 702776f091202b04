// The DR-side preflight checks (see preflight.h for the list and the status rules).
#include "failover/preflight.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/text.h"
#include "kube/api_status.h"

namespace ocpvdr::failover {
using backup::kDataVolumes;
using backup::kPersistentVolumeClaims;
using backup::kPersistentVolumes;
using backup::kVirtualMachines;
using backup::TarballItem;

namespace preflight_resources {
const kube::ResourceType& csiDrivers() {
  static const kube::ResourceType t{
      "storage.k8s.io", "v1", "csidrivers", "CSIDriver", false, "", ""};
  return t;
}
const kube::ResourceType& storageClasses() {
  static const kube::ResourceType t{
      "storage.k8s.io", "v1", "storageclasses", "StorageClass", false, "", ""};
  return t;
}
const kube::ResourceType& dataProtectionApplications() {
  static const kube::ResourceType t{"oadp.openshift.io",
                                    "v1alpha1",
                                    "dataprotectionapplications",
                                    "DataProtectionApplication",
                                    true,
                                    "",
                                    ""};
  return t;
}
const kube::ResourceType& controllerRevisions() {
  static const kube::ResourceType t{"apps", "v1", "controllerrevisions", "ControllerRevision", true,
                                    "",     ""};
  return t;
}
}  // namespace preflight_resources

namespace {

namespace pr = preflight_resources;

std::string fieldAt(const Json& j, std::string_view path) {
  const Json* v = jsonAt(j, path);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

std::string joinedNames(const std::vector<std::string>& v, std::size_t max = 10) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < max; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > max) s += " and " + std::to_string(v.size() - max) + " more";
  return s;
}

bool isProtected(const DrCheckInput& in, const std::string& ns) {
  return std::binary_search(in.namespaces.begin(), in.namespaces.end(), ns);
}

// The backup's PVs that belong to a protected namespace's claim.
std::vector<const TarballItem*> protectedPvs(const DrCheckInput& in) {
  std::vector<const TarballItem*> out;
  for (const auto* pv : in.contents.of(kPersistentVolumes))
    if (isProtected(in, fieldAt(pv->object, "spec.claimRef.namespace"))) out.push_back(pv);
  return out;
}

std::vector<const TarballItem*> protectedItems(const DrCheckInput& in, std::string_view gr) {
  std::vector<const TarballItem*> out;
  for (const auto* item : in.contents.of(gr))
    if (isProtected(in, item->ns)) out.push_back(item);
  return out;
}

CheckRow row(std::string check) {
  CheckRow r;
  r.check = std::move(check);
  return r;
}

bool readsConfiguredStore(const DrCheckInput& in, const Json& bsl) {
  return fieldAt(bsl, "spec.objectStorage.bucket") == in.cfg.backupStore.bucket &&
         std::string(trim(fieldAt(bsl, "spec.objectStorage.prefix"), "/")) ==
             std::string(trim(in.cfg.backupStore.prefix, "/"));
}

std::string storeText(const DrCheckInput& in) {
  return "bucket " + in.cfg.backupStore.bucket + ", prefix \"" +
         std::string(trim(in.cfg.backupStore.prefix, "/")) + "\"";
}

std::string bslText(const Json& bsl) {
  return fieldAt(bsl, "metadata.name") + " (bucket " + fieldAt(bsl, "spec.objectStorage.bucket") +
         ", prefix \"" + std::string(trim(fieldAt(bsl, "spec.objectStorage.prefix"), "/")) + "\")";
}

}  // namespace

std::string_view toString(CheckStatus s) {
  switch (s) {
    case CheckStatus::Pass:
      return "pass";
    case CheckStatus::Warn:
      return "warn";
    case CheckStatus::Fail:
      return "fail";
  }
  return "fail";
}

Json toJson(const CheckRow& r) {
  return {{"check", r.check},
          {"status", std::string(toString(r.status))},
          {"summary", r.summary},
          {"fix", r.fix},
          {"details", r.details}};
}

bool DrChecks::failed() const {
  return std::any_of(rows.begin(), rows.end(),
                     [](const CheckRow& r) { return r.status == CheckStatus::Fail; });
}

// --- csi-driver ----------------------------------------------------------------------------

CheckRow checkCsiDriver(const DrCheckInput& in) {
  CheckRow r = row("csi-driver");
  std::map<std::string, std::vector<std::string>> pvsByDriver;
  for (const auto* pv : protectedPvs(in)) {
    const std::string driver = fieldAt(pv->object, "spec.csi.driver");
    if (!driver.empty()) pvsByDriver[driver].push_back(pv->name);
  }
  r.details["drivers"] = Json::object();
  if (pvsByDriver.empty()) {
    r.summary = "no PV of the backup is a CSI volume: no CSIDriver needed";
    return r;
  }
  std::vector<std::string> missing, unchecked;
  for (const auto& [driver, pvs] : pvsByDriver) {
    auto got = in.dr.get(pr::csiDrivers(), "", driver, in.stop);
    std::string state = "present";
    if (!got.ok()) {
      state = kube::isNotFound(got.error()) ? "missing" : "unknown: " + got.error().message;
      (kube::isNotFound(got.error()) ? missing : unchecked).push_back(driver);
    }
    r.details["drivers"][driver] = {{"pvs", pvs.size()}, {"state", state}};
  }
  if (!missing.empty()) {
    r.status = CheckStatus::Fail;
    r.summary = "the DR cluster has no CSIDriver " + joinedNames(missing) + ", which " +
                std::to_string(pvsByDriver[missing.front()].size()) +
                " PV(s) of the backup use (e.g. " + pvsByDriver[missing.front()].front() +
                "): the kubelet cannot mount them";
    r.fix = "install csi-driver-nfs at DR (it creates CSIDriver " + std::string(kNfsCsiDriver) +
            "; `oc get csidriver`), with the same driver name as the primary";
  } else if (!unchecked.empty()) {
    r.status = CheckStatus::Warn;
    r.summary = "could not read CSIDriver " + joinedNames(unchecked) + " at DR";
    r.fix = "check the DR credentials may get storage.k8s.io csidrivers, then re-run the plan";
  } else {
    std::vector<std::string> names;
    for (const auto& [d, _] : pvsByDriver) names.push_back(d);
    r.summary = "CSIDriver " + joinedNames(names) + " present at DR";
  }
  return r;
}

// --- storage-classes -----------------------------------------------------------------------

CheckRow checkStorageClasses(const DrCheckInput& in) {
  CheckRow r = row("storage-classes");
  // class -> the objects naming it
  std::map<std::string, std::vector<std::string>> users;
  auto add = [&](const std::string& cls, const std::string& who) {
    if (!cls.empty()) users[cls].push_back(who);
  };
  for (const auto* pv : protectedPvs(in))
    add(fieldAt(pv->object, "spec.storageClassName"), "PV " + pv->name);
  for (const auto* pvc : protectedItems(in, kPersistentVolumeClaims))
    add(fieldAt(pvc->object, "spec.storageClassName"), "PVC " + pvc->ns + "/" + pvc->name);
  for (const auto* dv : protectedItems(in, kDataVolumes)) {
    add(fieldAt(dv->object, "spec.storage.storageClassName"),
        "DataVolume " + dv->ns + "/" + dv->name);
    add(fieldAt(dv->object, "spec.pvc.storageClassName"), "DataVolume " + dv->ns + "/" + dv->name);
  }
  r.details["classes"] = Json::object();
  if (users.empty()) {
    r.summary = "the backup's volumes name no StorageClass";
    return r;
  }
  std::vector<std::string> missing, unchecked, present;
  for (const auto& [cls, who] : users) {
    auto got = in.dr.get(pr::storageClasses(), "", cls, in.stop);
    std::string state = "present";
    if (got.ok()) {
      present.push_back(cls);
    } else if (kube::isNotFound(got.error())) {
      state = "missing";
      missing.push_back(cls + " (" + who.front() +
                        (who.size() > 1 ? " and " + std::to_string(who.size() - 1) + " more" : "") +
                        ")");
    } else {
      state = "unknown: " + got.error().message;
      unchecked.push_back(cls);
    }
    r.details["classes"][cls] = {{"users", who.size()}, {"state", state}};
  }
  if (!missing.empty()) {
    r.status = CheckStatus::Fail;
    r.summary = "StorageClass " + joinedNames(missing) + " missing at DR";
    r.fix =
        "create the StorageClass(es) at DR with the same names (provisioner and parameters for "
        "the DR NFS server): CDI and KubeVirt look the class up for DataVolumes, clones and "
        "snapshots, and new volumes of these VMs are provisioned from it";
  } else if (!unchecked.empty()) {
    r.status = CheckStatus::Warn;
    r.summary = "could not read StorageClass " + joinedNames(unchecked) + " at DR";
    r.fix = "check the DR credentials may get storage.k8s.io storageclasses, then re-run the plan";
  } else {
    r.summary = "StorageClass " + joinedNames(present) + " present at DR";
  }
  return r;
}

// --- dpa-kubevirt-plugin -------------------------------------------------------------------

CheckRow checkDpaKubevirtPlugin(const DrCheckInput& in) {
  CheckRow r = row("dpa-kubevirt-plugin");
  const std::string& ns = in.cfg.failover.oadpNamespace;
  auto list = in.dr.listAll(pr::dataProtectionApplications(), ns, {}, in.stop);
  if (!list.ok()) {
    r.status = CheckStatus::Warn;
    if (kube::isNotFound(list.error())) {
      r.summary = "the DR cluster serves no DataProtectionApplication API (no OADP operator?)";
      r.fix =
          "with plain Velero make sure it runs with kubevirt-velero-plugin; with OADP install "
          "the operator and a DataProtectionApplication in " +
          ns + " listing the kubevirt plugin";
    } else {
      r.summary =
          "could not list DataProtectionApplications in " + ns + " at DR: " + list.error().message;
      r.fix = "check the DR credentials may list oadp.openshift.io dataprotectionapplications";
    }
    return r;
  }
  std::vector<std::string> names, without;
  for (const auto& dpa : list->items) {
    const std::string name = fieldAt(dpa, "metadata.name");
    names.push_back(name);
    bool has = false;
    if (const Json* p = jsonAt(dpa, "spec.configuration.velero.defaultPlugins"); p && p->is_array())
      for (const auto& plugin : *p) has = has || (plugin.is_string() && plugin == "kubevirt");
    if (const Json* p = jsonAt(dpa, "spec.configuration.velero.customPlugins"); p && p->is_array())
      for (const auto& plugin : *p)
        has = has || fieldAt(plugin, "image").find("kubevirt-velero-plugin") != std::string::npos;
    r.details["dataProtectionApplications"][name] = {{"kubevirtPlugin", has}};
    if (!has) without.push_back(name);
  }
  if (names.empty()) {
    r.status = CheckStatus::Fail;
    r.summary = "no DataProtectionApplication in namespace " + ns + " at DR";
    r.fix = "create the DataProtectionApplication at DR (failover.oadp_namespace = " + ns +
            ") with spec.configuration.velero.defaultPlugins including kubevirt, and a "
            "backup location on the primary's bucket and prefix (accessMode: ReadOnly)";
  } else if (without.size() == names.size()) {
    r.status = CheckStatus::Fail;
    r.summary = "DataProtectionApplication " + joinedNames(without) + " in " + ns +
                " does not list the kubevirt plugin: Velero would restore VMs and DataVolumes "
                "without kubevirt-velero-plugin's restore actions (VMIs and launcher pods "
                "skipped, DataVolumes kept from re-importing, run strategy)";
    r.fix =
        "add kubevirt to spec.configuration.velero.defaultPlugins of the "
        "DataProtectionApplication at DR and wait until the Velero pod restarted";
  } else {
    r.summary = "DataProtectionApplication " + joinedNames(names) + " lists the kubevirt plugin";
  }
  return r;
}

// --- backup-location -----------------------------------------------------------------------

FoundLocation findBackupLocation(const DrCheckInput& in) {
  FoundLocation f;
  const std::string& ns = in.cfg.failover.oadpNamespace;
  const std::string& named = in.cfg.failover.storageLocation;
  if (!named.empty()) {
    f.how = "failover.storage_location";
    auto got = in.dr.get(kube::resources::backupStorageLocations(), ns, named, in.stop);
    if (!got.ok()) {
      f.problem = kube::isNotFound(got.error())
                      ? "BackupStorageLocation " + named +
                            " (failover.storage_location) does "
                            "not exist in namespace " +
                            ns + " of the DR cluster"
                      : "could not read BackupStorageLocation " + ns + "/" + named +
                            " at DR: " + got.error().message;
      f.fix = "create it at DR (the DataProtectionApplication's backupLocations, reading " +
              storeText(in) + ", accessMode ReadOnly), or set failover.storage_location to " +
              "the DR's location, or leave it empty to find it by bucket and prefix";
      return f;
    }
    f.name = named;
    f.object = std::move(got).value();
    if (!readsConfiguredStore(in, f.object)) {
      f.problem = "BackupStorageLocation " + bslText(f.object) +
                  " (failover.storage_location) does not read backup_store's " + storeText(in) +
                  ": Velero at DR would not find the backup there";
      f.fix = "point failover.storage_location at the DR location that reads " + storeText(in) +
              ", or fix backup_store";
    }
    return f;
  }
  auto list = in.dr.listAll(kube::resources::backupStorageLocations(), ns, {}, in.stop);
  if (!list.ok()) {
    f.problem =
        "could not list BackupStorageLocations in " + ns + " at DR: " + list.error().message;
    f.fix = "check failover.oadp_namespace and the DR credentials";
    return f;
  }
  std::vector<const Json*> matching, defaults;
  std::vector<std::string> all;
  for (const auto& bsl : list->items) {
    all.push_back(bslText(bsl));
    const Json* d = jsonAt(bsl, "spec.default");
    const bool isDefault = d && d->is_boolean() && d->get<bool>();
    if (readsConfiguredStore(in, bsl)) {
      matching.push_back(&bsl);
      if (isDefault) defaults.push_back(&bsl);
    }
  }
  if (matching.size() == 1) {
    f.how = "bucket and prefix";
    f.object = *matching.front();
  } else if (defaults.size() == 1) {
    f.how = "spec.default";
    f.object = *defaults.front();
  } else if (matching.empty()) {
    f.problem = "no BackupStorageLocation in namespace " + ns + " of the DR cluster reads " +
                storeText(in) +
                (all.empty() ? " (there is none)" : " (found: " + joinedNames(all) + ")");
    f.fix = "add a backup location on " + storeText(in) +
            " with accessMode: ReadOnly to the DR's DataProtectionApplication, or set "
            "failover.storage_location to its name";
    return f;
  } else {
    std::vector<std::string> names;
    for (const auto* m : matching) names.push_back(fieldAt(*m, "metadata.name"));
    f.problem = "several BackupStorageLocations at DR read " + storeText(in) + " (" +
                joinedNames(names) + ") and not exactly one of them is spec.default";
    f.fix = "name the one to use in failover.storage_location";
    return f;
  }
  f.name = fieldAt(f.object, "metadata.name");
  return f;
}

CheckRow checkBackupLocation(const DrCheckInput& in, const FoundLocation& loc) {
  CheckRow r = row("backup-location");
  if (!loc.name.empty()) {
    r.details = {{"name", loc.name},
                 {"namespace", in.cfg.failover.oadpNamespace},
                 {"foundBy", loc.how},
                 {"bucket", fieldAt(loc.object, "spec.objectStorage.bucket")},
                 {"prefix", fieldAt(loc.object, "spec.objectStorage.prefix")},
                 {"phase", fieldAt(loc.object, "status.phase")}};
  }
  if (!loc.problem.empty()) {
    r.status = CheckStatus::Fail;
    r.summary = loc.problem;
    r.fix = loc.fix;
    return r;
  }
  const std::string phase = fieldAt(loc.object, "status.phase");
  r.summary =
      "BackupStorageLocation " + loc.name + " (found by " + loc.how + ") reads " + storeText(in);
  if (!phase.empty() && phase != "Available") {
    r.status = CheckStatus::Warn;
    r.summary += ", but it is " + phase + ", not Available";
    r.fix = "check its credentials and endpoint (`oc -n " + in.cfg.failover.oadpNamespace +
            " describe backupstoragelocation " + loc.name +
            "`): Velero may not sync or read backups from it";
  }
  return r;
}

CheckRow checkBackupLocationAccess(const DrCheckInput& in, const FoundLocation& loc) {
  CheckRow r = row("backup-location-access");
  if (loc.name.empty()) {
    r.status = CheckStatus::Warn;
    r.summary = "not checked: no backup location found (see backup-location)";
    r.fix = loc.fix;
    return r;
  }
  std::string mode = fieldAt(loc.object, "spec.accessMode");
  r.details = {{"accessMode", mode.empty() ? Json(nullptr) : Json(mode)}};
  if (mode == "ReadOnly") {
    r.summary = "BackupStorageLocation " + loc.name + " is ReadOnly";
    return r;
  }
  r.status = CheckStatus::Warn;
  r.summary = "BackupStorageLocation " + loc.name + " is " +
              (mode.empty() ? std::string("ReadWrite (the default)") : mode) +
              ": the DR Velero may garbage-collect expired backups and write restores in the "
              "prefix the primary still uses";
  r.fix =
      "set accessMode: ReadOnly on that location (in the DR DataProtectionApplication's "
      "backupLocations[].velero.accessMode, or `oc -n " +
      in.cfg.failover.oadpNamespace + " patch backupstoragelocation " + loc.name +
      " --type merge -p '{\"spec\":{\"accessMode\":\"ReadOnly\"}}'`); switch it to ReadWrite "
      "only when DR becomes the site that takes backups";
  return r;
}

// --- existing-objects ----------------------------------------------------------------------

CheckRow checkExistingObjects(const DrCheckInput& in) {
  CheckRow r = row("existing-objects");
  struct Kind {
    std::string_view groupResource;
    const kube::ResourceType& type;
    std::string label;
  };
  const Kind kinds[] = {{kVirtualMachines, kube::resources::virtualMachines(), "VirtualMachine"},
                        {kDataVolumes, kube::resources::dataVolumes(), "DataVolume"}};
  std::vector<std::string> found, errors;
  r.details["present"] = Json::array();
  for (const auto& k : kinds) {
    std::map<std::string, std::set<std::string>> wanted;  // ns -> names in the backup
    for (const auto* item : protectedItems(in, k.groupResource))
      wanted[item->ns].insert(item->name);
    for (const auto& [ns, names] : wanted) {
      auto list = in.dr.listAll(k.type, ns, {}, in.stop);
      if (!list.ok()) {
        // A DR cluster without the CRD has none of these objects.
        if (!kube::isNotFound(list.error()))
          errors.push_back(k.label + "s in " + ns + ": " + list.error().message);
        continue;
      }
      for (const auto& o : list->items) {
        const std::string name = fieldAt(o, "metadata.name");
        if (!names.count(name)) continue;
        found.push_back(k.label + " " + ns + "/" + name);
        r.details["present"].push_back({{"kind", k.label}, {"namespace", ns}, {"name", name}});
      }
    }
  }
  if (!found.empty()) {
    r.status = CheckStatus::Fail;
    r.summary = joinedNames(found) +
                " already exist(s) at DR: the Restore (existingResourcePolicy none) would keep "
                "the DR's object instead of the backup's, and a DataVolume already there would "
                "be reconciled against the failed-over PVC";
    r.fix =
        "find out where they come from (an earlier failover or test restore?); if they are "
        "leftovers, delete them at DR — never with their PVCs if those hold replicated "
        "data — or exclude their namespace from failover.protected_namespaces";
  } else if (!errors.empty()) {
    r.status = CheckStatus::Fail;
    r.summary = "could not list " + joinedNames(errors);
    r.fix =
        "check the DR credentials may list kubevirt.io virtualmachines and cdi.kubevirt.io "
        "datavolumes in the protected namespaces";
  } else {
    r.summary = "no VirtualMachine or DataVolume of the backup exists at DR yet";
  }
  return r;
}

// --- vm-revisions --------------------------------------------------------------------------

CheckRow checkVmRevisions(const DrCheckInput& in) {
  CheckRow r = row("vm-revisions");
  std::set<std::string> inBackup;  // ns/name
  for (const auto* cr : in.contents.of(kControllerRevisions))
    inBackup.insert(cr->ns + "/" + cr->name);
  std::vector<std::string> missing, unrecorded, unchecked;
  int referencing = 0;
  r.details["revisions"] = Json::array();
  for (const auto* vm : protectedItems(in, kVirtualMachines)) {
    const std::string who = vm->ns + "/" + vm->name;
    // spec.<kind> is the matcher; the revision is recorded in spec.<kind>.revisionName (older
    // KubeVirt) or status.<kind>Ref.controllerRevisionRef.name (KubeVirt >= 1.3).
    for (const std::string kind : {"instancetype", "preference"}) {
      const Json* matcher = jsonAt(vm->object, "spec." + kind);
      if (!matcher || !matcher->is_object()) continue;
      ++referencing;
      std::string revision = fieldAt(*matcher, "revisionName");
      if (revision.empty())
        revision = fieldAt(vm->object, "status." + kind + "Ref.controllerRevisionRef.name");
      const std::string ref = kind + " " + fieldAt(*matcher, "name");
      if (revision.empty()) {
        unrecorded.push_back(who + " (" + ref + ")");
        continue;
      }
      std::string state = "in backup";
      if (!inBackup.count(vm->ns + "/" + revision)) {
        auto got = in.dr.get(pr::controllerRevisions(), vm->ns, revision, in.stop);
        if (got.ok()) {
          state = "at DR";
        } else if (kube::isNotFound(got.error())) {
          state = "missing";
          missing.push_back(who + " (" + ref + ", revision " + revision + ")");
        } else {
          state = "unknown: " + got.error().message;
          unchecked.push_back(who + " (" + ref + ")");
        }
      }
      r.details["revisions"].push_back(
          {{"vm", who}, {"kind", kind}, {"revision", revision}, {"state", state}});
    }
  }
  if (!missing.empty()) {
    r.status = CheckStatus::Fail;
    r.summary = "ControllerRevision missing from the backup and the DR cluster for VM " +
                joinedNames(missing) +
                ": KubeVirt cannot start a VM whose recorded revision is gone";
    r.fix =
        "take a new backup that includes controllerrevisions (kubevirt-velero-plugin adds "
        "them to a VM's backup; do not exclude controllerrevisions.apps), or create the "
        "revisions at DR from the primary (`oc get controllerrevision <name> -o yaml`)";
  } else if (!unchecked.empty()) {
    r.status = CheckStatus::Warn;
    r.summary = "could not read ControllerRevisions at DR for VM " + joinedNames(unchecked);
    r.fix = "check the DR credentials may get apps controllerrevisions";
  } else if (!unrecorded.empty()) {
    r.status = CheckStatus::Warn;
    r.summary = "VM " + joinedNames(unrecorded) +
                " uses an instancetype or preference without a recorded revision: KubeVirt at "
                "DR makes a new revision from the DR cluster's object of that name";
    r.fix =
        "make sure the instancetypes/preferences exist at DR with the same definition "
        "(`oc get virtualmachineclusterinstancetype,virtualmachineinstancetype`)";
  } else if (referencing == 0) {
    r.summary = "no VM of the backup uses an instancetype or preference";
  } else {
    r.summary = "every instancetype/preference revision the VMs name is in the backup or at DR";
  }
  return r;
}

// --- all -----------------------------------------------------------------------------------

DrChecks runDrChecks(const DrCheckInput& in) {
  DrChecks out;
  out.location = findBackupLocation(in);
  out.rows.push_back(checkCsiDriver(in));
  out.rows.push_back(checkStorageClasses(in));
  out.rows.push_back(checkDpaKubevirtPlugin(in));
  out.rows.push_back(checkBackupLocation(in, out.location));
  out.rows.push_back(checkBackupLocationAccess(in, out.location));
  out.rows.push_back(checkExistingObjects(in));
  out.rows.push_back(checkVmRevisions(in));
  return out;
}

}  // namespace ocpvdr::failover
