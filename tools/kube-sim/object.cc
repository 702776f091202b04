// StoredObject construction and the watch line encoding.
#include "object.h"

namespace kubesim {

std::shared_ptr<const StoredObject> StoredObject::make(Json object) {
  auto s = std::make_shared<StoredObject>();
  const Json& md = object["metadata"];
  if (auto it = md.find("namespace"); it != md.end() && it->is_string())
    s->ns = it->get<std::string>();
  if (auto it = md.find("name"); it != md.end() && it->is_string())
    s->name = it->get<std::string>();
  if (auto it = md.find("resourceVersion"); it != md.end() && it->is_string()) {
    s->resourceVersion = std::strtoull(it->get_ref<const std::string&>().c_str(), nullptr, 10);
  }
  s->text = safeDump(object);
  s->object = std::move(object);
  return s;
}

std::string StoredObject::itemText() const {
  // Keys are sorted, so a plain object starts with apiVersion then kind; strip both textually
  // rather than serialise a second copy. Anything unexpected falls back to a re-encode.
  if (object.contains("apiVersion") && object.contains("kind")) {
    const std::string prefix = "{\"apiVersion\":" + safeDump(object["apiVersion"]) +
                               ",\"kind\":" + safeDump(object["kind"]) + ",";
    if (text.compare(0, prefix.size(), prefix) == 0) return "{" + text.substr(prefix.size());
  }
  Json copy = object;
  copy.erase("apiVersion");
  copy.erase("kind");
  return safeDump(copy);
}

std::string safeDump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string_view toString(EventType t) {
  switch (t) {
    case EventType::Added:
      return "ADDED";
    case EventType::Modified:
      return "MODIFIED";
    case EventType::Deleted:
      return "DELETED";
  }
  return "MODIFIED";
}

std::string watchLine(std::string_view type, std::string_view objectText) {
  std::string line;
  line.reserve(objectText.size() + type.size() + 24);
  line += "{\"type\":\"";
  line += type;
  line += "\",\"object\":";
  line += objectText;
  line += "}\n";
  return line;
}

}  // namespace kubesim
