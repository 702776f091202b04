// Typed views: field reads with json_util and the VS/VSC type normalisation.
#include "kube/views.h"

#include "core/time.h"
#include "kube/quantity.h"

namespace ocpvdr::kube {
namespace {

const char* typeName(const Json& j) {
  return j.type_name();
}

Result<std::optional<std::int64_t>> optInt(const Json& root, std::string_view path) {
  const Json* v = jsonAt(root, path);
  if (v == nullptr || v->is_null()) return std::optional<std::int64_t>{};
  OCPVDR_ASSIGN_OR_RETURN(std::int64_t i, jsonInt(root, path));
  return std::optional<std::int64_t>{i};
}

Result<std::optional<std::int64_t>> optQuantity(const Json& root, std::string_view path) {
  OCPVDR_ASSIGN_OR_RETURN(auto s, jsonOptString(root, path));
  if (!s) return std::optional<std::int64_t>{};
  auto q = parseQuantityBytes(*s);
  if (!q) return q.error().wrap(path);
  return std::optional<std::int64_t>{*q};
}

// A string-keyed map (labels, annotations, volumeAttributes): keys may contain dots, so it is
// walked here rather than with a dotted path.
Result<std::optional<std::string>> mapEntry(const Json& root, std::string_view mapPath,
                                            const std::string& key) {
  const Json* m = jsonAt(root, mapPath);
  if (m == nullptr || m->is_null()) return std::optional<std::string>{};
  if (!m->is_object()) {
    return invalidError(std::string(mapPath) + ": expected an object, got " + typeName(*m));
  }
  auto it = m->find(key);
  if (it == m->end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) {
    return invalidError(std::string(mapPath) + "[" + key + "]: expected a string, got " +
                        typeName(*it));
  }
  return std::optional<std::string>{it->get<std::string>()};
}

Result<std::optional<ObjectReference>> optRef(const Json& root, std::string_view path) {
  const Json* r = jsonAt(root, path);
  if (r == nullptr || r->is_null()) return std::optional<ObjectReference>{};
  if (!r->is_object()) {
    return invalidError(std::string(path) + ": expected an object, got " + typeName(*r));
  }
  ObjectReference ref;
  const std::string p(path);
  OCPVDR_ASSIGN_OR_RETURN(auto ns, jsonOptString(root, p + ".namespace"));
  OCPVDR_ASSIGN_OR_RETURN(auto name, jsonOptString(root, p + ".name"));
  OCPVDR_ASSIGN_OR_RETURN(auto uid, jsonOptString(root, p + ".uid"));
  ref.ns = ns.value_or("");
  ref.name = name.value_or("");
  ref.uid = uid.value_or("");
  return std::optional<ObjectReference>{ref};
}

}  // namespace

Result<std::string> ObjectView::ns() const {
  OCPVDR_ASSIGN_OR_RETURN(auto ns, jsonOptString(obj_, "metadata.namespace"));
  return ns.value_or("");
}

Result<std::optional<std::string>> ObjectView::label(const std::string& key) const {
  return mapEntry(obj_, "metadata.labels", key);
}

Result<std::optional<std::string>> ObjectView::annotation(const std::string& key) const {
  return mapEntry(obj_, "metadata.annotations", key);
}

bool ObjectView::deleting() const {
  const Json* d = jsonAt(obj_, "metadata.deletionTimestamp");
  return d != nullptr && !d->is_null();
}

// --- PersistentVolume ---

Result<std::optional<std::string>> PersistentVolumeView::storageClassName() const {
  return jsonOptString(obj_, "spec.storageClassName");
}

Result<std::string> PersistentVolumeView::volumeMode() const {
  OCPVDR_ASSIGN_OR_RETURN(auto m, jsonOptString(obj_, "spec.volumeMode"));
  return m.value_or("Filesystem");
}

Result<std::optional<NfsVolumeSource>> PersistentVolumeView::nfs() const {
  const Json* n = jsonAt(obj_, "spec.nfs");
  if (n == nullptr || n->is_null()) return std::optional<NfsVolumeSource>{};
  NfsVolumeSource s;
  OCPVDR_ASSIGN_OR_RETURN(s.server, jsonString(obj_, "spec.nfs.server"));
  OCPVDR_ASSIGN_OR_RETURN(s.path, jsonString(obj_, "spec.nfs.path"));
  OCPVDR_ASSIGN_OR_RETURN(auto ro, jsonOptBool(obj_, "spec.nfs.readOnly"));
  s.readOnly = ro.value_or(false);
  return std::optional<NfsVolumeSource>{s};
}

Result<std::optional<CsiVolumeSource>> PersistentVolumeView::csi() const {
  const Json* c = jsonAt(obj_, "spec.csi");
  if (c == nullptr || c->is_null()) return std::optional<CsiVolumeSource>{};
  CsiVolumeSource s;
  OCPVDR_ASSIGN_OR_RETURN(s.driver, jsonString(obj_, "spec.csi.driver"));
  OCPVDR_ASSIGN_OR_RETURN(s.volumeHandle, jsonString(obj_, "spec.csi.volumeHandle"));
  const Json* attrs = jsonAt(obj_, "spec.csi.volumeAttributes");
  if (attrs != nullptr && !attrs->is_null()) {
    if (!attrs->is_object()) {
      return invalidError(std::string("spec.csi.volumeAttributes: expected an object, got ") +
                          typeName(*attrs));
    }
    for (const auto& [k, v] : attrs->items()) {
      if (!v.is_string()) {
        return invalidError("spec.csi.volumeAttributes." + k + ": expected a string, got " +
                            typeName(v));
      }
      s.volumeAttributes[k] = v.get<std::string>();
    }
  }
  return std::optional<CsiVolumeSource>{s};
}

Result<std::optional<ObjectReference>> PersistentVolumeView::claimRef() const {
  return optRef(obj_, "spec.claimRef");
}

Result<std::optional<std::string>> PersistentVolumeView::phase() const {
  return jsonOptString(obj_, "status.phase");
}

Result<std::optional<std::string>> PersistentVolumeView::reclaimPolicy() const {
  return jsonOptString(obj_, "spec.persistentVolumeReclaimPolicy");
}

Result<std::optional<std::int64_t>> PersistentVolumeView::capacityBytes() const {
  return optQuantity(obj_, "spec.capacity.storage");
}

// --- PersistentVolumeClaim ---

Result<std::optional<std::string>> PersistentVolumeClaimView::volumeName() const {
  return jsonOptString(obj_, "spec.volumeName");
}
Result<std::optional<std::string>> PersistentVolumeClaimView::storageClassName() const {
  return jsonOptString(obj_, "spec.storageClassName");
}
Result<std::optional<std::string>> PersistentVolumeClaimView::phase() const {
  return jsonOptString(obj_, "status.phase");
}
Result<std::optional<std::int64_t>> PersistentVolumeClaimView::requestedBytes() const {
  return optQuantity(obj_, "spec.resources.requests.storage");
}

// --- VolumeSnapshot ---

Result<std::optional<std::string>> VolumeSnapshotView::sourcePvcName() const {
  return jsonOptString(obj_, "spec.source.persistentVolumeClaimName");
}
Result<std::optional<std::string>> VolumeSnapshotView::volumeSnapshotClassName() const {
  return jsonOptString(obj_, "spec.volumeSnapshotClassName");
}
Result<std::optional<std::string>> VolumeSnapshotView::boundContentName() const {
  return jsonOptString(obj_, "status.boundVolumeSnapshotContentName");
}
Result<bool> VolumeSnapshotView::readyToUse() const {
  OCPVDR_ASSIGN_OR_RETURN(auto r, jsonOptBool(obj_, "status.readyToUse"));
  return r.value_or(false);
}
Result<std::optional<SystemTime>> VolumeSnapshotView::creationTime() const {
  OCPVDR_ASSIGN_OR_RETURN(auto s, jsonOptString(obj_, "status.creationTime"));
  if (!s) return std::optional<SystemTime>{};
  auto t = parseTime(*s);
  if (!t) return t.error().wrap("status.creationTime");
  return std::optional<SystemTime>{*t};
}
Result<std::optional<std::int64_t>> VolumeSnapshotView::restoreSizeBytes() const {
  return optQuantity(obj_, "status.restoreSize");
}

// --- VolumeSnapshotContent ---

Result<std::optional<std::string>> VolumeSnapshotContentView::deletionPolicy() const {
  return jsonOptString(obj_, "spec.deletionPolicy");
}
Result<std::optional<std::string>> VolumeSnapshotContentView::snapshotHandle() const {
  return jsonOptString(obj_, "status.snapshotHandle");
}
Result<std::optional<ObjectReference>> VolumeSnapshotContentView::volumeSnapshotRef() const {
  return optRef(obj_, "spec.volumeSnapshotRef");
}
Result<bool> VolumeSnapshotContentView::readyToUse() const {
  OCPVDR_ASSIGN_OR_RETURN(auto r, jsonOptBool(obj_, "status.readyToUse"));
  return r.value_or(false);
}
Result<std::optional<SystemTime>> VolumeSnapshotContentView::creationTime() const {
  OCPVDR_ASSIGN_OR_RETURN(auto ns, optInt(obj_, "status.creationTime"));
  if (!ns) return std::optional<SystemTime>{};
  if (*ns < 0) return invalidError("status.creationTime: negative nanoseconds");
  return std::optional<SystemTime>{
      SystemTime{std::chrono::duration_cast<SystemTime::duration>(std::chrono::nanoseconds(*ns))}};
}
Result<std::optional<std::int64_t>> VolumeSnapshotContentView::restoreSizeBytes() const {
  OCPVDR_ASSIGN_OR_RETURN(auto b, optInt(obj_, "status.restoreSize"));
  if (b && *b < 0) return invalidError("status.restoreSize: negative size");
  return b;
}

// --- VirtualMachine ---

Result<std::optional<std::string>> VirtualMachineView::runStrategy() const {
  OCPVDR_ASSIGN_OR_RETURN(auto rs, jsonOptString(obj_, "spec.runStrategy"));
  if (rs) return rs;
  OCPVDR_ASSIGN_OR_RETURN(auto running, jsonOptBool(obj_, "spec.running"));
  if (!running) return std::optional<std::string>{};
  return std::optional<std::string>{*running ? "Always" : "Halted"};
}
Result<std::optional<std::string>> VirtualMachineView::printableStatus() const {
  return jsonOptString(obj_, "status.printableStatus");
}
Result<bool> VirtualMachineView::ready() const {
  OCPVDR_ASSIGN_OR_RETURN(auto r, jsonOptBool(obj_, "status.ready"));
  return r.value_or(false);
}

// --- Restore ---

Result<std::optional<std::string>> RestoreView::backupName() const {
  return jsonOptString(obj_, "spec.backupName");
}
Result<std::optional<std::string>> RestoreView::phase() const {
  return jsonOptString(obj_, "status.phase");
}

bool isVeleroSnapshot(const Json& vs) {
  const Json* labels = jsonAt(vs, "metadata.labels");
  return labels && labels->is_object() && labels->contains(std::string(kVeleroBackupNameLabel));
}

}  // namespace ocpvdr::kube
