// The selection rule: which PersistentVolumes and VolumeSnapshots are replicated. The forwarder
// applies it before it sends an event; the engine applies it to what it accepts and lists.
//
// PersistentVolumes: replication.label_selector (applied by the API server on the watch and the
// list, not here), then the storage classes (spec.storageClassName; an empty list selects every
// PV). VolumeSnapshots: replication.namespaces (empty: all namespaces); those Velero made for a
// backup (label velero.io/backup-name) are never selected.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"

namespace ocpvdr::events {

struct Filter {
  std::vector<std::string> storageClasses;
  std::vector<std::string> namespaces;
};

// A PV whose spec.storageClassName is in `classes` (every PV when `classes` is empty; a PV
// without a class only then).
bool storageClassSelected(const std::vector<std::string>& classes, const Json& pv);

// Whether an object of `kind` (PersistentVolume | VolumeSnapshot; any other kind: false) is
// selected.
bool accepts(const Filter& f, std::string_view kind, const Json& object);

}  // namespace ocpvdr::events
