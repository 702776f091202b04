// HttplibHttpClient: cpp-httplib behind the HttpClient seam (see httplib_client.h).
//
// One httplib client is one keep-alive connection; a pool per origin lends each request a client
// of its own, so concurrent senders never share a socket. Cancellation from another thread
// (std::stop_token) uses httplib's stop(), which only shuts the socket down while a request is
// in flight; a stop that lands before the socket exists is caught by the socket hook, which shuts
// a fresh socket down before it connects.
#include "core/httplib_client.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/json_util.h"
#include "core/text.h"
#include "core/url.h"

namespace ocpvdr {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kMaxIdleConnections = 32;
// httplib has no "no timeout": requests without one wait this long between reads.
constexpr milliseconds kNoTimeout = std::chrono::hours(24);

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct StoreFree {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct BioFree {
  void operator()(BIO* p) const { BIO_free(p); }
};

// Drains this thread's OpenSSL error queue into one line ("" when empty).
std::string takeOpensslErrors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

Result<std::string> readPem(const std::string& data, const std::string& file,
                            std::string_view what) {
  if (!data.empty()) return data;
  auto text = readFile(file);
  // Unreadable TLS material is our own misconfiguration: retrying cannot help.
  if (!text) return terminalError(std::string(what) + ": " + text.error().message);
  return text;
}

std::unique_ptr<BIO, BioFree> memBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

Result<std::unique_ptr<X509_STORE, StoreFree>> caStore(const std::string& pem) {
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  auto bio = memBio(pem);
  int added = 0;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    std::unique_ptr<X509, X509Free> owned(cert);
    if (X509_STORE_add_cert(store.get(), cert) == 1) ++added;
  }
  ERR_clear_error();  // the loop ends on "no start line"
  if (added == 0) return terminalError("CA bundle: no PEM certificate in it");
  return store;
}

// Socket options for every connection: TCP keep-alive (as the curl client sets), and the
// late-stop check described at the top of this file.
httplib::SocketOptions socketHook(std::shared_ptr<std::atomic<bool>> cancel) {
  return [cancel](int sock) {
    int one = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    if (cancel->load()) ::shutdown(sock, SHUT_RDWR);
  };
}

Result<std::string> numericAddress(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0 || res == nullptr) {
    return retryableError("resolving " + host + ": " + ::gai_strerror(rc));
  }
  char buf[NI_MAXHOST];
  int rc =
      ::getnameinfo(res->ai_addr, res->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST);
  ::freeaddrinfo(res);
  if (rc != 0) return retryableError("resolving " + host + ": " + ::gai_strerror(rc));
  return std::string(buf);
}

std::string millis(milliseconds d) {
  return std::to_string(d.count()) + " ms";
}

std::string envEither(const char* lower, const char* upper) {
  if (const char* v = std::getenv(lower); v && *v) return v;
  if (const char* v = std::getenv(upper); v && *v) return v;
  return {};
}

Result<HttpUrl> parseProxy(const std::string& text) {
  return parseHttpUrl(text.find("://") == std::string::npos ? "http://" + text : text);
}

// An IP address in network byte order with its family.
struct IpAddress {
  int family = AF_INET;
  unsigned char bytes[16] = {};
  int bits() const { return family == AF_INET ? 32 : 128; }
};

std::optional<IpAddress> parseIp(const std::string& text) {
  IpAddress ip;
  if (::inet_pton(AF_INET, text.c_str(), ip.bytes) == 1) return ip;
  ip.family = AF_INET6;
  if (::inet_pton(AF_INET6, text.c_str(), ip.bytes) == 1) return ip;
  return std::nullopt;
}

bool samePrefix(const IpAddress& a, const IpAddress& b, int prefix) {
  for (int i = 0; i < prefix; ++i) {
    const int mask = 0x80 >> (i % 8);
    if ((a.bytes[i / 8] & mask) != (b.bytes[i / 8] & mask)) return false;
  }
  return true;
}

