// Payload building and event ids (see payload.h).
#include "events/payload.h"

namespace ocpvdr::events {

std::string_view toString(ChangeType t) {
  switch (t) {
    case ChangeType::Added:
      return "ADDED";
    case ChangeType::Modified:
      return "MODIFIED";
    case ChangeType::Deleted:
      return "DELETED";
    case ChangeType::LeftSelection:
      return "LEFT_SELECTION";
  }
  return "MODIFIED";
}

Result<ChangeType> parseChangeType(std::string_view s) {
  if (s == "ADDED") return ChangeType::Added;
  if (s == "MODIFIED") return ChangeType::Modified;
  if (s == "DELETED") return ChangeType::Deleted;
  if (s == "LEFT_SELECTION") return ChangeType::LeftSelection;
  return invalidError("unknown change type \"" + std::string(s) +
                      "\" (expected ADDED, MODIFIED, DELETED or LEFT_SELECTION)");
}

Result<ObjectMeta> readObjectMeta(const Json& object) {
  if (!object.is_object()) {
    return invalidError(std::string("object is not a JSON object but ") + object.type_name());
  }
  auto m = object.find("metadata");
  if (m == object.end() || !m->is_object()) return invalidError("metadata: missing");
  ObjectMeta meta;
  OCPVDR_ASSIGN_OR_RETURN(meta.name, jsonString(object, "metadata.name"));
  OCPVDR_ASSIGN_OR_RETURN(auto ns, jsonOptString(object, "metadata.namespace"));
  meta.ns = ns.value_or("");
  OCPVDR_ASSIGN_OR_RETURN(meta.uid, jsonString(object, "metadata.uid"));
  OCPVDR_ASSIGN_OR_RETURN(meta.resourceVersion, jsonString(object, "metadata.resourceVersion"));
  if (meta.name.empty()) return invalidError("metadata.name: empty");
  if (meta.uid.empty()) return invalidError("metadata.uid: empty");
  if (meta.resourceVersion.empty()) return invalidError("metadata.resourceVersion: empty");
  return meta;
}

std::string changeKey(std::string_view kind, const ObjectMeta& meta) {
  std::string key(kind);
  key += '/';
  if (!meta.ns.empty()) {
    key += meta.ns;
    key += '/';
  }
  key += meta.name;
  return key;
}

std::string eventId(const Change& c) {
  std::string id = c.meta.uid;
  id += ':';
  id += c.meta.resourceVersion;
  id += ':';
  id += toString(c.type);
  return id;
}

std::string buildPayload(const Change& c, const std::string& cluster) {
  // Assembled as text so the object, already serialised once for the checkpoint, is not parsed
  // and serialised again for every event; the string fields go through the JSON encoder.
  auto str = [](std::string_view s) { return Json(s).dump(); };
  std::string out;
  out.reserve(c.resource.size() + 256);
  out += "{\"apiVersion\":";
  out += str(c.apiVersion);
  out += ",\"cluster\":";
  out += str(cluster);
  if (!c.content.empty()) {
    out += ",\"content\":";
    out += c.content;
  }
  out += ",\"id\":";
  out += str(eventId(c));
  out += ",\"initial\":";
  out += c.initial ? "true" : "false";
  out += ",\"kind\":";
  out += str(c.kind);
  out += ",\"observedAt\":";
  out += str(formatTimeMillis(c.observedAt));
  out += ",\"resource\":";
  out += c.resource.empty() ? std::string("null") : c.resource;
  out += ",\"type\":\"";
  out += toString(c.type);
  out += "\"";
  if (c.unconfirmed) out += ",\"unconfirmed\":true";
  out += "}";
  return out;
}

}  // namespace ocpvdr::events
