// KubeClient: the Kubernetes REST client (JSON over the HttpClient seam).
//
// get / list (one page) / listAll (follows `continue`, restarts when the continue token expired)
// / watch (streamed, decoded per event) / create / update (PUT) / apply (server-side apply) /
// merge and JSON patch / remove (DELETE) / subresources (status; KubeVirt start, stop, freeze...).
// Non-2xx responses become Errors via api_status.h (the Status reason is readable with
// statusReason(), isAlreadyExists(), isConflict(), isExpired()).
//
// Retries (bounded, exponential backoff with jitter, Retry-After seconds honoured, all sleeps on
// the injected Clock):
//   - GET, PUT (object and status), DELETE, merge patch and apply: on 429, 5xx and Retryable
//     transport errors. A PUT carries the resourceVersion precondition and these patches are
//     idempotent in effect, so a replay after a lost response is harmless (at worst a 409
//     Conflict / 404 the caller sees).
//   - POST (create), JSON patch (ops such as "add" to a list are not idempotent) and action
//     subresources (restart, freeze, ...): only on 429 and 503, which the API server sends before
//     doing anything. Not on other 5xx or transport errors: the request may have been applied.
//     Such an error says so, and a create replayed by the caller may then get 409 AlreadyExists
//     (isAlreadyExists()) — re-read and decide.
// A 401 with a file-based token re-reads the token once and retries (rotated service-account
// tokens). The token is never logged.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/http.h"
#include "core/json_util.h"
#include "core/result.h"
#include "kube/api_status.h"
#include "kube/cluster_config.h"
#include "kube/resource_type.h"
#include "kube/watch_decoder.h"