// One NO_PROXY entry against a target host (both lower-case, IPv6 without brackets).
bool noProxyMatches(std::string entry, const std::string& host) {
  if (entry == "*") return true;
  if (auto slash = entry.find('/'); slash != std::string::npos) {  // CIDR
    auto net = parseIp(entry.substr(0, slash));
    auto ip = parseIp(host);
    const std::string len = entry.substr(slash + 1);
    if (!net || !ip || net->family != ip->family || len.empty() || len.size() > 3 ||
        len.find_first_not_of("0123456789") != std::string::npos)
      return false;
    const int prefix = std::stoi(len);
    return prefix <= net->bits() && samePrefix(*net, *ip, prefix);
  }
  if (entry.size() > 2 && entry.front() == '[' && entry.find(']') != std::string::npos)
    entry = entry.substr(1, entry.find(']') - 1);  // [v6] or [v6]:port
  if (auto ip = parseIp(entry)) {
    auto target = parseIp(host);
    return target && target->family == ip->family && samePrefix(*ip, *target, ip->bits());
  }
  if (auto colon = entry.rfind(':'); colon != std::string::npos) entry.resize(colon);  // name:port
  if (entry.starts_with("*.")) entry.erase(0, 1);
  if (entry.starts_with(".")) return host.ends_with(entry) || host == entry.substr(1);
  return host == entry || host.ends_with("." + entry);
}

}  // namespace

ProxySettings ProxySettings::fromEnvironment() {
  ProxySettings p;
  p.httpProxy = envEither("http_proxy", "HTTP_PROXY");
  p.httpsProxy = envEither("https_proxy", "HTTPS_PROXY");
  p.noProxy = envEither("no_proxy", "NO_PROXY");
  return p;
}

Status checkProxySettings(const ProxySettings& proxy) {
  for (const auto& [name, value] : {std::pair{"http_proxy/HTTP_PROXY", &proxy.httpProxy},
                                    std::pair{"https_proxy/HTTPS_PROXY", &proxy.httpsProxy}}) {
    if (value->empty()) continue;
    auto url = parseProxy(*value);
    if (!url) return invalidError(std::string(name) + ": " + url.error().message);
    if (url->scheme != "http")
      return invalidError(std::string(name) + ": expected an http:// proxy URL or host:port, got " +
                          redactUrl(*value) + " (TLS to the proxy itself is not supported)");
  }
  return Status::success();
}

std::optional<HttpUrl> proxyFor(const ProxySettings& proxy, const HttpUrl& target) {
  const std::string& chosen = target.scheme == "https" ? proxy.httpsProxy : proxy.httpProxy;
  if (chosen.empty()) return std::nullopt;
  const std::string host = lowerAscii(target.host);
  std::string_view list = proxy.noProxy;
  while (!list.empty()) {
    const auto comma = std::min(list.find(','), list.size());
    std::string entry = lowerAscii(list.substr(0, comma));
    list.remove_prefix(std::min(comma + 1, list.size()));
    entry.erase(0, entry.find_first_not_of(" \t"));
    entry.erase(entry.find_last_not_of(" \t") + 1);
    if (!entry.empty() && noProxyMatches(entry, host)) return std::nullopt;
  }
  auto url = parseProxy(chosen);
  if (!url || url->scheme != "http") return std::nullopt;  // refused by checkProxySettings
  return std::move(url).value();
}

// One pooled connection and the cancellation flag its socket hook reads.
struct PooledConnection {
  std::string origin;
  std::unique_ptr<httplib::ClientImpl> client;
  std::shared_ptr<std::atomic<bool>> cancel = std::make_shared<std::atomic<bool>>(false);
};

struct HttplibHttpClient::Impl {
  TlsOptions tls;
  ProxySettings proxy;
  std::mutex mu;
  std::vector<PooledConnection> idle;

  Result<PooledConnection> take(const HttpUrl& url);
  void give(PooledConnection conn);
  Result<std::unique_ptr<httplib::ClientImpl>> makeTlsClient(const HttpUrl& url);
};

