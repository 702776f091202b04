// HttpClient: the seam for every outgoing HTTP request (Kubernetes API, webhook, S3, notify).
//
// Two implementations keep the same contract (tests/core/http_test.cc runs one suite on both):
// CurlHttpClient (core/curl_http.h, libcurl) for the ocpv-dr commands, and HttplibHttpClient
// (core/httplib_client.h, cpp-httplib) for the forwarder, whose process must stay small —
// Debian's libcurl maps some 25 libraries the forwarder would never use. Both reuse
// connections, take TLS material as PEM data or as files, apply connect and total timeouts, and
// can stream a response body to a callback that may cancel the transfer (watch streams, large
// downloads).
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

// Builds a client for one set of TLS material (a cluster's, a webhook's). Chosen in main().
using HttpClientFactory = std::function<std::unique_ptr<HttpClient>(const TlsOptions&)>;

// Helpers both implementations use.
bool isHttpToken(std::string_view s);  // RFC 9110 token (methods, header names)
// "METHOD URL" for messages, the URL without any user:password part.
std::string describeRequest(const HttpRequest& req);
// Refuses (Invalid) a method or header name that is not a token and a header value with a line
// break or NUL: nothing can be smuggled into the request head.
[[nodiscard]] Status checkRequestHead(const HttpRequest& req);
// True when a TLS library's error text reports a certificate alert from the server (a client
// certificate it rejects): retrying with the same material cannot help.
bool mentionsTlsCertificateAlert(std::string_view detail);

}  // namespace ocpvdr
