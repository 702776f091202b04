// WebhookClient: POSTs one spooled body to the webhook and says what to do next.
//
// Headers: Content-Type: application/json; Authorization: Bearer <token> (exactly one space, as
// ansible.eda.webhook compares it) when a token is configured; x-hub-signature-256:
// sha256=<hex HMAC-SHA256 of the raw body> when an HMAC secret is configured (FACTS §1: EDA
// accepts the prefixed and the bare hex form). The body is sent byte for byte as spooled, so a
// re-send carries the same id and the same signature input.
#pragma once

#include <chrono>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "core/http.h"
#include "forwarder/backoff.h"
#include "forwarder/secret_source.h"

namespace ocpvdr::forwarder {

struct WebhookOptions {
  std::string url;
  std::chrono::milliseconds connectTimeout{5'000};
  std::chrono::milliseconds timeout{30'000};
  std::string userAgent = "ocpv-dr-forwarder";
};

struct DeliveryResult {
  Disposition disposition = Disposition::Retry;
  int status = 0;      // HTTP status; 0 when there was no response
  std::string detail;  // transport error, or the start of the response body
  std::optional<Millis> retryAfter;
  bool cancelled = false;  // the stop token ended the request (not an answer)
};

class WebhookClient {
 public:
  // `hmac` may be unconfigured (no signature header). The sources must outlive the client.
  WebhookClient(HttpClient& http, WebhookOptions options, SecretSource& token, SecretSource& hmac);

  [[nodiscard]] DeliveryResult deliver(const std::string& body, std::stop_token stop = {});

 private:
  HttpClient& http_;
  WebhookOptions options_;
  SecretSource& token_;
  SecretSource& hmac_;
};

}  // namespace ocpvdr::forwarder
