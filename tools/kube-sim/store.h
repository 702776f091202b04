// Store: kube-sim's object database with the API server's write semantics.
//
// One mutex guards everything: a std::map per resource type (keyed "<namespace>/<name>", so lists
// come out sorted by namespace then name), one global monotonic resourceVersion, and a history log
// of committed events (for watches from a resourceVersion, exact-RV lists and continue tokens).
// Every write — HTTP handlers and controllers alike — goes through the same commit path, which
// bumps the resourceVersion, appends to the history and hands the event to watchers and sinks.
// A write that changes nothing is a no-op: no new resourceVersion, no event (as the real server).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "api_error.h"
#include "core/clock.h"
#include "object.h"
#include "resource_table.h"
#include "selectors.h"
#include "watch.h"

namespace kubesim {

struct StoreOptions {
  // Keep the last N history events (0 = unlimited). Watches and exact lists from a
  // resourceVersion older than the retained history get 410 Expired.
  std::size_t compactionWindow = 0;
  // Periodic compaction like kube-apiserver's (staging/src/k8s.io/apiserver/pkg/storage/etcd3/
  // compact.go, --etcd-compaction-interval, 5 minutes by default): at every interval the history
  // up to the resourceVersion current at the previous interval is dropped, so an event stays
  // watchable for one to two intervals and older resourceVersions get 410 Expired without a test
  // forcing it. 0 = never (the library default; the kube-sim binary defaults to 300 s).
  std::chrono::milliseconds compactionInterval{0};
  // Create default, kube-system, kube-public and kube-node-lease at start and on reset.
  bool defaultNamespaces = true;
};

struct WriteOptions {
  std::string fieldManager = "kube-sim";  // owner recorded in metadata.managedFields
  std::string subresource;                // "" or "status"
  bool dryRun = false;                    // dryRun=All: validate and answer, store nothing
};

enum class PatchType { Merge, JsonPatch, Apply };

struct PatchOptions {
  WriteOptions write;
  bool force = false;  // apply only: take ownership of conflicting fields
};

struct DeleteOptions {
  std::string preconditionUid;              // empty: no precondition
  std::string preconditionResourceVersion;  // empty: no precondition
  std::string propagationPolicy;  // accepted (Orphan|Background|Foreground); no garbage collector
  bool dryRun = false;
};

struct ListRequest {
  ObjectFilter filter;
  std::int64_t limit = 0;  // 0: everything
  std::string continueToken;
  std::string resourceVersion;       // "", "0" or an integer
  std::string resourceVersionMatch;  // "", "Exact", "NotOlderThan"
};

struct ListPage {
  std::uint64_t resourceVersion = 0;  // the list's RV: the same on every page of one list
  std::vector<ObjectPtr> items;
  std::string continueToken;                       // empty on the last page
  std::optional<std::int64_t> remainingItemCount;  // set with a continue token and no selector
};

struct WriteResult {
  ObjectPtr object;
  bool created = false;  // 201 rather than 200
};

class Store {
 public:
  explicit Store(const ocpvdr::Clock& clock, StoreOptions options = {},
                 ResourceTable table = ResourceTable::standard());
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const ResourceTable& table() const { return table_; }
  // The clock timestamps are read from (controllers measure their delays on it too).
  const ocpvdr::Clock& clock() const { return clock_; }
  std::uint64_t resourceVersion() const;

  // --- the API verbs (also the controllers' write path) ---
  [[nodiscard]] ApiResult<ObjectPtr> get(const ResourceType& type, const std::string& ns,
                                         const std::string& name) const;
  [[nodiscard]] ApiResult<ListPage> list(const ResourceType& type, const ListRequest& req) const;
  // `ns` is the namespace from the URL; when empty, a namespaced object's own metadata.namespace
  // is used (controllers).
  [[nodiscard]] ApiResult<WriteResult> create(const ResourceType& type, const std::string& ns,
                                              Json body, const WriteOptions& opts = {});
  // PUT: metadata.resourceVersion, when set, must match (else 409 Conflict); empty = unconditional.
  [[nodiscard]] ApiResult<WriteResult> update(const ResourceType& type, const std::string& ns,
                                              const std::string& name, Json body,
                                              const WriteOptions& opts = {});
  [[nodiscard]] ApiResult<WriteResult> patch(const ResourceType& type, const std::string& ns,
                                             const std::string& name, PatchType patchType,
                                             const Json& patch, const PatchOptions& opts = {});
  [[nodiscard]] ApiResult<WriteResult> remove(const ResourceType& type, const std::string& ns,
                                              const std::string& name,
                                              const DeleteOptions& opts = {});
  [[nodiscard]] ApiResult<std::vector<ObjectPtr>> removeCollection(const ResourceType& type,
                                                                   const ListRequest& req,
                                                                   const DeleteOptions& opts = {});
  // Read-modify-write for controllers: `edit` changes a copy of the current object while the
  // store lock is held (it must not call the store), then the result is written like an update
  // (opts.subresource "status" writes only .status). Never conflicts.
  [[nodiscard]] ApiResult<WriteResult> modify(const ResourceType& type, const std::string& ns,
                                              const std::string& name,
                                              const std::function<void(Json&)>& edit,
                                              const WriteOptions& opts = {});

