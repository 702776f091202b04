// EventQueue: the in-memory index of the spool — which spooled events exist, in which order they
// go out, which are being sent — and the folding policy. Pure bookkeeping, no I/O and no waiting:
// the Forwarder keeps it in step with the SQLite spool and does the blocking.
//
// Order: every event gets a sequence number when observed. Events of one key (one object) go
// out one at a time in sequence order: only the oldest event of a key is eligible, and only while
// no other event of that key is being sent. Across keys the oldest eligible event goes first.
//
// Folding (consumers are level-triggered, so the newest state is what matters): a new event
// replaces the newest queued event of the same object incarnation (same key and uid) that is not
// being sent when
//   - the settle window is on and that event is still inside it (it is not due yet), or
//   - the queue holds maxEvents or more.
// The replaced entry keeps its sequence number and due time (a busy object cannot starve), and
// takes the new event's id, type and body. When the queue is full and the new event cannot fold
// into a tail, older events of every object are first compacted away (keeping each incarnation's
// newest); if that frees nothing the event is appended anyway — the queue then holds at most one
// event per object and incarnation, bounded by the number of objects, and nothing is lost.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "events/payload.h"

namespace ocpvdr::forwarder {

// The change and its wire form are the event format (events/payload.h).
using events::Change;
using events::ChangeType;
using events::ObjectMeta;

// Kept small: the queue may hold every event of a long webhook outage (bodies stay on disk).
struct QueuedEvent {
  std::int64_t seq = 0;   // spool row id; observation order
  std::string key;        // changeKey(): events of one key go out one at a time, in seq order
  std::string uid;        // folding never crosses object incarnations
  std::string rv;         // the object's resourceVersion in this event
  std::string_view kind;  // internKind(): static storage
  ChangeType type = ChangeType::Added;
  SteadyTime due{};  // not handed out before this (settle window)
  int attempts = 0;  // failed sends so far

  std::string id() const;  // eventId(): "<uid>:<rv>:<TYPE>"
};

// "PersistentVolume" / "VolumeSnapshot" as views of static strings ("" for anything else).
std::string_view internKind(std::string_view kind);

enum class FoldReason { None, Settle, Limit };

struct Placement {
  std::int64_t seq = 0;  // the row the event is written to (new, or the one it folds into)
  bool folded = false;   // true: an existing row is overwritten
  FoldReason reason = FoldReason::None;
  std::vector<std::int64_t> compacted;  // rows dropped by compaction (delete them from the spool)
};

class EventQueue {
 public:
  struct Options {
    Millis settle{0};
    std::size_t maxEvents = 10'000;
  };

  EventQueue(Options options, Clock& clock);

  // Events found in the spool at startup, in seq order; visible and due at once. Later
  // sequence numbers continue after the largest one given.
  void restore(const std::vector<QueuedEvent>& events);

  // Places a newly observed event. The row it lands in is hidden from take() until publish(),
  // which the caller runs once the spool write is durable. `ev.seq` and `ev.due` are assigned
  // here.
  Placement add(QueuedEvent ev);
  // The rows written by the last spool commit are now durable and may be sent.
  void publish(const std::vector<std::int64_t>& seqs);

  // The oldest eligible event that is due, marked as being sent; nullopt when none is.
  std::optional<QueuedEvent> take();
  // When the next hidden-free head becomes due (nullopt: nothing is waiting to be taken).
  std::optional<SteadyTime> nextDue() const;
  // Sent (or dead-lettered): gone. Its successor of the same key becomes eligible.
  void ack(std::int64_t seq);
  // Not sent: eligible again, first of its key, attempts + 1.
  void release(std::int64_t seq);

  std::size_t size() const { return entries_.size(); }
  std::size_t inFlight() const { return inFlight_; }
  std::uint64_t folded(FoldReason reason) const;

 private:
  struct Entry {
    QueuedEvent ev;
    bool inFlight = false;
    bool hidden = false;  // written in a spool batch that is not committed yet
  };

  void refreshHead(const std::string& key);  // re-evaluates whether the key's head is ready
  std::vector<std::int64_t> compact();
  std::optional<std::int64_t> foldTarget(const QueuedEvent& ev, SteadyTime now, FoldReason& why);

  Options options_;
  Clock& clock_;
  std::int64_t nextSeq_ = 1;
  std::map<std::int64_t, Entry> entries_;
  std::unordered_map<std::string, std::vector<std::int64_t>> byKey_;  // short chains
  std::set<std::int64_t> ready_;  // heads that are neither in flight nor hidden
  std::size_t inFlight_ = 0;
  std::uint64_t foldedSettle_ = 0, foldedLimit_ = 0;
};

}  // namespace ocpvdr::forwarder
