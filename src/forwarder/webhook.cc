// Webhook POSTs with Bearer token and body signature (see webhook.h).
#include "forwarder/webhook.h"

#include <charconv>

#include "events/signature.h"

namespace ocpvdr::forwarder {

WebhookClient::WebhookClient(HttpClient& http, WebhookOptions options, SecretSource& token,
                             SecretSource& hmac)
    : http_(http), options_(std::move(options)), token_(token), hmac_(hmac) {}

DeliveryResult WebhookClient::deliver(const std::string& body, std::stop_token stop) {
  DeliveryResult out;
  HttpRequest req;
  req.method = "POST";
  req.url = options_.url;
  req.connectTimeout = options_.connectTimeout;
  req.timeout = options_.timeout;
  req.body = body;
  req.headers.emplace_back("Content-Type", "application/json");
  req.headers.emplace_back("User-Agent", options_.userAgent);
  if (token_.configured()) {
    auto t = token_.value();
    if (!t) {
      // No token could be read at all: the same situation as a token the server refuses.
      out.disposition = Disposition::AuthRetry;
      out.detail = t.error().message;
      return out;
    }
    if (!t->empty()) req.headers.emplace_back("Authorization", "Bearer " + *t);
  }
  if (hmac_.configured()) {
    auto k = hmac_.value();
    if (!k) {
      out.disposition = Disposition::AuthRetry;
      out.detail = k.error().message;
      return out;
    }
    req.headers.emplace_back(events::kSignatureHeader, events::signatureValue(*k, body));
  }
  auto r = http_.send(req, stop);
  if (!r) {
    out.disposition = Disposition::Retry;
    out.detail = r.error().message;
    return out;
  }
  if (r->cancelled) {
    out.cancelled = true;
    out.disposition = Disposition::Retry;
    out.detail = "cancelled";
    return out;
  }
  out.status = r->status;
  out.disposition = classifyStatus(r->status);
  out.detail = r->body.substr(0, 4096);
  if (auto ra = r->header("retry-after")) {
    long secs = 0;
    auto [p, ec] = std::from_chars(ra->data(), ra->data() + ra->size(), secs);
    if (ec == std::errc() && secs >= 0) out.retryAfter = Millis(secs * 1000);
  }
  return out;
}

}  // namespace ocpvdr::forwarder
