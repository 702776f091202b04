// POST /v1/events: the forwarder's payload (docs/forwarder.md) as the engine receives it, parsed
// and checked before anything is queued (authentication: events/signature.h).
//
// Payload (JSON object, one change per request):
//   {"kind": "PersistentVolume" | "VolumeSnapshot",
//    "type": "ADDED" | "MODIFIED" | "DELETED" | "LEFT_SELECTION" (a PV that still exists but no
//            longer matches the forwarder's label selector: not a delete),
//    "resource": {<the Kubernetes object; for DELETED its last state>},
//    "id": "<uid>:<resourceVersion>:<TYPE>", "apiVersion": "...", "cluster": "<site name>",
//    "observedAt": "<RFC 3339>", "initial": false}
// kind, type and resource are required; the others are optional but must have the right type.
// resource.metadata.name is required (and metadata.namespace for a VolumeSnapshot).
// Every rejection is Invalid with a message that says what is wrong.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"
#include "events/work_key.h"

namespace ocpvdr::events {

struct EventPayload {
  std::string kind;  // PersistentVolume | VolumeSnapshot
  std::string type;  // ADDED | MODIFIED | DELETED | LEFT_SELECTION (PersistentVolume only)
  std::string id;    // "" when the sender gave none (no dedupe then)
  std::string apiVersion, cluster;
  std::optional<SystemTime> observedAt;
  bool initial = false;
  Json resource;
  std::string name, ns;  // resource.metadata
  std::string key;       // "pv/<name>" | "snap/<ns>/<name>"
};

[[nodiscard]] Result<EventPayload> parseEventPayload(std::string_view body);

// The event's "cluster" against the configuration (Invalid → 400, naming both values):
// with server.expected_cluster (`expected`) set, the field is required and must equal it;
// otherwise it stays optional and, when present, must equal sites.primary.name (`primaryName`,
// when that is set).
[[nodiscard]] Status checkEventCluster(const EventPayload& ev, std::string_view expected,
                                       std::string_view primaryName);

}  // namespace ocpvdr::events
