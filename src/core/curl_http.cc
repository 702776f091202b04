// CurlHttpClient: libcurl behind the HttpClient seam.
//
// Each pooled connection slot is a multi handle holding one easy handle: the multi handle owns
// the connection cache (so a returned slot keeps its keep-alive connections), and its poll can be
// woken from a stop callback, which makes cancellation immediate instead of waiting for curl's
// once-a-second progress callback. A slot is used by one thread at a time. DNS results and TLS
// sessions are shared between slots; connections are not (libcurl does not support sharing its
// connection cache between concurrent threads).
#include "core/curl_http.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "core/text.h"

namespace ocpvdr {
namespace {

constexpr std::size_t kMaxIdleSlots = 32;

struct Slot {
  CURLM* multi = nullptr;
  CURL* easy = nullptr;
};

// Per-request state the curl callbacks see.
struct Transfer {
  const HttpRequest* req;
  HttpResponse* resp;
  std::stop_token stop;
  HttpHeaders pending;  // headers of the response block being read
  int pendingStatus = 0;
  bool headersDelivered = false;
  bool cancelled = false;
  std::FILE* upload = nullptr;
  // Stall detection (lowSpeedTime): the time any byte last moved in either direction.
  // curl's own LOW_SPEED check averages over a window of several seconds, so a trickle keeps
  // it quiet long after a watch has gone dead; this measures silence directly.
  std::chrono::steady_clock::time_point lastActivity = std::chrono::steady_clock::now();
  curl_off_t lastDown = 0, lastUp = 0;
  bool stalled = false;
};

std::size_t onHeaderLine(char* data, std::size_t size, std::size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  const std::size_t len = size * n;
  std::string_view line(data, len);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.starts_with("HTTP/")) {
    // A new response block (after 100 Continue, say) replaces whatever came before.
    t->pending.clear();
    t->pendingStatus = 0;
    auto sp = line.find(' ');
    if (sp != std::string_view::npos) {
      int status = 0;
      for (std::size_t i = sp + 1;
           i < line.size() && std::isdigit(static_cast<unsigned char>(line[i])); ++i) {
        status = status * 10 + (line[i] - '0');
      }
      t->pendingStatus = status;
    }
  } else if (line.empty()) {
    if (t->pendingStatus >= 200 || t->pendingStatus == 0) {
      t->resp->status = t->pendingStatus;
      t->resp->headers = t->pending;
      if (!t->headersDelivered) {
        t->headersDelivered = true;
        if (t->req->onHeaders) t->req->onHeaders(t->resp->status, t->resp->headers);
      }
    }
  } else if ((line.front() == ' ' || line.front() == '\t') && !t->pending.empty()) {
    // obsolete line folding: continues the previous header's value
    t->pending.back().second += " " + std::string(trim(line));
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    t->pending.emplace_back(lowerAscii(trim(line.substr(0, colon))),
                            std::string(trim(line.substr(colon + 1))));
  }
  return len;
}

std::size_t onBodyData(char* data, std::size_t size, std::size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  const std::size_t len = size * n;
  if (t->stop.stop_requested()) {
    t->cancelled = true;
    return 0;  // any short count aborts the transfer
  }
  if (t->req->onBody) {
    if (!t->headersDelivered) {
      t->headersDelivered = true;
      if (t->req->onHeaders) t->req->onHeaders(t->resp->status, t->resp->headers);
    }
    if (!t->req->onBody(std::string_view(data, len))) {
      t->cancelled = true;
      return 0;
    }
  } else {
    t->resp->body.append(data, len);
  }
  return len;
}

std::size_t onUploadRead(char* buf, std::size_t size, std::size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  std::size_t got = std::fread(buf, 1, size * n, t->upload);
  if (got == 0 && std::ferror(t->upload)) return CURL_READFUNC_ABORT;
  return got;
}

int onProgress(void* ud, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t ulnow) {
  auto* t = static_cast<Transfer*>(ud);
  if (t->stop.stop_requested()) {
    t->cancelled = true;
    return 1;
  }
  const auto now = std::chrono::steady_clock::now();
  if (dlnow != t->lastDown || ulnow != t->lastUp) {
    t->lastDown = dlnow;
    t->lastUp = ulnow;
    t->lastActivity = now;
  } else if (t->req->lowSpeedTime.count() > 0 && now - t->lastActivity >= t->req->lowSpeedTime) {
    t->stalled = true;
    return 1;
  }
  return 0;
}

Error mapCurlError(CURLcode rc, std::string_view detail, const std::string& what) {
  std::string msg = what + ": " + curl_easy_strerror(rc);
  if (!detail.empty()) msg += " (" + std::string(trim(detail)) + ")";
  switch (rc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
      return invalidError(std::move(msg));
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_READ_ERROR:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_FAILED_INIT:
    case CURLE_NOT_BUILT_IN:
      return terminalError(std::move(msg));
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
      // A server that rejects our client certificate answers with a TLS alert; retrying the
      // same certificate cannot help. Other handshake/IO failures may be transient.
      if (mentionsTlsCertificateAlert(detail)) return terminalError(std::move(msg));
      return retryableError(std::move(msg));
    default:
      // DNS, connect, timeouts, partial transfers, empty replies: transient by nature.
      return retryableError(std::move(msg));
  }
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

}  // namespace

void setCurlTlsOptions(void* handle, const TlsOptions& tls) {
  CURL* h = handle;
  curl_blob blob{};
  if (!tls.caData.empty()) {
    blob = {const_cast<char*>(tls.caData.data()), tls.caData.size(), CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
  } else if (!tls.caFile.empty()) {
    curl_easy_setopt(h, CURLOPT_CAINFO, tls.caFile.c_str());
  }
  if (!tls.certData.empty()) {
    blob = {const_cast<char*>(tls.certData.data()), tls.certData.size(), CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
  } else if (!tls.certFile.empty()) {
    curl_easy_setopt(h, CURLOPT_SSLCERT, tls.certFile.c_str());
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
  }
  if (!tls.keyData.empty()) {
    blob = {const_cast<char*>(tls.keyData.data()), tls.keyData.size(), CURL_BLOB_COPY};
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
  } else if (!tls.keyFile.empty()) {
    curl_easy_setopt(h, CURLOPT_SSLKEY, tls.keyFile.c_str());
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (tls.insecureSkipVerify) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
}

void initHttpGlobal() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlHttpClient::Impl {
  TlsOptions tls;
  CURLSH* share = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> shareLocks;
  std::mutex poolMu;
  std::vector<Slot> idle;

  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* ud) {
    static_cast<Impl*>(ud)->shareLocks[data].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* ud) {
    static_cast<Impl*>(ud)->shareLocks[data].unlock();
  }

  Slot take() {
    {
      std::lock_guard lock(poolMu);
      if (!idle.empty()) {
        Slot s = idle.back();
        idle.pop_back();
        return s;
      }
    }
    return Slot{curl_multi_init(), curl_easy_init()};
  }

  void give(Slot s) {
    {
      std::lock_guard lock(poolMu);
      if (idle.size() < kMaxIdleSlots) {
        idle.push_back(s);
        return;
      }
    }
    destroy(s);
  }

  static void destroy(Slot s) {
    if (s.easy) curl_easy_cleanup(s.easy);
    if (s.multi) curl_multi_cleanup(s.multi);
  }
};

CurlHttpClient::CurlHttpClient(TlsOptions tls) : impl_(std::make_unique<Impl>()) {
  initHttpGlobal();
  impl_->tls = std::move(tls);
  impl_->share = curl_share_init();
  if (impl_->share) {
    curl_share_setopt(impl_->share, CURLSHOPT_LOCKFUNC, &Impl::lock);
    curl_share_setopt(impl_->share, CURLSHOPT_UNLOCKFUNC, &Impl::unlock);
    curl_share_setopt(impl_->share, CURLSHOPT_USERDATA, impl_.get());
    curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(impl_->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
}

CurlHttpClient::~CurlHttpClient() {
  for (auto& s : impl_->idle) Impl::destroy(s);
  impl_->idle.clear();
  if (impl_->share) curl_share_cleanup(impl_->share);
}

namespace {

// --- the steps of CurlHttpClient::send ----------------------------------------------------

// The URL to fetch, validated up front so a typo is Invalid, not a transport failure. With a TLS
// server name, the URL is rewritten to it and CONNECT_TO points that name back at the real host.
struct PreparedUrl {
  std::string url;
  std::string connectTo;
  std::string originalAuthority;
};

Result<PreparedUrl> prepareUrl(const HttpRequest& req, const std::string& serverName,
                               const std::string& what) {
  PreparedUrl out;
  out.url = req.url;
  CURLU* u = curl_url();
  if (!u) return terminalError(what + ": out of memory");
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> guard(u, &curl_url_cleanup);
  CURLUcode uc = curl_url_set(u, CURLUPART_URL, req.url.c_str(), 0);
  if (uc != CURLUE_OK) {
    return invalidError(what + ": malformed URL (" + curl_url_strerror(uc) + ")");
  }
  char* scheme = nullptr;
  curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
  std::string schemeStr = scheme ? scheme : "";
  curl_free(scheme);
  if (schemeStr != "http" && schemeStr != "https") {
    return invalidError(what + ": unsupported URL scheme \"" + schemeStr + "\"");
  }
  if (!serverName.empty() && schemeStr == "https") {
    // Verify (and send SNI for) serverName while connecting to the URL's host: the URL is
    // rewritten to serverName and CONNECT_TO points that name back at the real host.
    char* host = nullptr;
    char* port = nullptr;
    curl_url_get(u, CURLUPART_HOST, &host, 0);
    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    std::string hostStr = host ? host : "";
    std::string portStr = port ? port : "443";
    curl_free(host);
    curl_free(port);
    char* explicitPort = nullptr;
    bool hasPort = curl_url_get(u, CURLUPART_PORT, &explicitPort, 0) == CURLUE_OK;
    curl_free(explicitPort);
    out.originalAuthority = hasPort ? hostStr + ":" + portStr : hostStr;
    out.connectTo = serverName + ":" + portStr + ":" + hostStr + ":" + portStr;
    curl_url_set(u, CURLUPART_HOST, serverName.c_str(), 0);
    char* rewritten = nullptr;
    if (curl_url_get(u, CURLUPART_URL, &rewritten, 0) == CURLUE_OK && rewritten)
      out.url = rewritten;
    curl_free(rewritten);
  }
  return out;
}

// Drives the transfer of `h` on `multi` until it is done, fails or `stop` is requested (then
// t.cancelled). `rc` gets the transfer's result, `mc` the multi interface's last answer.
void performTransfer(CURLM* multi, CURL* h, const HttpRequest& req, Transfer& t,
                     std::stop_token stop, CURLcode& rc, CURLMcode& mc) {
  std::stop_callback wake(stop, [multi] { curl_multi_wakeup(multi); });
  int running = 1;
  bool done = false;
  // Wake often enough for the stall check to fire close to lowSpeedTime.
  const int pollMs =
      req.lowSpeedTime.count() > 0
          ? static_cast<int>(std::clamp<long long>(req.lowSpeedTime.count() / 4, 10, 1000))
          : 1000;
  while (!done) {
    mc = curl_multi_perform(multi, &running);
    if (mc != CURLM_OK) break;
    int queued = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &queued)) {
      if (m->msg == CURLMSG_DONE && m->easy_handle == h) {
        rc = m->data.result;
        done = true;
      }
    }
    if (done || running == 0) break;
    if (stop.stop_requested()) {
      t.cancelled = true;
      break;
    }
    mc = curl_multi_poll(multi, nullptr, 0, pollMs, nullptr);
    if (mc != CURLM_OK) break;
  }
}

// The options every request sets: URL, protocols, timeouts, callbacks into `t`.
void setTransferOptions(CURL* h, const HttpRequest& req, const std::string& url, CURLSH* share,
                        Transfer& t, char* errbuf) {
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "ocpv-dr");
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  if (share) curl_easy_setopt(h, CURLOPT_SHARE, share);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connectTimeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &onHeaderLine);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &onBodyData);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &onProgress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
}

// The outcome of a finished transfer: the response, or the error that ended it.
Result<HttpResponse> transferOutcome(const HttpRequest& req, Transfer& t, HttpResponse& resp,
                                     CURLMcode mc, CURLcode rc, const char* errbuf,
                                     const std::string& what) {
  if (t.cancelled) {
    resp.cancelled = true;
    return resp;
  }
  if (t.stalled) {
    return retryableError(what + ": no data received for " +
                          std::to_string(req.lowSpeedTime.count()) + " ms (stalled)");
  }
  if (mc != CURLM_OK) return retryableError(what + ": " + curl_multi_strerror(mc));
  if (rc != CURLE_OK) return mapCurlError(rc, errbuf, what);
  if (!t.headersDelivered) {
    t.headersDelivered = true;
    if (req.onHeaders) req.onHeaders(resp.status, resp.headers);
  }
  return resp;
}

}  // namespace

