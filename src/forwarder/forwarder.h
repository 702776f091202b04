// Forwarder: `ocpv-dr forward` — watches PersistentVolumes and VolumeSnapshots and POSTs every
// change to a webhook (an EDA rulebook activation, or `ocpv-dr serve`), durably and in order per
// object.
//
// Threads and the path of one change:
//   watch threads (one kube::Reflector per watch)  → filter → Change → bounded ingest list
//     (a full list blocks the watch thread: back-pressure on the API stream, not memory growth)
//   committer thread: ingest → EventQueue placement (fold/compact) → ONE spool transaction with
//     the events, the checkpoint rows and the acknowledgements → events become sendable
//   sender threads: oldest eligible event → body from the spool → POST → ack / retry later /
//     dead-letter; a DeliveryGate spaces retries for the webhook as a whole
//
// Restart: the checkpoint's per-object (uid, resourceVersion) seeds each reflector, so the first
// list reports only what changed while the forwarder was down (new → ADDED, changed → MODIFIED,
// vanished → DELETED with the checkpointed last state, or LEFT_SELECTION when a GET shows the PV
// still exists under the same uid — the label selector no longer matches it), all marked initial;
// events still in the spool go out first with their original ids. A change is in the checkpoint
// only if its event is in the spool in the same transaction, so no crash point loses one: an event
// not yet committed is found again by the restart's list diff.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/metrics.h"
#include "core/result.h"
#include "events/payload.h"
#include "events/selection.h"
#include "forwarder/backoff.h"
#include "forwarder/dead_letter.h"
#include "forwarder/event_queue.h"
#include "forwarder/secret_source.h"
#include "forwarder/spool.h"
#include "forwarder/webhook.h"
#include "kube/kube_client.h"
#include "kube/reflector.h"

namespace ocpvdr::forwarder {

struct ForwarderOptions {
  std::string cluster = "primary";  // the site name sent as `cluster`
  std::string spoolDir;
  std::size_t spoolMaxEvents = 10'000;
  Millis settle{0};
  events::Filter filter;      // storage classes (PVs), namespaces (VolumeSnapshots)
  std::string labelSelector;  // PVs, applied by the API server
  bool watchSnapshots = true;
  int senders = 4;               // concurrent POSTs (never two for one object)
  std::size_t ingestLimit = 64;  // changes waiting for the spool before the watches pause
  // While the webhook keeps up, the watches read at most this many events ahead of delivery: a
  // backlog then waits in the API server's watch buffer, not in this process's memory. While the
  // webhook fails, the spool takes everything (up to spoolMaxEvents, then folding).
  std::size_t readAhead = 1'024;
  double highWaterShare = 0.9;  // /readyz fails while the spool holds more than this share
  BackoffPolicy backoff;
  kube::ReflectorOptions reflector;  // timeouts and backoff of the watches (ns/selector ignored)
  std::string deadLetterPath;        // empty: <spoolDir>/dead-letter.ndjson
};

class Forwarder {
 public:
  // Everything passed by reference must outlive the Forwarder.
  Forwarder(kube::KubeClient& kube, HttpClient& http, WebhookOptions webhook, SecretSource& token,
            SecretSource& hmac, Clock& clock, MetricsRegistry& metrics, ForwarderOptions options);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Opens the spool, restores spooled events and the checkpoint, starts every thread.
  [[nodiscard]] Status start();
  // SIGTERM path: stops the watches, cancels in-flight POSTs (their events stay spooled), writes
  // the last batch, joins every thread. Idempotent. An error means the last batch could not be
  // persisted (the next start re-discovers those changes from the API).
  [[nodiscard]] Status stop();

  // "" when ready: every watch has listed (and is watching) and the spool is below its
  // high-water mark; otherwise the reason.
  std::string readiness() const;
  // Copies reflector counters and queue gauges into the registry (call before rendering).
  void publishMetrics();
  std::size_t spoolDepth() const;

 private:
  struct Watch;
  struct Pending {
    Change change;
    std::string watch;
  };

  void onChange(Watch& w, kube::WatchEventType type, const Json& object, bool fromRelist);
  // A ready, bound VolumeSnapshot's VolumeSnapshotContent read from the API as JSON text; ""
  // otherwise (or when it cannot be read: logged).
  std::string boundContent(const Json& snapshot, const std::string& watch);
  // What a GET says about this PV incarnation: gone (404 or another uid), still there (a DELETED
  // that is really LEFT_SELECTION), or unknown (the GET failed).
  enum class Presence { Gone, StillThere, Unknown };
  Presence presence(const ObjectMeta& meta);
  // Step of start(): the events still in the spool, back in the queue; how many.
  [[nodiscard]] Result<std::size_t> restoreSpooledEvents();
  void committerLoop();
  void senderLoop(std::stop_token stop, SpoolReader& reader);
  // Steps of senderLoop: the next event to send, a dead letter, the webhook's answer.
  std::optional<QueuedEvent> nextEvent(std::stop_token stop);
  void deadLetter(const QueuedEvent& ev, DeliveryResult& result, const std::string& body);
  [[nodiscard]] bool recordDelivery(const QueuedEvent& ev, const DeliveryResult& result,
                                    SteadyTime now, bool wasHealthy);
  Status commitBatch(std::vector<Pending>& changes, std::vector<std::int64_t>& acks);
  void describeMetrics();

  kube::KubeClient& kube_;
  WebhookClient webhook_;
  SecretSource& token_;
  SecretSource& hmac_;
  Clock& clock_;
  MetricsRegistry& metrics_;
  ForwarderOptions options_;
  std::unique_ptr<Spool> spool_;
  std::unique_ptr<DeadLetterFile> deadLetters_;
  std::vector<std::unique_ptr<Watch>> watches_;
  std::vector<std::unique_ptr<SpoolReader>> senderReaders_;

  // Ingest: changes and acknowledgements waiting for the committer. Acknowledgements are written
  // in batches (a crash before they are written only means re-sends with the same ids).
  static constexpr std::size_t kAckBatch = 256;
  std::mutex ingestMu_;
  std::condition_variable committerCv_;  // work for the committer
  std::condition_variable spaceCv_;      // room in the ingest list for the watch threads
  std::vector<Pending> ingest_;
  std::vector<std::int64_t> acks_;
  bool committerStop_ = false;
  std::atomic<bool> watchesStopping_{false};

  // Queue and gate, shared by the committer and the senders.
  mutable std::mutex queueMu_;
  std::condition_variable_any sendCv_;
  EventQueue queue_;
  DeliveryGate gate_;
  std::uint64_t credentialsGeneration_ = 0;  // token + HMAC generations at the last 401/403
  std::uint64_t wakeGen_ = 0;                // bumped (under queueMu_) whenever senders may go on
  // Copies for the watch threads' read-ahead check (written under queueMu_).
  std::atomic<std::size_t> queued_{0};
  std::atomic<bool> deliveringWell_{true};
  std::atomic<std::int64_t> lastForwardMs_{0};  // wall clock of the last 2xx (published as a gauge)

  std::stop_source watchStop_;
  std::vector<std::jthread> watchThreads_;
  std::thread committer_;
  std::vector<std::jthread> senders_;
  bool started_ = false, stopped_ = false;
  Status committerStatus_;
  std::atomic<bool> commitFailing_{false};
};

}  // namespace ocpvdr::forwarder