Result<std::unique_ptr<httplib::ClientImpl>> HttplibHttpClient::Impl::makeTlsClient(
    const HttpUrl& url) {
  std::unique_ptr<X509, X509Free> cert;
  std::unique_ptr<EVP_PKEY, PkeyFree> key;
  if (!tls.certData.empty() || !tls.certFile.empty()) {
    OCPVDR_ASSIGN_OR_RETURN(std::string certPem,
                            readPem(tls.certData, tls.certFile, "client certificate"));
    // Without a separate key, the key is looked for next to the certificate (one PEM file).
    std::string keyPem = certPem;
    if (!tls.keyData.empty() || !tls.keyFile.empty()) {
      OCPVDR_ASSIGN_OR_RETURN(keyPem, readPem(tls.keyData, tls.keyFile, "client key"));
    }
    cert.reset(PEM_read_bio_X509(memBio(certPem).get(), nullptr, nullptr, nullptr));
    if (!cert)
      return terminalError("client certificate: not a PEM certificate (" + takeOpensslErrors() +
                           ")");
    key.reset(PEM_read_bio_PrivateKey(memBio(keyPem).get(), nullptr, nullptr, nullptr));
    if (!key)
      return terminalError("client key: not a PEM private key (" + takeOpensslErrors() + ")");
    if (X509_check_private_key(cert.get(), key.get()) != 1) {
      takeOpensslErrors();
      return terminalError("client key does not match the client certificate");
    }
  }
  // With serverName, the TLS name (SNI and verification) is serverName and the connection goes
  // to the URL host's address.
  const bool renamed = !tls.serverName.empty();
  const std::string tlsHost = renamed ? tls.serverName : url.host;
  auto client = std::make_unique<httplib::SSLClient>(tlsHost, url.port, cert.get(), key.get());
  if (!client->is_valid()) {
    return terminalError("TLS client setup failed (" + takeOpensslErrors() + ")");
  }
  if (renamed) {
    OCPVDR_ASSIGN_OR_RETURN(std::string address, numericAddress(url.host));
    client->set_hostname_addr_map({{tlsHost, address}});
  }
  if (tls.insecureSkipVerify) {
    client->enable_server_certificate_verification(false);
  } else if (!tls.caData.empty() || !tls.caFile.empty()) {
    OCPVDR_ASSIGN_OR_RETURN(std::string caPem, readPem(tls.caData, tls.caFile, "CA bundle"));
    auto store = caStore(caPem);
    if (!store) return store.error();
    client->set_ca_cert_store(store->release());  // the client's SSL_CTX owns it now
  }
  return std::unique_ptr<httplib::ClientImpl>(std::move(client));
}

Result<PooledConnection> HttplibHttpClient::Impl::take(const HttpUrl& url) {
  const std::string origin = url.scheme + "://" + url.host + ":" + std::to_string(url.port);
  {
    std::lock_guard lock(mu);
    for (auto it = idle.rbegin(); it != idle.rend(); ++it) {
      if (it->origin == origin) {
        PooledConnection conn = std::move(*it);
        idle.erase(std::next(it).base());
        return conn;
      }
    }
  }
  PooledConnection conn;
  conn.origin = origin;
  if (url.scheme == "https") {
    OCPVDR_ASSIGN_OR_RETURN(conn.client, makeTlsClient(url));
  } else {
    conn.client = std::make_unique<httplib::ClientImpl>(url.host, url.port);
  }
  conn.client->set_keep_alive(true);
  // httplib writes the request head and the body separately; with Nagle's algorithm the body
  // would wait for the server's delayed ACK (~40 ms per request). libcurl sets this too.
  conn.client->set_tcp_nodelay(true);
  conn.client->set_url_encode(false);  // targets are sent exactly as given (already encoded)
  conn.client->set_follow_location(false);
  conn.client->set_socket_options(socketHook(conn.cancel));
  if (auto via = proxyFor(proxy, url)) {
    if (!tls.serverName.empty() && url.scheme == "https") {
      return terminalError("a TLS server name override (" + tls.serverName +
                           ") cannot go through a proxy; add " + url.host + " to NO_PROXY");
    }
    conn.client->set_proxy(via->host, via->port);
    if (!via->userinfo.empty()) {
      const auto colon = via->userinfo.find(':');
      conn.client->set_proxy_basic_auth(
          httplib::detail::decode_url(via->userinfo.substr(0, colon), false),
          colon == std::string::npos
              ? std::string()
              : httplib::detail::decode_url(via->userinfo.substr(colon + 1), false));
    }
  }
  return conn;
}

void HttplibHttpClient::Impl::give(PooledConnection conn) {
  conn.cancel->store(false);
  std::lock_guard lock(mu);
  if (idle.size() >= kMaxIdleConnections) idle.erase(idle.begin());
  idle.push_back(std::move(conn));
}

HttplibHttpClient::HttplibHttpClient(TlsOptions tls, ProxySettings proxy)
    : impl_(std::make_unique<Impl>()) {
  impl_->tls = std::move(tls);
  impl_->proxy = std::move(proxy);
}

HttplibHttpClient::~HttplibHttpClient() = default;