  // --- watches ---
  // Registers a watcher pre-filled with its first events. 410 Expired when the resourceVersion is
  // older than the retained history (the caller sends it as an ERROR event).
  [[nodiscard]] ApiResult<std::shared_ptr<Watcher>> watch(const ResourceType& type,
                                                          WatchRequest req);
  void unwatch(const std::shared_ptr<Watcher>& watcher);
  // The resourceVersion a BOOKMARK may carry now: the current RV once everything committed before
  // it has been handed to this watcher (nullopt while events are still queued).
  std::optional<std::uint64_t> bookmarkVersion(Watcher& watcher) const;
  std::size_t closeWatches();
  std::size_t requestBookmarks();
  std::size_t watcherCount() const;

  // Sinks see every committed event (see EventSink). Used by the controller runner.
  void addSink(EventSink* sink);
  void removeSink(EventSink* sink);

  // --- admin ---
  // Drops the whole history: any older resourceVersion is now expired. Returns the current RV.
  std::uint64_t compact();
  // {"resourceVersion":"N","objects":[...]} — every object, in table order.
  Json dumpState() const;
  // Replaces every object with those of a dump (or {"items":[...]}); closes all watches; the RV
  // never goes backwards. Missing namespaces are created.
  [[nodiscard]] ApiStatus loadState(const Json& state);
  // Removes every object (then recreates the default namespaces) and closes all watches.
  void reset();
  Json stats() const;

 private:
  enum class UpdateMode { Update, Apply };
  using ObjectMap = std::map<std::string, ObjectPtr>;

  std::string now() const;
  std::string newUid();
  ObjectPtr findLocked(const ResourceType& type, const std::string& ns,
                       const std::string& name) const;
  ApiResult<WriteResult> createLocked(const ResourceType& type, const std::string& ns, Json body,
                                      const WriteOptions& opts, const class ManagedFields* applied);
  ApiResult<WriteResult> finishUpdateLocked(const ResourceType& type, const ObjectPtr& current,
                                            Json candidate, const WriteOptions& opts,
                                            const class ManagedFields* applied);
  ApiResult<WriteResult> applyLocked(const ResourceType& type, const std::string& ns,
                                     const std::string& name, const Json& config,
                                     const PatchOptions& opts);
  ApiResult<WriteResult> removeLocked(const ResourceType& type, const ObjectPtr& current,
                                      bool dryRun);
  ApiResult<WriteResult> removeNamespaceLocked(const ObjectPtr& current, bool dryRun);
  bool namespaceEmptyLocked(const std::string& ns) const;
  void maybeFinishNamespaceLocked(const std::string& ns);
  ObjectPtr commitLocked(const ResourceType& type, Json object, EventType kind,
                         const ObjectPtr& previous);
  // `finalState` (when given) is what the DELETED event carries instead of `current`'s content.
  ObjectPtr commitDeleteLocked(const ResourceType& type, const ObjectPtr& current,
                               const Json* finalState = nullptr);
  void publishLocked(const EventPtr& event);
  void periodicCompactionLocked();
  void closeWatchesLocked();
  void createDefaultNamespacesLocked();
  ApiResult<ListPage> listLocked(const ResourceType& type, const ListRequest& req) const;

  const ocpvdr::Clock& clock_;
  const StoreOptions options_;
  const ResourceTable table_;
  const ResourceType* namespaces_;

  mutable std::mutex mu_;
  std::uint64_t rv_ = 0;
  std::uint64_t compactedRv_ = 0;  // highest RV no longer in history_ (0: nothing dropped)
  // Periodic compaction (compactionInterval > 0): when it next runs and up to which RV.
  ocpvdr::SteadyTime nextCompaction_{};
  std::uint64_t compactTo_ = 0;
  std::vector<ObjectMap> objects_;  // by ResourceType::index
  std::deque<EventPtr> history_;
  std::vector<std::vector<std::shared_ptr<Watcher>>> watchers_;  // by ResourceType::index
  std::vector<EventSink*> sinks_;
  std::mt19937_64 rng_;
};

}  // namespace kubesim
