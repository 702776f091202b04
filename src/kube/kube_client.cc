// KubeClient: request building, retries, Status decoding, paging and the watch stream.
#include "kube/kube_client.h"

#include <algorithm>
#include <cctype>

#include "core/backoff.h"
#include "core/log.h"

namespace ocpvdr::kube {
namespace {

constexpr std::size_t kMaxErrorBody = 64 * 1024;
constexpr int kMaxListRestarts = 3;

bool isSuccess(int status) {
  return status >= 200 && status <= 299;
}

// "GET /api/v1/persistentvolumes" (no query: selectors and tokens make it long).
std::string describeCall(std::string_view method, std::string_view pathAndQuery) {
  auto q = pathAndQuery.find('?');
  std::string s(method);
  s += " ";
  s += pathAndQuery.substr(0, q);
  return s;
}

std::optional<std::chrono::milliseconds> retryAfter(const HttpResponse& r,
                                                    std::chrono::milliseconds cap) {
  auto h = r.header("retry-after");
  if (!h || h->empty() || h->size() > 9) return std::nullopt;
  long long secs = 0;
  for (char c : *h) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;  // HTTP-date: ignored
    secs = secs * 10 + (c - '0');
  }
  return std::min<std::chrono::milliseconds>(std::chrono::seconds(secs), cap);
}

Result<Json> parseBody(const HttpResponse& r, const std::string& ctx) {
  if (r.body.empty()) return Json::object();
  auto j = Json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return invalidError(ctx + ": HTTP " + std::to_string(r.status) + " response is not JSON: \"" +
                        r.body.substr(0, 200) + "\"");
  }
  return j;
}

std::string metaString(const Json& obj, const char* key) {
  const Json* v = jsonAt(obj, std::string("metadata.") + key);
  return v && v->is_string() ? v->get<std::string>() : std::string{};
}

}  // namespace

Result<ListPage> parseListPage(const Json& body, const ResourceType* type) {
  if (!body.is_object()) return invalidError("list response: expected a JSON object");
  ListPage page;
  OCPVDR_ASSIGN_OR_RETURN(auto kind, jsonOptString(body, "kind"));
  page.kind = kind.value_or("");
  OCPVDR_ASSIGN_OR_RETURN(auto rv, jsonOptString(body, "metadata.resourceVersion"));
  page.resourceVersion = rv.value_or("");
  OCPVDR_ASSIGN_OR_RETURN(auto cont, jsonOptString(body, "metadata.continue"));
  page.continueToken = cont.value_or("");
  if (const Json* rem = jsonAt(body, "metadata.remainingItemCount"); rem && !rem->is_null()) {
    if (!rem->is_number_integer()) {
      return invalidError("list response: metadata.remainingItemCount: expected an integer");
    }
    page.remainingItemCount = rem->get<std::int64_t>();
  }
  auto items = body.find("items");
  if (items == body.end() || items->is_null()) return page;  // an empty list may say null
  if (!items->is_array()) return invalidError("list response: items: expected an array");
  page.items.reserve(items->size());
  for (std::size_t i = 0; i < items->size(); ++i) {
    const Json& it = (*items)[i];
    if (!it.is_object()) {
      return invalidError("list response: items[" + std::to_string(i) + "]: expected an object");
    }
    Json copy = it;
    if (type != nullptr) {
      if (!copy.contains("kind")) copy["kind"] = type->kind;
      if (!copy.contains("apiVersion")) copy["apiVersion"] = type->apiVersion();
    }
    page.items.push_back(std::move(copy));
  }
  return page;
}

KubeClient::KubeClient(HttpClient& http, ClusterConfig cfg, Clock& clock, KubeClientOptions opts)
    : http_(http),
      cfg_(std::move(cfg)),
      clock_(clock),
      opts_(std::move(opts)),
      token_(cfg_, clock, opts_.tokenRecheck),
      rng_(opts_.seed != 0 ? opts_.seed : std::random_device{}()) {
  if (opts_.retry.maxAttempts < 1) opts_.retry.maxAttempts = 1;
}

ClientCounters KubeClient::counters() const {
  return {requests_.load(), retries_.load(), tokenReloads_.load()};
}

std::chrono::milliseconds KubeClient::backoffFor(int attempt) {
  // "Equal jitter": half fixed, half random, so concurrent clients spread out but never retry
  // immediately.
  const Backoff backoff{opts_.retry.initialBackoff, opts_.retry.maxBackoff, 0.5, 0};
  std::lock_guard lock(rngMu_);
  return backoff.delay(attempt, rng_);
}