namespace {

// A request body read from a file (HttpRequest::bodyFile); empty when there is none.
struct HttplibUpload {
  std::shared_ptr<std::FILE> file;
  std::size_t size = 0;
};

Result<HttplibUpload> openHttplibUpload(const HttpRequest& req, const std::string& what) {
  HttplibUpload upload;
  if (!req.bodyFile.empty()) {
    upload.file.reset(std::fopen(req.bodyFile.c_str(), "rbe"), [](std::FILE* f) {
      if (f) std::fclose(f);
    });
    if (!upload.file) {
      return invalidError(what + ": opening body file " + req.bodyFile + ": " +
                          std::strerror(errno));
    }
    std::fseek(upload.file.get(), 0, SEEK_END);
    upload.size = static_cast<std::size_t>(std::max(0L, std::ftell(upload.file.get())));
    std::fseek(upload.file.get(), 0, SEEK_SET);
  }
  return upload;
}

// httplib's request: method, target, headers (Host and User-Agent unless given), body. The body
// provider reads `req.body` in place: `req` must outlive the request.
httplib::Request httplibRequest(const HttpRequest& req, const HttpUrl& url,
                                const HttplibUpload& file) {
  httplib::Request hr;
  hr.method = req.method;
  hr.path = url.target;
  bool hasHost = false, hasAgent = false;
  for (const auto& [k, v] : req.headers) {
    const std::string lk = lowerAscii(k);
    hasHost |= lk == "host";
    hasAgent |= lk == "user-agent";
    hr.headers.emplace(k, v);
  }
  if (!hasHost) hr.headers.emplace("Host", url.authority());
  if (!hasAgent) hr.headers.emplace("User-Agent", "ocpv-dr");
  // Bodies go through a content provider: httplib would otherwise label a body text/plain.
  if (file.file) {
    hr.content_length_ = file.size;
    hr.content_provider_ = [upload = file.file](std::size_t offset, std::size_t length,
                                                httplib::DataSink& sink) {
      char buf[64 * 1024];
      if (std::fseek(upload.get(), static_cast<long>(offset), SEEK_SET) != 0) return false;
      std::size_t got = std::fread(buf, 1, std::min(length, sizeof buf), upload.get());
      return got > 0 && sink.write(buf, got);
    };
  } else if (!req.body.empty()) {
    hr.content_length_ = req.body.size();
    hr.content_provider_ = [&body = req.body](std::size_t offset, std::size_t length,
                                              httplib::DataSink& sink) {
      return sink.write(body.data() + offset, std::min(length, body.size() - offset));
    };
  }
  return hr;
}

// Receives httplib's response into `resp`: the headers (given to req.onHeaders once), the body
// (to req.onBody, or kept); stops on a stop request, the deadline, or req.onBody refusing.
struct HttplibResponseSink {
  HttplibResponseSink(const HttpRequest& req, const std::stop_token& stop,
                      Clock::time_point deadline, HttpResponse& resp, Clock::time_point started)
      : req(req), stop(stop), deadline(deadline), resp(resp), lastActivity(started) {}

  void deliverHeaders() {
    if (headersDelivered) return;
    headersDelivered = true;
    if (req.onHeaders) req.onHeaders(resp.status, resp.headers);
  }

  bool onResponse(const httplib::Response& r) {
    if (stop.stop_requested()) {
      cancelled = true;
      return false;
    }
    resp.status = r.status;
    for (const auto& [k, v] : r.headers) resp.headers.emplace_back(lowerAscii(k), v);
    deliverHeaders();
    return true;
  }

  bool onContent(const char* data, std::size_t n) {
    lastActivity = Clock::now();
    if (stop.stop_requested()) {
      cancelled = true;
      return false;
    }
    if (lastActivity > deadline) {
      timedOut = true;
      return false;
    }
    deliverHeaders();
    if (!req.onBody) {
      resp.body.append(data, n);
      return true;
    }
    if (!req.onBody(std::string_view(data, n))) {
      cancelled = true;
      return false;
    }
    return true;
  }

