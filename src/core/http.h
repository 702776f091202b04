// HttpClient: the seam for every outgoing HTTP request (Kubernetes API, webhook, S3, notify).
//
// CurlHttpClient reuses connections (a pool of libcurl easy handles), takes TLS material as PEM
// data or as files, applies connect and total timeouts, and can stream a response body to a
// callback that may cancel the transfer (watch streams, large downloads).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ocpvdr {

struct TlsOptions {
  std::string caFile, caData;      // PEM; data wins over file when both are set
  std::string certFile, certData;  // client certificate (PEM)
  std::string keyFile, keyData;    // client key (PEM)
  bool insecureSkipVerify = false;
  std::string serverName;  // override SNI / verification name (optional)
};

// Header names are compared case-insensitively; stored lower-case in responses.
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;
  std::string body;
  std::chrono::milliseconds connectTimeout{10'000};
  std::chrono::milliseconds timeout{60'000};  // whole transfer; 0 = none (watch streams)
  // Abort (Retryable) when no byte moves in either direction for this long (0 = off); checked
  // about four times per period. Catches dead watches: set it above the bookmark interval.
  std::chrono::milliseconds lowSpeedTime{0};
  // When set, body bytes are handed here as they arrive instead of being collected in
  // HttpResponse::body. Return false to cancel the transfer (the result is then ok with
  // `cancelled` set). Called only for the final response (redirects are not followed).
  // A stop request on send()'s token cancels the same way: ok result, `cancelled` set.
  std::function<bool(std::string_view chunk)> onBody;
  // Called once with status and headers before the first onBody call.
  std::function<void(int status, const HttpHeaders& headers)> onHeaders;
  // Only when the request's body should be sent from a file (S3 uploads in tests/demo).
  std::string bodyFile;
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;     // lower-case names
  std::string body;        // empty when onBody consumed it
  bool cancelled = false;  // onBody said stop or stop was requested; status may still be 0
  std::optional<std::string> header(std::string_view name) const;
};

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Transport failures (DNS, connect, TLS, timeout) are Retryable errors except TLS verification
  // and bad URLs, which are Terminal / Invalid. Any HTTP status is a successful result.
  // A client certificate the server rejects is Terminal when the server's TLS alert reaches
  // us; under TLS 1.3 the server may drop the connection before the alert is read, and that
  // looks like (and is reported as) a Retryable send/receive failure.
  [[nodiscard]] virtual Result<HttpResponse> send(const HttpRequest& req,
                                                  std::stop_token stop = {}) = 0;
};

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

// Call once in main() before threads start (curl_global_init).
void initHttpGlobal();

}  // namespace ocpvdr