Result<HttpRequest> KubeClient::baseRequest(const Call& call) {
  HttpRequest req;
  req.method = call.method;
  req.url = cfg_.server + call.path;
  req.connectTimeout = opts_.connectTimeout;
  req.timeout = opts_.requestTimeout;
  req.headers.emplace_back("Accept", "application/json");
  req.headers.emplace_back("User-Agent", opts_.userAgent);
  if (!call.body.empty() || call.method == "POST" || call.method == "PUT" ||
      call.method == "PATCH") {
    req.headers.emplace_back("Content-Type", call.contentType);
    req.body = call.body;
  }
  OCPVDR_ASSIGN_OR_RETURN(std::string tok, token_.token());
  if (!tok.empty()) req.headers.emplace_back("Authorization", "Bearer " + tok);
  return req;
}

Result<HttpResponse> KubeClient::execute(const Call& call, std::stop_token stop) {
  const std::string ctx = describeCall(call.method, call.path);
  bool reloadedToken = false;
  for (int attempt = 1;; ++attempt) {
    auto req = baseRequest(call);
    if (!req) return req.error().wrap(ctx);
    ++requests_;
    auto r = http_.send(*req, stop);
    if (stop.stop_requested()) return retryableError(ctx + ": cancelled");
    const bool last = attempt >= opts_.retry.maxAttempts;
    if (!r) {
      if (r.error().kind != ErrorKind::Retryable || call.replay != Replay::Safe || last) {
        Error e = r.error().wrap(ctx);
        if (r.error().kind == ErrorKind::Retryable && call.replay != Replay::Safe) {
          e.message +=
              " (not retried: the request may have reached the server and been applied; re-read "
              "before repeating it)";
        }
        return e;
      }
      auto delay = backoffFor(attempt);
      ++retries_;
      log::debug("kube: retrying after a transport error", {{"request", ctx},
                                                            {"attempt", attempt},
                                                            {"delayMs", delay.count()},
                                                            {"error", r.error().message}});
      if (!clock_.sleepFor(delay, stop)) return retryableError(ctx + ": cancelled");
      continue;
    }
    const int status = r->status;
    if (status == 401 && token_.fromFile() && !reloadedToken) {
      reloadedToken = true;
      ++tokenReloads_;
      auto changed = token_.reload();
      if (changed && *changed) {
        log::info("kube: bearer token changed on disk; retrying with the new one",
                  {{"request", ctx}});
        --attempt;  // a rotated token is not a server fault; do not spend a retry on it
        continue;
      }
    }
    const bool retryableStatus = call.replay == Replay::Safe
                                     ? (status == 429 || (status >= 500 && status <= 599))
                                     : (status == 429 || status == 503);
    if (!retryableStatus || last) return r;
    auto delay = retryAfter(*r, opts_.retry.maxRetryAfter).value_or(backoffFor(attempt));
    ++retries_;
    log::debug("kube: retrying after HTTP " + std::to_string(status),
               {{"request", ctx}, {"attempt", attempt}, {"delayMs", delay.count()}});
    if (!clock_.sleepFor(delay, stop)) return retryableError(ctx + ": cancelled");
  }
}

Result<Json> KubeClient::call(const Call& c, std::stop_token stop) {
  OCPVDR_ASSIGN_OR_RETURN(HttpResponse r, execute(c, stop));
  const std::string ctx = describeCall(c.method, c.path);
  if (!isSuccess(r.status)) return errorFromResponse(r.status, r.body, ctx);
  return parseBody(r, ctx);
}

Result<Json> KubeClient::request(const std::string& method, const std::string& pathAndQuery,
                                 const std::string& body, const std::string& contentType,
                                 std::stop_token stop) {
  if (pathAndQuery.empty() || pathAndQuery.front() != '/') {
    return invalidError("request path must start with '/': \"" + pathAndQuery + "\"");
  }
  const bool safe = method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE";
  return call(
      {method, pathAndQuery, body, contentType, safe ? Replay::Safe : Replay::OnlyWhenRejected},
      stop);
}

