// The forwarder's unit of work — one observed change of a PersistentVolume or VolumeSnapshot —
// and the JSON document it becomes on the wire (one POST body per change; the engine reads it
// with events/intake.h):
//
//   {"id": "<uid>:<resourceVersion>:<type>", "kind": "PersistentVolume", "apiVersion": "v1",
//    "type": "ADDED" | "MODIFIED" | "DELETED", "cluster": "<site name>",
//    "observedAt": "2026-11-24T00:12:21.123Z", "initial": false, "resource": {...},
//    "content": {...}}
//
// `content` (VolumeSnapshots only, when ready and bound) is the bound VolumeSnapshotContent as
// the forwarder read it: the snapshot handle that locates csi-driver-nfs's archive, which the
// DR handler needs to replicate the data (the EDA job has no primary API to read it from).
//
// `kind`, `type` and `resource` are what EDA rules read (as event.payload.*, FACTS §1); `id` is
// the same on every re-send so receivers can drop duplicates; `initial` is true when the change
// was found by a list diff (startup or re-list after 410) rather than a live watch event.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::events {

// LeftSelection: a PersistentVolume the label-selected watch lost (a DELETED from the watch or a
// list diff) that a GET shows still exists with the same uid — it left the selection, it was not
// deleted. DR stops replicating it and keeps its data (docs/forwarder.md).
enum class ChangeType { Added, Modified, Deleted, LeftSelection };
std::string_view toString(ChangeType t);  // "ADDED", "MODIFIED", "DELETED", "LEFT_SELECTION"
[[nodiscard]] Result<ChangeType> parseChangeType(std::string_view s);

// The identity fields every forwarded object must carry. Objects from the API without them are
// logged and skipped: without a uid and resourceVersion there is no stable event id.
struct ObjectMeta {
  std::string name;
  std::string ns;  // "" for cluster-scoped objects
  std::string uid;
  std::string resourceVersion;
};

// Reads metadata.{name, namespace, uid, resourceVersion}; Invalid naming the first missing or
// mistyped field (namespace may be absent).
[[nodiscard]] Result<ObjectMeta> readObjectMeta(const Json& object);

struct Change {
  std::string kind;        // "PersistentVolume" | "VolumeSnapshot"
  std::string apiVersion;  // the resource's: "v1" | "snapshot.storage.k8s.io/v1"
  ChangeType type = ChangeType::Added;
  ObjectMeta meta;
  bool initial = false;
  SystemTime observedAt{};
  // The full object as JSON text (for DELETED: its last known state). Kept as text: it is
  // written to the spool and the checkpoint as is, never walked again.
  std::string resource;
  // VolumeSnapshot: the bound VolumeSnapshotContent as JSON text ("" when not ready, not bound
  // or unreadable); sent as the payload's `content`.
  std::string content;
  // A PV DELETED whose confirming GET failed (neither 404 nor an answer): the PV may still exist
  // (a label-selection change looks the same). Sent as `"unconfirmed": true`.
  bool unconfirmed = false;
};

// "PersistentVolume/pv-a" or "VolumeSnapshot/ns/snap": unique across the watched kinds. Events
// of one key are delivered in order.
std::string changeKey(std::string_view kind, const ObjectMeta& meta);
// "<uid>:<resourceVersion>:<TYPE>".
std::string eventId(const Change& c);
// The POST body (compact JSON, keys in alphabetical order). `c.resource` must be valid JSON.
std::string buildPayload(const Change& c, const std::string& cluster);

}  // namespace ocpvdr::events
