// EventQueue bookkeeping (see event_queue.h).
#include "forwarder/event_queue.h"

#include <algorithm>

namespace ocpvdr::forwarder {

std::string QueuedEvent::id() const {
  std::string out = uid;
  out += ':';
  out += rv;
  out += ':';
  out += toString(type);
  return out;
}

std::string_view internKind(std::string_view kind) {
  static constexpr std::string_view kPv = "PersistentVolume";
  static constexpr std::string_view kVs = "VolumeSnapshot";
  if (kind == kPv) return kPv;
  if (kind == kVs) return kVs;
  return {};
}

EventQueue::EventQueue(Options options, Clock& clock) : options_(options), clock_(clock) {}

void EventQueue::restore(const std::vector<QueuedEvent>& events) {
  const SteadyTime now = clock_.monotonic();
  for (const auto& e : events) {
    Entry entry{e, false, false};
    entry.ev.due = now;
    entries_[e.seq] = entry;
    byKey_[e.key].push_back(e.seq);
    nextSeq_ = std::max(nextSeq_, e.seq + 1);
  }
  for (auto& [key, seqs] : byKey_) {
    std::sort(seqs.begin(), seqs.end());
    refreshHead(key);
  }
}

void EventQueue::refreshHead(const std::string& key) {
  auto it = byKey_.find(key);
  if (it == byKey_.end() || it->second.empty()) return;
  const std::int64_t head = it->second.front();
  const Entry& e = entries_.at(head);
  if (!e.inFlight && !e.hidden) {
    ready_.insert(head);
  } else {
    ready_.erase(head);
  }
}

std::optional<std::int64_t> EventQueue::foldTarget(const QueuedEvent& ev, SteadyTime now,
                                                   FoldReason& why) {
  auto it = byKey_.find(ev.key);
  if (it == byKey_.end() || it->second.empty()) return std::nullopt;
  const std::int64_t tailSeq = it->second.back();
  const Entry& tail = entries_.at(tailSeq);
  if (tail.inFlight || tail.ev.uid != ev.uid) return std::nullopt;
  if (options_.settle.count() > 0 && now < tail.ev.due) {
    why = FoldReason::Settle;
    return tailSeq;
  }
  if (entries_.size() >= options_.maxEvents) {
    why = FoldReason::Limit;
    return tailSeq;
  }
  return std::nullopt;
}

Placement EventQueue::add(QueuedEvent ev) {
  const SteadyTime now = clock_.monotonic();
  Placement p;
  FoldReason why = FoldReason::None;
  auto target = foldTarget(ev, now, why);
  if (!target && entries_.size() >= options_.maxEvents) {
    p.compacted = compact();
    target = foldTarget(ev, now, why);
  }
  if (target) {
    Entry& e = entries_.at(*target);
    ev.seq = e.ev.seq;
    ev.due = e.ev.due;
    ev.attempts = e.ev.attempts;
    e.ev = std::move(ev);
    e.hidden = true;
    ready_.erase(*target);
    (why == FoldReason::Settle ? foldedSettle_ : foldedLimit_)++;
    p.seq = *target;
    p.folded = true;
    p.reason = why;
    return p;
  }
  ev.seq = nextSeq_++;
  ev.due = now + options_.settle;
  ev.attempts = 0;
  p.seq = ev.seq;
  const std::string key = ev.key;
  entries_[ev.seq] = Entry{std::move(ev), false, true};
  byKey_[key].push_back(p.seq);
  return p;
}

std::vector<std::int64_t> EventQueue::compact() {
  std::vector<std::int64_t> dropped;
  for (auto& [key, seqs] : byKey_) {
    if (seqs.size() < 2) continue;
    std::vector<std::int64_t> kept;
    for (std::size_t i = 0; i < seqs.size(); ++i) {
      const Entry& cur = entries_.at(seqs[i]);
      const bool hasNewerTwin = i + 1 < seqs.size() && [&] {
        const Entry& next = entries_.at(seqs[i + 1]);
        return next.ev.uid == cur.ev.uid && !next.inFlight;
      }();
      // An event being sent, or one whose row is still being written, is never dropped.
      if (hasNewerTwin && !cur.inFlight && !cur.hidden) {
        dropped.push_back(seqs[i]);
        ready_.erase(seqs[i]);
        entries_.erase(seqs[i]);
        ++foldedLimit_;
      } else {
        kept.push_back(seqs[i]);
      }
    }
    seqs = std::move(kept);
    refreshHead(key);
  }
  std::sort(dropped.begin(), dropped.end());
  return dropped;
}

void EventQueue::publish(const std::vector<std::int64_t>& seqs) {
  for (std::int64_t s : seqs) {
    auto it = entries_.find(s);
    if (it == entries_.end()) continue;
    it->second.hidden = false;
    refreshHead(it->second.ev.key);
  }
}

std::optional<QueuedEvent> EventQueue::take() {
  if (ready_.empty()) return std::nullopt;
  const std::int64_t seq = *ready_.begin();
  Entry& e = entries_.at(seq);
  if (e.ev.due > clock_.monotonic()) return std::nullopt;
  ready_.erase(ready_.begin());
  e.inFlight = true;
  ++inFlight_;
  return e.ev;
}

std::optional<SteadyTime> EventQueue::nextDue() const {
  if (ready_.empty()) return std::nullopt;
  return entries_.at(*ready_.begin()).ev.due;
}

void EventQueue::ack(std::int64_t seq) {
  auto it = entries_.find(seq);
  if (it == entries_.end()) return;
  const std::string key = it->second.ev.key;
  if (it->second.inFlight) --inFlight_;
  ready_.erase(seq);
  entries_.erase(it);
  auto k = byKey_.find(key);
  if (k != byKey_.end()) {
    auto& seqs = k->second;
    seqs.erase(std::remove(seqs.begin(), seqs.end(), seq), seqs.end());
    if (seqs.empty()) {
      byKey_.erase(k);
    } else {
      refreshHead(key);
    }
  }
}

void EventQueue::release(std::int64_t seq) {
  auto it = entries_.find(seq);
  if (it == entries_.end() || !it->second.inFlight) return;
  it->second.inFlight = false;
  --inFlight_;
  ++it->second.ev.attempts;
  refreshHead(it->second.ev.key);
}

std::uint64_t EventQueue::folded(FoldReason reason) const {
  return reason == FoldReason::Settle  ? foldedSettle_
         : reason == FoldReason::Limit ? foldedLimit_
                                       : 0;
}

}  // namespace ocpvdr::forwarder
