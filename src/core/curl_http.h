// CurlHttpClient: the HttpClient of the ocpv-dr commands, on libcurl (see core/http.h).
#pragma once

#include <memory>

#include "core/http.h"

namespace ocpvdr {

class CurlHttpClient final : public HttpClient {
 public:
  explicit CurlHttpClient(TlsOptions tls = {});
  ~CurlHttpClient() override;
  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;

  Result<HttpResponse> send(const HttpRequest& req, std::stop_token stop = {}) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Trust, client certificate and key on a libcurl easy handle (`CURL*`): from memory (copied by
// curl) or from files, and insecureSkipVerify. The HTTP client and the SMTP sender share it.
void setCurlTlsOptions(void* handle, const TlsOptions& tls);

// Call once in main() before threads start (curl_global_init).
void initHttpGlobal();

// A factory of CurlHttpClients (kube::connect and other wiring).
HttpClientFactory curlHttpClients();

}  // namespace ocpvdr
