// Event payload parsing and checks at the engine (see intake.h).
#include "events/intake.h"

namespace ocpvdr::events {

namespace {

std::string jsonTypeName(const Json& j) {
  return j.is_null() ? "null" : std::string(j.type_name());
}

// Reads an optional string member; wrong type is an error naming it.
Result<std::string> optionalString(const Json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return std::string();
  if (!it->is_string())
    return invalidError(std::string("\"") + key + "\": expected a string, got " +
                        jsonTypeName(*it));
  return it->get<std::string>();
}

Result<std::string> requiredString(const Json& doc, const char* key, const char* what) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null())
    return invalidError(std::string("missing \"") + key + "\" (" + what + ")");
  if (!it->is_string())
    return invalidError(std::string("\"") + key + "\": expected a string, got " +
                        jsonTypeName(*it));
  return it->get<std::string>();
}

}  // namespace

Status checkEventCluster(const EventPayload& ev, std::string_view expected,
                         std::string_view primaryName) {
  if (!expected.empty()) {
    if (ev.cluster.empty())
      return invalidError("event has no \"cluster\"; this engine requires \"cluster\": \"" +
                          std::string(expected) + "\" (server.expected_cluster)");
    if (ev.cluster != expected)
      return invalidError("event from cluster \"" + ev.cluster +
                          "\", but this engine accepts only \"" + std::string(expected) +
                          "\" (server.expected_cluster)");
    return Status::success();
  }
  if (!ev.cluster.empty() && !primaryName.empty() && ev.cluster != primaryName)
    return invalidError("event from cluster \"" + ev.cluster +
                        "\", but this engine replicates cluster \"" + std::string(primaryName) +
                        "\" (sites.primary.name)");
  return Status::success();
}

Result<EventPayload> parseEventPayload(std::string_view body) {
  auto doc = parseJson(body, "the request body");
  if (!doc.ok()) return invalidError("invalid JSON: " + doc.error().message);
  if (!doc->is_object())
    return invalidError("the body must be a JSON object (the forwarder's event), got " +
                        jsonTypeName(*doc));
  EventPayload e;
  OCPVDR_ASSIGN_OR_RETURN(e.kind,
                          requiredString(*doc, "kind", "PersistentVolume or VolumeSnapshot"));
  if (e.kind != "PersistentVolume" && e.kind != "VolumeSnapshot")
    return invalidError("unknown kind \"" + e.kind +
                        "\": expected PersistentVolume or VolumeSnapshot");
  OCPVDR_ASSIGN_OR_RETURN(
      e.type, requiredString(*doc, "type", "ADDED, MODIFIED, DELETED or LEFT_SELECTION"));
  if (e.type != "ADDED" && e.type != "MODIFIED" && e.type != "DELETED" &&
      e.type != "LEFT_SELECTION")
    return invalidError("unknown type \"" + e.type +
                        "\": expected ADDED, MODIFIED, DELETED or LEFT_SELECTION");
  // Only the PV watch has a label selector to leave.
  if (e.type == "LEFT_SELECTION" && e.kind != "PersistentVolume")
    return invalidError("type LEFT_SELECTION is for a PersistentVolume, not a " + e.kind);
  auto res = doc->find("resource");
  if (res == doc->end() || res->is_null())
    return invalidError("missing \"resource\" (the " + e.kind + " object)");
  if (!res->is_object())
    return invalidError("\"resource\": expected an object, got " + jsonTypeName(*res));
  OCPVDR_ASSIGN_OR_RETURN(e.id, optionalString(*doc, "id"));
  OCPVDR_ASSIGN_OR_RETURN(e.apiVersion, optionalString(*doc, "apiVersion"));
  OCPVDR_ASSIGN_OR_RETURN(e.cluster, optionalString(*doc, "cluster"));
  OCPVDR_ASSIGN_OR_RETURN(auto observed, optionalString(*doc, "observedAt"));
  if (!observed.empty()) {
    auto t = parseTime(observed);
    if (!t.ok()) return invalidError("\"observedAt\": " + t.error().message);
    e.observedAt = *t;
  }
  if (auto it = doc->find("initial"); it != doc->end() && !it->is_null()) {
    if (!it->is_boolean())
      return invalidError("\"initial\": expected a boolean, got " + jsonTypeName(*it));
    e.initial = it->get<bool>();
  }

  e.resource = std::move(*res);
  if (auto k = e.resource.find("kind"); k != e.resource.end() && !k->is_null()) {
    if (!k->is_string() || k->get<std::string>() != e.kind)
      return invalidError(
          "resource.kind " +
          (k->is_string() ? "\"" + k->get<std::string>() + "\"" : jsonTypeName(*k)) +
          " does not match kind \"" + e.kind + "\"");
  }
  auto meta = e.resource.find("metadata");
  if (meta == e.resource.end() || !meta->is_object())
    return invalidError("resource.metadata: expected an object with the " + e.kind + "'s name");
  auto name = jsonString(e.resource, "metadata.name");
  if (!name.ok()) return invalidError("resource." + name.error().message);
  e.name = *name;
  auto validName = [](const std::string& s) {
    return !s.empty() && s.size() <= 253 && s.find('/') == std::string::npos && s != "." &&
           s != "..";
  };
  if (!validName(e.name))
    return invalidError("resource.metadata.name \"" + e.name +
                        "\" is not a valid object name (empty, too long or containing /)");
  if (e.kind == "VolumeSnapshot") {
    auto ns = jsonString(e.resource, "metadata.namespace");
    if (!ns.ok())
      return invalidError("resource." + ns.error().message + " (a VolumeSnapshot is namespaced)");
    e.ns = *ns;
    if (!validName(e.ns))
      return invalidError("resource.metadata.namespace \"" + e.ns + "\" is not a valid namespace");
    e.key = snapshotKey(e.ns, e.name);
  } else {
    e.key = pvKey(e.name);
  }
  return e;
}

}  // namespace ocpvdr::events