Result<Json> KubeClient::get(const ResourceType& type, std::string_view ns, std::string_view name,
                             std::stop_token stop) {
  OCPVDR_ASSIGN_OR_RETURN(std::string path, objectPath(type, ns, name));
  OCPVDR_ASSIGN_OR_RETURN(Json obj, call({"GET", path, "", "", Replay::Safe}, stop));
  if (obj.is_object()) {
    if (!obj.contains("kind")) obj["kind"] = type.kind;
    if (!obj.contains("apiVersion")) obj["apiVersion"] = type.apiVersion();
  }
  return obj;
}

Result<ListPage> KubeClient::list(const ResourceType& type, std::string_view ns,
                                  const ListOptions& opts, std::stop_token stop) {
  OCPVDR_ASSIGN_OR_RETURN(std::string path, collectionPath(type, ns));
  QueryParams q;
  if (!opts.labelSelector.empty()) q.emplace_back("labelSelector", opts.labelSelector);
  if (!opts.fieldSelector.empty()) q.emplace_back("fieldSelector", opts.fieldSelector);
  if (opts.limit > 0) q.emplace_back("limit", std::to_string(opts.limit));
  if (!opts.continueToken.empty()) q.emplace_back("continue", opts.continueToken);
  if (!opts.resourceVersion.empty()) q.emplace_back("resourceVersion", opts.resourceVersion);
  const std::string full = path + encodeQuery(q);
  OCPVDR_ASSIGN_OR_RETURN(Json body, call({"GET", full, "", "", Replay::Safe}, stop));
  auto page = parseListPage(body, &type);
  if (!page) return page.error().wrap("GET " + path);
  return page;
}

Result<ListResult> KubeClient::listAll(const ResourceType& type, std::string_view ns,
                                       const ListOptions& opts, std::stop_token stop) {
  ListResult out;
  for (;;) {
    ListOptions o = opts;
    o.continueToken.clear();
    out.items.clear();
    out.pages = 0;
    out.resourceVersion.clear();
    bool restart = false;
    for (;;) {
      auto page = list(type, ns, o, stop);
      if (!page) {
        if (isExpired(page.error()) && !o.continueToken.empty() &&
            out.restarts < kMaxListRestarts) {
          // The snapshot the continue token pointed into was compacted away: the pages read so
          // far cannot be combined with newer ones, so start over.
          ++out.restarts;
          log::info("kube: list continue token expired; restarting the list",
                    {{"resource", type.groupResource()}, {"restart", out.restarts}});
          restart = true;
          break;
        }
        return page.error();
      }
      ++out.pages;
      if (out.pages == 1) out.resourceVersion = page->resourceVersion;
      for (auto& it : page->items) out.items.push_back(std::move(it));
      if (page->continueToken.empty()) return out;
      o.continueToken = page->continueToken;
      o.resourceVersion.clear();  // the server rejects a resourceVersion together with continue
    }
    if (!restart) return out;
  }
}