Result<HttpResponse> CurlHttpClient::send(const HttpRequest& req, std::stop_token stop) {
  const std::string what = describeRequest(req);
  OCPVDR_TRY(checkRequestHead(req));

  OCPVDR_ASSIGN_OR_RETURN(PreparedUrl prepared, prepareUrl(req, impl_->tls.serverName, what));
  const std::string& url = prepared.url;
  const std::string& connectTo = prepared.connectTo;
  const std::string& originalAuthority = prepared.originalAuthority;

  // Headers: no CR/LF smuggling, curl's implicit defaults removed where they would mislead.
  Slist headers;
  bool hasContentType = false, hasExpect = false, hasHost = false;
  auto append = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next) {
      (void)headers.release();
      headers.reset(next);
    }
  };
  for (const auto& [k, v] : req.headers) {
    std::string lk = lowerAscii(k);
    hasContentType |= lk == "content-type";
    hasExpect |= lk == "expect";
    hasHost |= lk == "host";
    append(v.empty() ? k + ";" : k + ": " + v);
  }
  if (!hasExpect) append("Expect:");  // no 100-continue round trip before uploads
  if (!hasHost && !originalAuthority.empty()) append("Host: " + originalAuthority);

  Slot slot = impl_->take();
  if (!slot.multi || !slot.easy) {
    Impl::destroy(slot);
    return terminalError(what + ": could not create a curl handle");
  }
  CURL* h = slot.easy;
  curl_easy_reset(h);

  HttpResponse resp;
  Transfer t{&req, &resp, stop};
  std::unique_ptr<std::FILE, decltype(&std::fclose)> upload(nullptr, &std::fclose);
  char errbuf[CURL_ERROR_SIZE] = {0};

  setTransferOptions(h, req, url, impl_->share, t, errbuf);
  setCurlTlsOptions(h, impl_->tls);
  Slist connectToList;
  if (!connectTo.empty()) {
    connectToList.reset(curl_slist_append(nullptr, connectTo.c_str()));
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, connectToList.get());
  }

  if (req.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (!req.bodyFile.empty()) {
    upload.reset(std::fopen(req.bodyFile.c_str(), "rbe"));
    if (!upload) {
      Error e =
          invalidError(what + ": opening body file " + req.bodyFile + ": " + std::strerror(errno));
      impl_->give(slot);
      return e;
    }
    std::fseek(upload.get(), 0, SEEK_END);
    long size = std::ftell(upload.get());
    std::fseek(upload.get(), 0, SEEK_SET);
    t.upload = upload.get();
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, &onUploadRead);
    curl_easy_setopt(h, CURLOPT_READDATA, &t);
    if (size >= 0) curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
    if (req.method != "PUT") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  } else if (!req.body.empty() || req.method == "POST" || req.method == "PUT" ||
             req.method == "PATCH") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
    if (req.method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    // curl would otherwise label the body application/x-www-form-urlencoded.
    if (!hasContentType) append("Content-Type:");
  } else if (req.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());

  CURLcode rc = CURLE_OK;
  CURLMcode mc = curl_multi_add_handle(slot.multi, h);
  if (mc != CURLM_OK) {
    curl_easy_reset(h);
    Impl::destroy(slot);
    return terminalError(what + ": " + curl_multi_strerror(mc));
  }
  performTransfer(slot.multi, h, req, t, stop, rc, mc);
  curl_multi_remove_handle(slot.multi, h);
  // The header list and upload file die with this call; the handle must not point at them.
  curl_easy_reset(h);
  impl_->give(slot);

  return transferOutcome(req, t, resp, mc, rc, errbuf, what);
}

HttpClientFactory curlHttpClients() {
  return [](const TlsOptions& tls) -> std::unique_ptr<HttpClient> {
    return std::make_unique<CurlHttpClient>(tls);
  };
}

}  // namespace ocpvdr