namespace ocpvdr::kube {

struct RetryPolicy {
  int maxAttempts = 5;  // total tries, including the first
  std::chrono::milliseconds initialBackoff{200};
  std::chrono::milliseconds maxBackoff{10'000};
  // A server asking for more than this is capped (a misbehaving proxy must not park us).
  std::chrono::milliseconds maxRetryAfter{60'000};
};

struct KubeClientOptions {
  RetryPolicy retry;
  std::chrono::milliseconds requestTimeout{60'000};
  std::chrono::milliseconds connectTimeout{10'000};
  // Extra time beyond timeoutSeconds before the transport gives up on a silent watch.
  std::chrono::milliseconds watchGrace{30'000};
  std::chrono::milliseconds tokenRecheck{5'000};
  std::string userAgent = "ocpv-dr";
  std::uint64_t seed = 0;  // jitter RNG; 0: from std::random_device
  std::size_t maxWatchLine = WatchDecoder::kDefaultMaxLine;
};

struct ListOptions {
  std::string labelSelector;
  std::string fieldSelector;
  std::int64_t limit = 0;  // 0: no paging
  std::string continueToken;
  std::string resourceVersion;  // "" : most recent (quorum read)
};

struct ListPage {
  std::string kind;             // "PersistentVolumeList"
  std::string resourceVersion;  // the list's; the point a watch starts from
  std::string continueToken;    // "" on the last page
  std::optional<std::int64_t> remainingItemCount;
  std::vector<Json> items;  // each with kind/apiVersion filled in (the server omits them)
};

// Parses a list body. `type` (optional) fills in items' kind/apiVersion.
[[nodiscard]] Result<ListPage> parseListPage(const Json& body, const ResourceType* type = nullptr);

struct ListResult {
  std::string resourceVersion;
  std::vector<Json> items;
  int pages = 0;
  int restarts = 0;  // times the list restarted because a continue token expired
};

struct WatchOptions {
  std::string resourceVersion;  // start after this; "" : synthetic ADDED for current objects
  bool allowWatchBookmarks = true;
  std::int64_t timeoutSeconds = 0;  // 0: server default
  std::string labelSelector;
  std::string fieldSelector;
};

struct WatchEnd {
  enum class How {
    Closed,   // the server ended the stream cleanly (timeoutSeconds, restart): re-watch from rv
    Expired,  // 410, as an HTTP status or as an ERROR event: re-list
    Stopped,  // the stop token was requested
  };
  How how = How::Closed;
  std::string resourceVersion;  // last seen (events and bookmarks); the request's when none
  std::size_t events = 0;       // events delivered, bookmarks included
  std::string message;          // for Expired: the Status message
};

// Called for every decoded event, BOOKMARK included (only its resourceVersion is meaningful).
// ERROR events are not delivered: they end the watch (Expired or an error).
using WatchHandler = std::function<void(WatchEvent&)>;

struct PatchOptions {
  std::string fieldManager;  // optional for merge/JSON patch
  std::string subresource;   // e.g. "status"; empty: the object itself
};

struct ApplyOptions {
  std::string fieldManager;  // required
  bool force = false;        // take ownership of fields other managers own
  std::string subresource;
};

struct DeleteOptions {
  std::string propagationPolicy;  // "", Foreground, Background, Orphan
  std::optional<std::int64_t> gracePeriodSeconds;
  std::string preconditionUid;              // delete only this incarnation
  std::string preconditionResourceVersion;  // delete only this version
};

enum class PatchType { Merge, Json, Apply };

struct ClientCounters {
  std::uint64_t requests = 0;  // HTTP requests sent (each retry counts)
  std::uint64_t retries = 0;
  std::uint64_t tokenReloads = 0;
};

class KubeClient {
 public:
  KubeClient(HttpClient& http, ClusterConfig cfg, Clock& clock, KubeClientOptions opts = {});

  const ClusterConfig& config() const { return cfg_; }
  ClientCounters counters() const;

  [[nodiscard]] Result<Json> get(const ResourceType& type, std::string_view ns,
                                 std::string_view name, std::stop_token stop = {});
  [[nodiscard]] Result<ListPage> list(const ResourceType& type, std::string_view ns,
                                      const ListOptions& opts = {}, std::stop_token stop = {});
  // Every page; opts.continueToken is ignored. A 410 on a continue page restarts the list from
  // the beginning (bounded); the result is one consistent snapshot.
  [[nodiscard]] Result<ListResult> listAll(const ResourceType& type, std::string_view ns,
                                           const ListOptions& opts = {}, std::stop_token stop = {});
  // Runs one watch request until the server ends it, it expires, or stop is requested. Decode
  // errors, ERROR events other than 410, non-200 responses and transport failures are errors
  // (the caller re-watches from the last resourceVersion it saw, after a backoff).
  [[nodiscard]] Result<WatchEnd> watch(const ResourceType& type, std::string_view ns,
                                       const WatchOptions& opts, const WatchHandler& onEvent,
                                       std::stop_token stop = {});

  // `ns` empty: taken from obj.metadata.namespace for namespaced types.
  [[nodiscard]] Result<Json> create(const ResourceType& type, const Json& obj,
                                    std::string_view ns = {}, std::stop_token stop = {});
  // PUT of the whole object; its metadata.resourceVersion is the optimistic-concurrency
  // precondition (409 Conflict when stale; absent: unconditional).
  [[nodiscard]] Result<Json> update(const ResourceType& type, const Json& obj,
                                    std::stop_token stop = {});
  [[nodiscard]] Result<Json> updateStatus(const ResourceType& type, const Json& obj,
                                          std::stop_token stop = {});
  // Server-side apply of `obj` (must carry apiVersion, kind, metadata.name).
  [[nodiscard]] Result<Json> apply(const ResourceType& type, const Json& obj,
                                   const ApplyOptions& opts, std::stop_token stop = {});
  [[nodiscard]] Result<Json> mergePatch(const ResourceType& type, std::string_view ns,
                                        std::string_view name, const Json& patch,
                                        const PatchOptions& opts = {}, std::stop_token stop = {});
  [[nodiscard]] Result<Json> jsonPatch(const ResourceType& type, std::string_view ns,
                                       std::string_view name, const Json& ops,
                                       const PatchOptions& opts = {}, std::stop_token stop = {});
  // The object (when deletion is pending on finalizers) or the server's Status.
  [[nodiscard]] Result<Json> remove(const ResourceType& type, std::string_view ns,
                                    std::string_view name, const DeleteOptions& opts = {},
                                    std::stop_token stop = {});
  // PUT to a subresource: KubeVirt start/stop/restart (body may be null → "{}"), freeze with
  // {"unfreezeTimeout":"5m"}, unfreeze. An empty response body gives an empty object.
  [[nodiscard]] Result<Json> putSubresource(const ResourceType& type, std::string_view ns,
                                            std::string_view name, std::string_view subresource,
                                            const Json& body = nullptr, std::stop_token stop = {});
  [[nodiscard]] Result<Json> patchSubresource(const ResourceType& type, std::string_view ns,
                                              std::string_view name, std::string_view subresource,
                                              PatchType patchType, const Json& body,
                                              const std::string& fieldManager = "",
                                              std::stop_token stop = {});

  // A raw request to any API path (discovery, /version); the response body parsed as JSON.
  [[nodiscard]] Result<Json> request(const std::string& method, const std::string& pathAndQuery,
                                     const std::string& body = "",
                                     const std::string& contentType = "application/json",
                                     std::stop_token stop = {});

 private:
  enum class Replay { Safe, OnlyWhenRejected };
  struct Call {
    std::string method;
    std::string path;  // with query
    std::string body;
    std::string contentType;
    Replay replay = Replay::Safe;
  };

  // Sends with retries; returns the final response (any status) or a transport error.
  [[nodiscard]] Result<HttpResponse> execute(const Call& call, std::stop_token stop);
  // execute() + a non-2xx status turned into an Error + the body parsed.
  [[nodiscard]] Result<Json> call(const Call& call, std::stop_token stop);
  [[nodiscard]] Result<Json> patchImpl(const ResourceType& type, std::string_view ns,
                                       std::string_view name, std::string_view subresource,
                                       PatchType patchType, const Json& body,
                                       const std::string& fieldManager, bool force,
                                       std::stop_token stop);
  [[nodiscard]] Result<HttpRequest> baseRequest(const Call& call);
  std::chrono::milliseconds backoffFor(int attempt);

  HttpClient& http_;
  ClusterConfig cfg_;
  Clock& clock_;
  KubeClientOptions opts_;
  BearerTokenSource token_;
  std::mutex rngMu_;
  std::mt19937_64 rng_;
  std::atomic<std::uint64_t> requests_{0}, retries_{0}, tokenReloads_{0};
};

}  // namespace ocpvdr::kube
