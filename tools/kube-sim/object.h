// Stored objects and committed events: immutable, shared between the store, its history, the
// watchers and list responses, and serialised exactly once per version.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace kubesim {

using Json = nlohmann::json;
class ResourceType;

// One version of one object. `text` is object.dump(), computed when the version is created and
// reused by get, list and every watcher.
struct StoredObject {
  Json object;  // full object including kind and apiVersion
  std::string text;
  std::string ns;    // metadata.namespace ("" when cluster-scoped)
  std::string name;  // metadata.name
  std::uint64_t resourceVersion = 0;

  static std::shared_ptr<const StoredObject> make(Json object);
  // The text without kind/apiVersion, as typed (core) list items are encoded.
  std::string itemText() const;
};
using ObjectPtr = std::shared_ptr<const StoredObject>;

enum class EventType { Added, Modified, Deleted };
std::string_view toString(EventType t);  // "ADDED" | "MODIFIED" | "DELETED"

// A committed write, as kept in the history log and handed to watchers and controllers.
struct Event {
  std::uint64_t resourceVersion = 0;
  const ResourceType* type = nullptr;
  EventType kind = EventType::Added;
  ObjectPtr object;    // state after the write; for DELETED the last state with the new RV
  ObjectPtr previous;  // state before (null for ADDED)
};
using EventPtr = std::shared_ptr<const Event>;

// Receives every committed event while the store lock is held: must be quick, must not block and
// must not call back into the store (queue the event and return).
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void deliver(const EventPtr& event) = 0;
};

// Serialises JSON that may hold bytes from a client (YAML bodies, parser messages): invalid UTF-8
// is replaced instead of throwing, so encoding can never fail a request.
std::string safeDump(const Json& j);

// The newline-terminated watch line {"type":"...","object":<objectText>}.
std::string watchLine(std::string_view type, std::string_view objectText);

}  // namespace kubesim
