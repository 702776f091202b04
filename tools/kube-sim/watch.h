// Watcher: one open watch. The store fills its queue while committing (under the store lock) and
// the HTTP stream drains it on the connection's thread, blocking on a condition variable while
// idle, so a thousand quiet watches cost no CPU.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "object.h"
#include "resource_table.h"
#include "selectors.h"

namespace kubesim {

struct WatchRequest {
  ObjectFilter filter;
  std::string resourceVersion;  // "" / "0": synthetic ADDED for current objects first
  bool allowBookmarks = false;
  // sendInitialEvents=true: after the synthetic ADDED events, a BOOKMARK annotated
  // k8s.io/initial-events-end (the watch-list protocol).
  bool sendInitialEvents = false;
};

struct WatchItem {
  std::string_view type;  // ADDED | MODIFIED | DELETED | BOOKMARK
  ObjectPtr object;
};

class Watcher {
 public:
  Watcher(const ResourceType& type, WatchRequest request)
      : type_(type), request_(std::move(request)) {}

  const ResourceType& type() const { return type_; }
  const WatchRequest& request() const { return request_; }

  // The event type this watcher sees for a committed event, or nullopt when it sees nothing.
  // Selector semantics follow the server: an object that stops matching is sent as DELETED, one
  // that starts matching as ADDED.
  std::optional<std::string_view> translate(const Event& event) const;

  // Store side (called with the store lock held).
  void push(std::string_view type, ObjectPtr object);
  void close();  // the stream ends after what is queued
  void requestBookmark();
  std::size_t queued();

  struct Batch {
    std::vector<WatchItem> items;
    bool closed = false;
    bool bookmarkRequested = false;
  };
  // Stream side: waits until something is queued, the watch is closed, a bookmark is requested,
  // or `until` passes; then hands over everything queued.
  Batch wait(std::chrono::steady_clock::time_point until);

 private:
  const ResourceType& type_;
  const WatchRequest request_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WatchItem> queue_;
  bool closed_ = false;
  bool bookmarkRequested_ = false;
};

}  // namespace kubesim