Result<WatchEnd> KubeClient::watch(const ResourceType& type, std::string_view ns,
                                   const WatchOptions& opts, const WatchHandler& onEvent,
                                   std::stop_token stop) {
  OCPVDR_ASSIGN_OR_RETURN(std::string path, collectionPath(type, ns));
  QueryParams q{{"watch", "true"}};
  if (!opts.resourceVersion.empty()) q.emplace_back("resourceVersion", opts.resourceVersion);
  if (opts.allowWatchBookmarks) q.emplace_back("allowWatchBookmarks", "true");
  if (opts.timeoutSeconds > 0)
    q.emplace_back("timeoutSeconds", std::to_string(opts.timeoutSeconds));
  if (!opts.labelSelector.empty()) q.emplace_back("labelSelector", opts.labelSelector);
  if (!opts.fieldSelector.empty()) q.emplace_back("fieldSelector", opts.fieldSelector);
  const std::string ctx = "WATCH " + path;

  auto req = baseRequest({"GET", path + encodeQuery(q), "", "", Replay::Safe});
  if (!req) return req.error().wrap(ctx);
  req->timeout = opts.timeoutSeconds > 0
                     ? std::chrono::milliseconds(opts.timeoutSeconds * 1000) + opts_.watchGrace
                     : std::chrono::milliseconds(0);

  WatchEnd end;
  end.resourceVersion = opts.resourceVersion;
  WatchDecoder decoder(opts_.maxWatchLine);
  int status = 0;
  std::string errBody;
  bool finished = false;  // an ERROR event ended the stream; ignore anything after it
  std::optional<Error> failure;

  auto onDecoded = [&](WatchEvent& ev) {
    if (finished) return;
    if (ev.type == WatchEventType::Error) {
      finished = true;
      if (ev.expired()) {
        end.how = WatchEnd::How::Expired;
        end.message = ev.status->message;
      } else if (ev.status) {
        failure = errorFromStatus(*ev.status, ctx + ": ERROR event");
      } else {
        failure = invalidError(
            ctx + ": ERROR event whose object is not a Status: " + ev.object.dump().substr(0, 200));
      }
      return;
    }
    if (!ev.resourceVersion.empty()) end.resourceVersion = ev.resourceVersion;
    ++end.events;
    onEvent(ev);
  };

  req->onHeaders = [&](int s, const HttpHeaders&) { status = s; };
  req->onBody = [&](std::string_view chunk) {
    if (status != 200) {
      if (errBody.size() < kMaxErrorBody) errBody.append(chunk.substr(0, kMaxErrorBody));
      return true;
    }
    Status st = decoder.feed(chunk, onDecoded);
    if (!st.ok()) {
      failure = st.error().wrap(ctx);
      return false;
    }
    return !finished;
  };

  ++requests_;
  auto r = http_.send(*req, stop);
  if (stop.stop_requested()) {
    end.how = WatchEnd::How::Stopped;
    return end;
  }
  if (failure) return *failure;
  if (finished) return end;  // Expired via an ERROR event
  if (!r) return r.error().wrap(ctx);
  if (status == 0) status = r->status;
  if (status != 200) {
    if (errBody.empty()) errBody = r->body;
    if (status == 410) {
      end.how = WatchEnd::How::Expired;
      auto st = errorFromResponse(status, errBody, "");
      end.message = st.message;
      return end;
    }
    if (status == 401 && token_.fromFile()) {
      ++tokenReloads_;
      (void)token_.reload();  // the caller re-watches; let that attempt carry the new token
    }
    return errorFromResponse(status, errBody, ctx);
  }
  Status st = decoder.finish(onDecoded);
  if (failure) return *failure;
  if (!st.ok()) return st.error().wrap(ctx);
  if (finished) return end;
  end.how = WatchEnd::How::Closed;
  return end;
}

Result<Json> KubeClient::create(const ResourceType& type, const Json& obj, std::string_view ns,
                                std::stop_token stop) {
  if (!obj.is_object())
    return invalidError("create " + type.plural + ": object is not a JSON object");
  std::string nsv(ns);
  if (nsv.empty() && type.namespaced) nsv = metaString(obj, "namespace");
  if (type.namespaced && nsv.empty()) {
    return invalidError("create " + type.plural + ": no namespace given");
  }
  OCPVDR_ASSIGN_OR_RETURN(std::string path, collectionPath(type, nsv));
  return call({"POST", path, obj.dump(), "application/json", Replay::OnlyWhenRejected}, stop);
}

Result<Json> KubeClient::update(const ResourceType& type, const Json& obj, std::stop_token stop) {
  if (!obj.is_object())
    return invalidError("update " + type.plural + ": object is not a JSON object");
  OCPVDR_ASSIGN_OR_RETURN(std::string path,
                          objectPath(type, type.namespaced ? metaString(obj, "namespace") : "",
                                     metaString(obj, "name")));
  return call({"PUT", path, obj.dump(), "application/json", Replay::Safe}, stop);
}

Result<Json> KubeClient::updateStatus(const ResourceType& type, const Json& obj,
                                      std::stop_token stop) {
  if (!obj.is_object()) return invalidError("update status: object is not a JSON object");
  OCPVDR_ASSIGN_OR_RETURN(std::string path,
                          subresourcePath(type, type.namespaced ? metaString(obj, "namespace") : "",
                                          metaString(obj, "name"), "status"));
  return call({"PUT", path, obj.dump(), "application/json", Replay::Safe}, stop);
}

