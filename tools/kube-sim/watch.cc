// Watcher queue and the per-watcher view of committed events.
#include "watch.h"

namespace kubesim {

std::optional<std::string_view> Watcher::translate(const Event& event) const {
  const ObjectFilter& f = request_.filter;
  if (f.selectsAll()) return toString(event.kind);
  const bool now = event.object && f.matches(event.object->object);
  switch (event.kind) {
    case EventType::Added:
      if (now) return "ADDED";
      return std::nullopt;
    case EventType::Deleted:
      if (now) return "DELETED";
      return std::nullopt;
    case EventType::Modified: {
      const bool before = event.previous && f.matches(event.previous->object);
      if (before && now) return "MODIFIED";
      if (before) return "DELETED";
      if (now) return "ADDED";
      return std::nullopt;
    }
  }
  return std::nullopt;
}

void Watcher::push(std::string_view type, ObjectPtr object) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    queue_.push_back({type, std::move(object)});
  }
  cv_.notify_one();
}

void Watcher::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_one();
}

void Watcher::requestBookmark() {
  {
    std::lock_guard lock(mu_);
    bookmarkRequested_ = true;
  }
  cv_.notify_one();
}

std::size_t Watcher::queued() {
  std::lock_guard lock(mu_);
  return queue_.size();
}

Watcher::Batch Watcher::wait(std::chrono::steady_clock::time_point until) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, until, [&] { return !queue_.empty() || closed_ || bookmarkRequested_; });
  Batch b;
  b.items.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
  queue_.clear();
  b.closed = closed_;
  b.bookmarkRequested = bookmarkRequested_;
  bookmarkRequested_ = false;
  return b;
}

}  // namespace kubesim