  const HttpRequest& req;
  const std::stop_token& stop;
  const Clock::time_point deadline;
  HttpResponse& resp;
  bool cancelled = false, timedOut = false, headersDelivered = false;
  Clock::time_point lastActivity;
};

// The error of a request httplib could not complete; `certName` is the name the server's
// certificate must carry.
Error httplibSendError(const std::string& what, httplib::Error err, const std::string& tlsDetail,
                       long verifyResult, const std::string& certName) {
  std::string msg = what + ": " + httplib::to_string(err);
  if (!tlsDetail.empty()) msg += " (" + tlsDetail + ")";
  switch (err) {
    case httplib::Error::SSLServerVerification:
      if (verifyResult != X509_V_OK) {
        msg += " (" + std::string(X509_verify_cert_error_string(verifyResult)) + ")";
      } else {
        msg += " (the certificate does not name " + certName + ")";
      }
      return terminalError(std::move(msg));
    case httplib::Error::SSLLoadingCerts:
      return terminalError(std::move(msg));
    case httplib::Error::SSLConnection:
      // As in the curl client: a server's certificate alert will not change on retry.
      if (mentionsTlsCertificateAlert(tlsDetail)) return terminalError(std::move(msg));
      return retryableError(std::move(msg));
    default:
      // DNS, connect, connect timeout, reset, short reads and writes: transient by nature.
      return retryableError(std::move(msg));
  }
}

}  // namespace

Result<HttpResponse> HttplibHttpClient::send(const HttpRequest& req, std::stop_token stop) {
  const std::string what = describeRequest(req);
  OCPVDR_TRY(checkRequestHead(req));
  auto url = parseHttpUrl(req.url);
  if (!url) return invalidError(what + ": " + url.error().message);

  OCPVDR_ASSIGN_OR_RETURN(const HttplibUpload upload, openHttplibUpload(req, what));

  HttpResponse resp;
  if (stop.stop_requested()) {
    resp.cancelled = true;
    return resp;
  }
  auto taken = impl_->take(*url);
  if (!taken) return taken.error().wrap(what);
  PooledConnection conn = std::move(taken).value();
  httplib::ClientImpl& client = *conn.client;

  // httplib's timeouts are per read/write; `timeout` is also checked as a deadline per chunk.
  milliseconds readTimeout = kNoTimeout;
  if (req.timeout.count() > 0) readTimeout = std::min(readTimeout, req.timeout);
  const bool stallLimited = req.lowSpeedTime.count() > 0 && req.lowSpeedTime < readTimeout;
  if (stallLimited) readTimeout = req.lowSpeedTime;
  client.set_connection_timeout(req.connectTimeout);
  client.set_read_timeout(readTimeout);
  client.set_write_timeout(readTimeout);
  const auto started = Clock::now();
  const auto deadline = req.timeout.count() > 0 ? started + req.timeout : Clock::time_point::max();

  httplib::Request hr = httplibRequest(req, *url, upload);

  HttplibResponseSink sink{req, stop, deadline, resp, started};
  hr.response_handler = [&sink](const httplib::Response& r) { return sink.onResponse(r); };
  hr.content_receiver = [&sink](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    return sink.onContent(data, n);
  };

  httplib::Response hres;
  httplib::Error err = httplib::Error::Success;
  bool ok = false;
  {
    std::stop_callback onStop(stop, [&conn] {
      conn.cancel->store(true);
      conn.client->stop();
    });
    ok = client.send(hr, hres, err);
  }
  const std::string tlsDetail = takeOpensslErrors();
  long verifyResult = X509_V_OK;
  if (url->scheme == "https") {
    verifyResult = static_cast<httplib::SSLClient&>(client).get_openssl_verify_result();
  }
  impl_->give(std::move(conn));

  if (sink.cancelled || stop.stop_requested()) {
    resp.cancelled = true;
    return resp;
  }
  const auto now = Clock::now();
  if (sink.timedOut ||
      (!ok && err == httplib::Error::Read && now - sink.lastActivity >= readTimeout * 9 / 10)) {
    if (stallLimited && !sink.timedOut) {
      return retryableError(what + ": no data received for " + millis(req.lowSpeedTime) +
                            " (stalled)");
    }
    return retryableError(what + ": Timeout: no complete response within " +
                          millis(req.timeout.count() > 0 ? req.timeout : readTimeout));
  }
  if (!ok) {
    return httplibSendError(what, err, tlsDetail, verifyResult,
                            impl_->tls.serverName.empty() ? url->host : impl_->tls.serverName);
  }
  if (resp.status == 0) {
    resp.status = hres.status;
    for (const auto& [k, v] : hres.headers) resp.headers.emplace_back(lowerAscii(k), v);
  }
  sink.deliverHeaders();
  return resp;
}

HttpClientFactory httplibHttpClients(ProxySettings proxy) {
  return [proxy = std::move(proxy)](const TlsOptions& tls) -> std::unique_ptr<HttpClient> {
    return std::make_unique<HttplibHttpClient>(tls, proxy);
  };
}

}  // namespace ocpvdr
