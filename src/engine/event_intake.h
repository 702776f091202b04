// POST /v1/events: authentication and the forwarder's payload (docs/forwarder.md), parsed and
// checked before anything is queued.
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
//
// Authentication as the EDA webhook does it (FACTS §1): `Authorization: Bearer <token>` (one
// space, exact token); with an HMAC secret also `x-hub-signature-256: [sha256=]<hex>` computed
// over the raw body. Comparisons are constant-time.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::engine {

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

// The work-queue key of an object of `kind`: "pv/<name>", "snap/<ns>/<name>".
std::string pvKey(std::string_view name);
std::string snapshotKey(std::string_view ns, std::string_view name);

// Refused (→ 401) when the header is missing, malformed or carries another token.
[[nodiscard]] Status checkBearer(const std::optional<std::string>& authorization,
                                 std::string_view token);
// Refused (→ 401) when the signature header is missing, not hex or does not match.
[[nodiscard]] Status checkSignature(const std::optional<std::string>& signatureHeader,
                                    std::string_view body, std::string_view secret);

}  // namespace ocpvdr::engine