Result<Json> KubeClient::patchImpl(const ResourceType& type, std::string_view ns,
                                   std::string_view name, std::string_view subresource,
                                   PatchType patchType, const Json& body,
                                   const std::string& fieldManager, bool force,
                                   std::stop_token stop) {
  std::string path;
  if (subresource.empty()) {
    OCPVDR_ASSIGN_OR_RETURN(path, objectPath(type, ns, name));
  } else {
    OCPVDR_ASSIGN_OR_RETURN(path, subresourcePath(type, ns, name, subresource));
  }
  QueryParams q;
  if (!fieldManager.empty()) q.emplace_back("fieldManager", fieldManager);
  if (force) q.emplace_back("force", "true");
  std::string contentType;
  Replay replay = Replay::Safe;
  switch (patchType) {
    case PatchType::Merge:
      if (!body.is_object()) return invalidError("merge patch: the patch must be a JSON object");
      contentType = "application/merge-patch+json";
      break;
    case PatchType::Json:
      if (!body.is_array()) return invalidError("JSON patch: the patch must be an array of ops");
      contentType = "application/json-patch+json";
      replay = Replay::OnlyWhenRejected;
      break;
    case PatchType::Apply:
      if (fieldManager.empty()) return invalidError("apply: a fieldManager is required");
      // JSON is valid YAML: the apply content type accepts it as is.
      contentType = "application/apply-patch+yaml";
      break;
  }
  return call({"PATCH", path + encodeQuery(q), body.dump(), contentType, replay}, stop);
}

Result<Json> KubeClient::apply(const ResourceType& type, const Json& obj, const ApplyOptions& opts,
                               std::stop_token stop) {
  if (!obj.is_object()) return invalidError("apply: object is not a JSON object");
  for (const char* f : {"apiVersion", "kind"}) {
    auto it = obj.find(f);
    if (it == obj.end() || !it->is_string() || it->get<std::string>().empty()) {
      return invalidError(std::string("apply: the object needs ") + f);
    }
  }
  const std::string name = metaString(obj, "name");
  if (name.empty()) return invalidError("apply: the object needs metadata.name");
  return patchImpl(type, type.namespaced ? metaString(obj, "namespace") : "", name,
                   opts.subresource, PatchType::Apply, obj, opts.fieldManager, opts.force, stop);
}

Result<Json> KubeClient::mergePatch(const ResourceType& type, std::string_view ns,
                                    std::string_view name, const Json& patch,
                                    const PatchOptions& opts, std::stop_token stop) {
  return patchImpl(type, ns, name, opts.subresource, PatchType::Merge, patch, opts.fieldManager,
                   false, stop);
}

Result<Json> KubeClient::jsonPatch(const ResourceType& type, std::string_view ns,
                                   std::string_view name, const Json& ops, const PatchOptions& opts,
                                   std::stop_token stop) {
  return patchImpl(type, ns, name, opts.subresource, PatchType::Json, ops, opts.fieldManager, false,
                   stop);
}

Result<Json> KubeClient::remove(const ResourceType& type, std::string_view ns,
                                std::string_view name, const DeleteOptions& opts,
                                std::stop_token stop) {
  OCPVDR_ASSIGN_OR_RETURN(std::string path, objectPath(type, ns, name));
  Json body = Json::object();
  if (!opts.propagationPolicy.empty()) body["propagationPolicy"] = opts.propagationPolicy;
  if (opts.gracePeriodSeconds) body["gracePeriodSeconds"] = *opts.gracePeriodSeconds;
  if (!opts.preconditionUid.empty()) body["preconditions"]["uid"] = opts.preconditionUid;
  if (!opts.preconditionResourceVersion.empty()) {
    body["preconditions"]["resourceVersion"] = opts.preconditionResourceVersion;
  }
  std::string payload;
  if (!body.empty()) {
    body["kind"] = "DeleteOptions";
    body["apiVersion"] = "v1";
    payload = body.dump();
  }
  return call({"DELETE", path, payload, "application/json", Replay::Safe}, stop);
}

Result<Json> KubeClient::putSubresource(const ResourceType& type, std::string_view ns,
                                        std::string_view name, std::string_view subresource,
                                        const Json& body, std::stop_token stop) {
  OCPVDR_ASSIGN_OR_RETURN(std::string path, subresourcePath(type, ns, name, subresource));
  // restart is not idempotent; status PUTs carry a resourceVersion precondition.
  const Replay replay = subresource == "status" ? Replay::Safe : Replay::OnlyWhenRejected;
  return call({"PUT", path, body.is_null() ? "{}" : body.dump(), "application/json", replay}, stop);
}

Result<Json> KubeClient::patchSubresource(const ResourceType& type, std::string_view ns,
                                          std::string_view name, std::string_view subresource,
                                          PatchType patchType, const Json& body,
                                          const std::string& fieldManager, std::stop_token stop) {
  if (subresource.empty()) return invalidError("patchSubresource: no subresource given");
  return patchImpl(type, ns, name, subresource, patchType, body, fieldManager, false, stop);
}

}  // namespace ocpvdr::kube
