// HttplibHttpClient: the HttpClient of the forwarder, on cpp-httplib (see core/http.h for the
// contract). It exists so the forwarder's process maps only OpenSSL, zlib and brotli for HTTP
// instead of libcurl and the ~25 libraries Debian's libcurl pulls in (GnuTLS, Kerberos, LDAP,
// SSH, RTMP, IDN...): that is 4 MiB of resident memory in a process whose whole budget is ~20.
//
// Differences from CurlHttpClient, all inside the contract: `timeout` is enforced between reads
// (a server that trickles bytes can stretch it by up to one read interval), tls.serverName needs
// the URL's host to resolve (its first address is used) and cannot be combined with a proxy, and
// the forward proxy comes from ProxySettings given by the wiring, not from the environment.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/http.h"
#include "core/url.h"

namespace ocpvdr {

// A forward proxy as Kubernetes clients take it from the environment: http_proxy / HTTP_PROXY
// for http:// targets, https_proxy / HTTPS_PROXY for https:// ones (tunnelled with CONNECT), and
// no_proxy / NO_PROXY for the exceptions — comma-separated host names (a name also covers its
// subdomains; a leading "." or "*." is allowed), IP addresses, CIDR ranges, or "*" for all. The
// lower-case name wins when both are set. Loopback is not exempt unless listed.
struct ProxySettings {
  std::string httpProxy, httpsProxy, noProxy;
  static ProxySettings fromEnvironment();
  bool empty() const { return httpProxy.empty() && httpsProxy.empty(); }
};

// Invalid, naming the variable, when a proxy is not an http:// URL or host:port (TLS to the
// proxy itself is not supported).
[[nodiscard]] Status checkProxySettings(const ProxySettings& proxy);

// The proxy for `target`, or nullopt when none is set for its scheme or NO_PROXY matches it.
std::optional<HttpUrl> proxyFor(const ProxySettings& proxy, const HttpUrl& target);

class HttplibHttpClient final : public HttpClient {
 public:
  explicit HttplibHttpClient(TlsOptions tls = {}, ProxySettings proxy = {});
  ~HttplibHttpClient() override;
  HttplibHttpClient(const HttplibHttpClient&) = delete;
  HttplibHttpClient& operator=(const HttplibHttpClient&) = delete;

  Result<HttpResponse> send(const HttpRequest& req, std::stop_token stop = {}) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A factory of HttplibHttpClients (kube::connect and the forwarder's wiring), all using `proxy`.
HttpClientFactory httplibHttpClients(ProxySettings proxy = {});

}  // namespace ocpvdr
