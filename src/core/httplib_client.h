// HttplibHttpClient: the HttpClient of the forwarder, on cpp-httplib (see core/http.h for the
// contract). It exists so the forwarder's process maps only OpenSSL, zlib and brotli for HTTP
// instead of libcurl and the ~25 libraries Debian's libcurl pulls in (GnuTLS, Kerberos, LDAP,
// SSH, RTMP, IDN...): that is 4 MiB of resident memory in a process whose whole budget is ~20.
//
// Differences from CurlHttpClient, all inside the contract: `timeout` is enforced between reads
// (a server that trickles bytes can stretch it by up to one read interval), tls.serverName needs
// the URL's host to resolve (its first address is used), and proxies are not supported.
#pragma once

#include <memory>

#include "core/http.h"

namespace ocpvdr {

class HttplibHttpClient final : public HttpClient {
 public:
  explicit HttplibHttpClient(TlsOptions tls = {});
  ~HttplibHttpClient() override;
  HttplibHttpClient(const HttplibHttpClient&) = delete;
  HttplibHttpClient& operator=(const HttplibHttpClient&) = delete;

  Result<HttpResponse> send(const HttpRequest& req, std::stop_token stop = {}) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A factory of HttplibHttpClients (kube::connect and the forwarder's wiring).
HttpClientFactory httplibHttpClients();

}  // namespace ocpvdr
