// The selection rule (see selection.h).
#include "events/selection.h"

#include <algorithm>

#include "kube/views.h"

namespace ocpvdr::events {

bool storageClassSelected(const std::vector<std::string>& classes, const Json& pv) {
  if (classes.empty()) return true;
  const Json* sc = jsonAt(pv, "spec.storageClassName");
  if (sc == nullptr || !sc->is_string()) return false;
  const auto& name = sc->get_ref<const std::string&>();
  return std::find(classes.begin(), classes.end(), name) != classes.end();
}

bool accepts(const Filter& f, std::string_view kind, const Json& object) {
  if (kind == "PersistentVolume") return storageClassSelected(f.storageClasses, object);
  if (kind == "VolumeSnapshot") {
    // Velero's own (backup-time) snapshots: deleted again after the backup, never replicated.
    if (kube::isVeleroSnapshot(object)) return false;
    if (f.namespaces.empty()) return true;
    const Json* ns = jsonAt(object, "metadata.namespace");
    if (ns == nullptr || !ns->is_string()) return false;
    const auto& name = ns->get_ref<const std::string&>();
    return std::find(f.namespaces.begin(), f.namespaces.end(), name) != f.namespaces.end();
  }
  return false;
}

}  // namespace ocpvdr::events
