// Velero backup sync and restore (see velero_controller.h).
#include "velero_controller.h"

#include <algorithm>
#include <cctype>
#include <iostream>
#include <map>
#include <vector>

#include "core/json_util.h"
#include "core/time.h"
#include "resource_modifiers.h"
#include "velero_storage.h"

namespace kubesim {
namespace {

constexpr const char* kRunStrategyLabel = "velero.kubevirt.io/restore-run-strategy";

const ResourceType& typeOf(const Store& s, const char* group, const char* plural) {
  const char* version = std::string_view(group) == "velero.io"         ? "v1"
                        : std::string_view(group) == "kubevirt.io"     ? "v1"
                        : std::string_view(group) == "cdi.kubevirt.io" ? "v1beta1"
                                                                       : "v1";
  return *s.table().find(group, version, plural);
}
const ResourceType& backupType(const Store& s) {
  return typeOf(s, "velero.io", "backups");
}
const ResourceType& restoreType(const Store& s) {
  return typeOf(s, "velero.io", "restores");
}
const ResourceType& bslType(const Store& s) {
  return typeOf(s, "velero.io", "backupstoragelocations");
}
const ResourceType& namespaceType(const Store& s) {
  return typeOf(s, "", "namespaces");
}
const ResourceType& configMapType(const Store& s) {
  return typeOf(s, "", "configmaps");
}

// The Restore's spec.resourceModifier, loaded as pkg/controller/restore_controller.go does:
// only kind ConfigMap (case-insensitive) is read, from the Restore's namespace. nullopt-like
// empty rules when the Restore names none; an error message when it cannot be used.
struct LoadedModifiers {
  std::optional<ResourceModifiers> modifiers;
  std::string error;
};
LoadedModifiers loadModifiers(const Store& store, const std::string& ns, const Json& restore) {
  LoadedModifiers out;
  const Json& ref = child(child(restore, "spec"), "resourceModifier");
  if (!ref.is_object()) return out;
  std::string kind = str(ref, "kind");
  std::transform(kind.begin(), kind.end(), kind.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (kind != "configmap") return out;
  const std::string name = str(ref, "name");
  auto cm = store.get(configMapType(store), ns, name);
  if (!cm.ok()) {
    out.error = "failed to get resource modifiers configmap " + ns + "/" + name;
    return out;
  }
  auto parsed = ResourceModifiers::fromConfigMap(cm.value()->object);
  if (!parsed.ok()) {
    out.error = "Error in parsing resource modifiers provided in configmap " + ns + "/" + name +
                ": " + parsed.error().message;
    return out;
  }
  out.modifiers = std::move(parsed).value();
  return out;
}

// "v0.7.1" -> {0, 7, 1}; unparsable parts count as 0.
std::vector<int> versionParts(const std::string& v) {
  std::vector<int> parts;
  std::string cur;
  for (char c : v.substr(!v.empty() && (v[0] == 'v' || v[0] == 'V') ? 1 : 0) + ".") {
    if (c == '.') {
      try {
        parts.push_back(cur.empty() ? 0 : std::stoi(cur));
      } catch (const std::exception&) {
        parts.push_back(0);
      }
      cur.clear();
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      cur += c;
    } else {
      break;  // "-rc.1" and the like
    }
  }
  while (parts.size() < 3) parts.push_back(0);
  return parts;
}

WriteOptions asVelero() {
  WriteOptions o;
  o.fieldManager = "velero-server";
  return o;
}

std::vector<std::string> strings(const Json& j) {
  std::vector<std::string> out;
  if (!j.is_array()) return out;
  for (const auto& v : j)
    if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

std::string timestamp(ocpvdr::SystemTime t) {
  return ocpvdr::formatTime(t);
}

void setRestoreStatus(Store& store, const std::string& ns, const std::string& name,
                      const Json& fields) {
  (void)store.modify(
      restoreType(store), ns, name,
      [&](Json& o) {
        Json& st = o["status"];
        if (!st.is_object()) st = Json::object();
        for (auto it = fields.begin(); it != fields.end(); ++it) st[it.key()] = it.value();
      },
      asVelero());
}

bool isTerminalBackupPhase(const std::string& p) {
  return p == "Completed" || p == "PartiallyFailed" || p == "Failed" || p == "FailedValidation" ||
         p == "Deleting";
}

// The served type an item's directory names ("virtualmachines.kubevirt.io"), or null.
const ResourceType* servedType(const Store& store, const std::string& groupResource) {
  for (const auto& t : store.table().all())
    if (t.groupResource() == groupResource) return &t;
  return nullptr;
}

bool excluded(const ResourceType* type, const std::string& groupResource,
              const std::vector<std::string>& excludedResources) {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
  };
  for (const auto& e : excludedResources) {
    const std::string x = lower(e);
    if (x == "*" || x == groupResource) return true;
    if (!type) continue;
    if (x == type->plural || x == lower(type->kind) || x == type->singular) return true;
    for (const auto& s : type->shortNames)
      if (x == s) return true;
  }
  return false;
}

Json sanitise(const Json& item, const ResourceType& type, const std::string& backup,
              const std::string& restore) {
  Json o = item;
  o["apiVersion"] = type.apiVersion();
  o["kind"] = type.kind;
  o.erase("status");
  Json& md = o["metadata"];
  if (!md.is_object()) md = Json::object();
  for (const char* k :
       {"uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink",
        "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences"})
    md.erase(k);
  Json& labels = md["labels"];
  if (!labels.is_object()) labels = Json::object();
  labels["velero.io/backup-name"] = backup;
  labels["velero.io/restore-name"] = restore;
  return o;
}

int orderOf(const ResourceType& t) {
  if (t.plural == "namespaces") return 0;
  if (t.plural == "datavolumes") return 1;
  if (t.plural == "virtualmachines") return 3;
  return 2;
}

}  // namespace

bool VeleroController::honoursRunStrategyLabel() const {
  return versionParts(kubevirtPluginVersion_) >= std::vector<int>{0, 7, 1};
}

void VeleroController::onEvent(const Event& event, Store& store) {
  if (event.type != &restoreType(store) || event.kind == EventType::Deleted) return;
  const std::string phase = str(child(event.object->object, "status"), "phase");
  if (phase.empty() || phase == "New") validateRestore(store, event.object->ns, event.object->name);
}

void VeleroController::validateRestore(Store& store, const std::string& ns,
                                       const std::string& name) {
  auto got = store.get(restoreType(store), ns, name);
  if (!got.ok()) return;
  const Json& r = got.value()->object;
  const std::string phase = str(child(r, "status"), "phase");
  if (!phase.empty() && phase != "New") return;
  const std::string backupName = str(child(r, "spec"), "backupName");
  std::vector<std::string> problems;
  if (backupName.empty()) {
    problems.push_back("BackupName must be provided");
  } else {
    auto b = store.get(backupType(store), ns, backupName);
    if (!b.ok()) {
      problems.push_back("Error retrieving backup: backups.velero.io \"" + backupName +
                         "\" not found");
    } else {
      const std::string bp = str(child(b.value()->object, "status"), "phase");
      if (bp != "Completed" && bp != "PartiallyFailed")
        problems.push_back("backup " + backupName + " is in phase " +
                           (bp.empty() ? std::string("New") : bp) +
                           "; only Completed or PartiallyFailed backups can be restored");
    }
  }
  if (auto m = loadModifiers(store, ns, r); !m.error.empty()) problems.push_back(m.error);
  if (!problems.empty()) {
    setRestoreStatus(store, ns, name,
                     {{"phase", "FailedValidation"}, {"validationErrors", problems}});
    return;
  }
  setRestoreStatus(store, ns, name, {{"phase", "InProgress"}});
  pending_.insert(ns + "/" + name);
}

void VeleroController::tick(Store& store, ocpvdr::SystemTime now) {
  if (!lastSync_ || now - *lastSync_ >= syncInterval_) {
    lastSync_ = now;
    syncBackups(store, now);
  }
  auto pending = std::move(pending_);
  pending_.clear();
  for (const auto& key : pending) {
    const auto slash = key.find('/');
    runRestore(store, key.substr(0, slash), key.substr(slash + 1), now);
  }
}

void VeleroController::syncBackups(Store& store, ocpvdr::SystemTime now) {
  ListRequest all;
  auto bsls = store.list(bslType(store), all);
  if (!bsls.ok()) return;
  for (const auto& bsl : bsls.value().items) {
    auto setPhase = [&](const std::string& phase, const std::string& message) {
      (void)store.modify(
          bslType(store), bsl->ns, bsl->name,
          [&](Json& o) {
            Json& st = o["status"];
            if (!st.is_object()) st = Json::object();
            st["phase"] = phase;
            if (phase == "Available") {
              st["lastSyncedTime"] = timestamp(now);
              st.erase("message");
            } else {
              st["message"] = message;
            }
            st["lastValidationTime"] = timestamp(now);
          },
          asVelero());
    };
    auto loc = s3LocationOf(bsl->object);
    if (!loc.ok()) {
      setPhase("Unavailable", loc.error().message);
      continue;
    }
    const std::string base = loc.value().backupsPrefix();
    auto keys = s3ListKeys(loc.value(), base);
    if (!keys.ok()) {
      setPhase("Unavailable", keys.error().message);
      continue;
    }
    for (const auto& key : keys.value()) {
      // <base><name>/velero-backup.json
      static const std::string kMeta = "/velero-backup.json";
      if (key.size() <= base.size() + kMeta.size() ||
          key.compare(key.size() - kMeta.size(), kMeta.size(), kMeta) != 0)
        continue;
      const std::string name = key.substr(base.size(), key.size() - base.size() - kMeta.size());
      if (name.find('/') != std::string::npos) continue;
      auto existing = store.get(backupType(store), bsl->ns, name);
      if (existing.ok() &&
          isTerminalBackupPhase(str(child(existing.value()->object, "status"), "phase")))
        continue;
      auto doc = s3GetObject(loc.value(), key);
      if (!doc.ok()) continue;
      Json b = Json::parse(doc.value(), nullptr, false);
      if (!b.is_object()) continue;
      if (existing.ok()) {
        const Json status = child(b, "status");
        (void)store.modify(
            backupType(store), bsl->ns, name, [&](Json& o) { o["status"] = status; }, asVelero());
        continue;
      }
      Json obj = {{"apiVersion", "velero.io/v1"},
                  {"kind", "Backup"},
                  {"metadata", {{"name", name}, {"namespace", bsl->ns}}},
                  {"spec", child(b, "spec").is_object() ? child(b, "spec") : Json::object()}};
      if (child(b, "status").is_object()) obj["status"] = child(b, "status");
      Json labels = child(child(b, "metadata"), "labels");
      if (!labels.is_object()) labels = Json::object();
      labels["velero.io/storage-location"] = bsl->name;
      obj["metadata"]["labels"] = labels;
      obj["spec"]["storageLocation"] = bsl->name;
      auto created = store.create(backupType(store), bsl->ns, obj, asVelero());
      if (!created.ok())
        std::cerr << "kube-sim velero: cannot create Backup " << bsl->ns << "/" << name << ": "
                  << created.error().message << "\n";
    }
    setPhase("Available", "");
  }
}

void VeleroController::runRestore(Store& store, const std::string& ns, const std::string& name,
                                  ocpvdr::SystemTime now) {
  auto got = store.get(restoreType(store), ns, name);
  if (!got.ok()) return;
  const Json restore = got.value()->object;
  if (str(child(restore, "status"), "phase") != "InProgress") return;
  setRestoreStatus(store, ns, name, {{"startTimestamp", timestamp(now)}});
  const Json& spec = child(restore, "spec");
  const std::string backupName = str(spec, "backupName");
  auto fail = [&](const std::string& reason) {
    std::cerr << "kube-sim velero: restore " << ns << "/" << name << " failed: " << reason << "\n";
    setRestoreStatus(
        store, ns, name,
        {{"phase", "Failed"}, {"failureReason", reason}, {"completionTimestamp", timestamp(now)}});
  };

  auto backup = store.get(backupType(store), ns, backupName);
  if (!backup.ok()) return fail("backup " + backupName + " not found");
  std::string location = str(child(backup.value()->object, "spec"), "storageLocation");
  if (location.empty()) location = "default";
  auto bsl = store.get(bslType(store), ns, location);
  if (!bsl.ok()) return fail("backup storage location " + location + " not found");
  auto loc = s3LocationOf(bsl.value()->object);
  if (!loc.ok()) return fail(loc.error().message);
  auto bytes = s3GetObject(loc.value(),
                           loc.value().backupsPrefix() + backupName + "/" + backupName + ".tar.gz");
  if (!bytes.ok()) return fail("downloading the backup: " + bytes.error().message);
  auto items = readBackupTarball(bytes.value());
  if (!items.ok()) return fail(items.error().message);

  std::vector<std::string> included = strings(child(spec, "includedNamespaces"));
  const bool allNamespaces =
      included.empty() || std::find(included.begin(), included.end(), "*") != included.end();
  const std::vector<std::string> excludedResources = strings(child(spec, "excludedResources"));
  const bool clusterResources =
      child(spec, "includeClusterResources").is_boolean() && spec["includeClusterResources"];
  const bool update = str(spec, "existingResourcePolicy") == "update";
  // kubevirt-velero-plugin's VM restore item action honours the label from v0.7.1 on
  // (pkg/plugin/vm_restore_item_action.go); v0.7.0 (OADP 1.4) restores the backup's strategy.
  const std::string runStrategy =
      honoursRunStrategyLabel()
          ? str(child(child(restore, "metadata"), "labels"), kRunStrategyLabel)
          : std::string();
  LoadedModifiers modifiers = loadModifiers(store, ns, restore);
  if (!modifiers.error.empty()) return fail(modifiers.error);
  auto nsIncluded = [&](const std::string& n) {
    return allNamespaces || std::find(included.begin(), included.end(), n) != included.end();
  };

  struct Planned {
    const ResourceType* type;
    Json object;
    std::string ns, name;
  };
  std::vector<Planned> plan;
  int warnings = 0, errors = 0, restored = 0, modifierErrors = 0;
  std::set<std::string> namespacesNeeded;
  for (const auto& item : items.value()) {
    const ResourceType* type = servedType(store, item.groupResource);
    if (excluded(type, item.groupResource, excludedResources)) continue;
    if (item.ns.empty()) {
      if (item.groupResource == "namespaces") {
        if (!nsIncluded(item.name)) continue;
      } else if (!clusterResources) {
        continue;
      }
    } else if (!nsIncluded(item.ns)) {
      continue;
    }
    if (!type) {
      ++warnings;  // a resource this cluster does not serve
      continue;
    }
    if (type->plural == "virtualmachineinstances") {
      bool owned = false;
      const Json& refs = child(child(item.object, "metadata"), "ownerReferences");
      if (refs.is_array())
        for (const auto& r : refs) owned = owned || str(r, "kind") == "VirtualMachine";
      if (owned) continue;
    }
    Json obj = sanitise(item.object, *type, backupName, name);
    if (type->plural == "virtualmachines" && !runStrategy.empty()) {
      if (!obj["spec"].is_object()) obj["spec"] = Json::object();
      obj["spec"].erase("running");
      obj["spec"]["runStrategy"] = runStrategy;
    }
    // Resource modifiers run after the restore item actions (pkg/restore/restore.go,
    // restoreItem); a failing rule is an error of the restore, and the item is still created.
    // Namespaces are not restored through restoreItem, so modifiers never see them.
    if (modifiers.modifiers && type->plural != "namespaces") {
      for (const auto& e : modifiers.modifiers->apply(obj, item.groupResource, type->custom)) {
        ++modifierErrors;
        std::cerr << "kube-sim velero: restore " << ns << "/" << name << ": resource modifier on "
                  << item.groupResource << " " << item.ns << "/" << item.name << ": " << e << "\n";
      }
    }
    if (!item.ns.empty()) namespacesNeeded.insert(item.ns);
    plan.push_back({type, std::move(obj), item.ns, item.name});
  }
  // Namespaces the items live in, created bare when the backup does not hold them.
  for (const auto& n : namespacesNeeded) {
    bool held = false;
    for (const auto& p : plan) held = held || (p.type->plural == "namespaces" && p.name == n);
    if (!held)
      plan.push_back({&namespaceType(store),
                      {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", n}}}},
                      "",
                      n});
  }
  std::stable_sort(plan.begin(), plan.end(), [](const Planned& a, const Planned& b) {
    return orderOf(*a.type) < orderOf(*b.type);
  });

  for (auto& p : plan) {
    auto created = store.create(*p.type, p.ns, p.object, asVelero());
    if (created.ok()) {
      ++restored;
      continue;
    }
    if (created.error().code == 409) {
      if (p.type->plural == "namespaces") {
        ++restored;  // Velero counts an existing namespace as restored
        continue;
      }
      if (!update) {
        ++warnings;
        continue;
      }
      Json patch = {{"metadata", {{"labels", p.object["metadata"]["labels"]}}}};
      if (p.object.contains("spec")) patch["spec"] = p.object["spec"];
      PatchOptions po;
      po.write = asVelero();
      auto patched = store.patch(*p.type, p.ns, p.name, PatchType::Merge, patch, po);
      if (patched.ok()) {
        ++restored;
        continue;
      }
      created = patched.error();
    }
    ++errors;
    std::cerr << "kube-sim velero: restore " << ns << "/" << name << ": " << p.type->groupResource()
              << " " << (p.ns.empty() ? "" : p.ns + "/") << p.name << ": "
              << created.error().message << "\n";
  }
  errors += modifierErrors;
  setRestoreStatus(
      store, ns, name,
      {{"phase", errors > 0 ? "PartiallyFailed" : "Completed"},
       {"errors", errors},
       {"warnings", warnings},
       {"progress", {{"totalItems", static_cast<int>(plan.size())}, {"itemsRestored", restored}}},
       {"completionTimestamp", timestamp(now)}});
}

}  // namespace kubesim
