// Event authentication: Bearer token and body signature (see signature.h).
#include "events/signature.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>

#include "core/crypto.h"
#include "core/text.h"

namespace ocpvdr::events {

namespace {

bool constantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string signatureValue(std::string_view secret, std::string_view body) {
  return "sha256=" + hmacSha256Hex(secret, body);
}

Status checkBearer(const std::optional<std::string>& authorization, std::string_view token) {
  if (!authorization || authorization->empty())
    return refusedError("missing Authorization header (expected \"Bearer <token>\")");
  constexpr std::string_view kPrefix = "Bearer ";
  if (authorization->size() <= kPrefix.size() ||
      std::string_view(*authorization).substr(0, kPrefix.size()) != kPrefix)
    return refusedError("Authorization header is not \"Bearer <token>\"");
  std::string_view presented = std::string_view(*authorization).substr(kPrefix.size());
  if (!constantTimeEqual(presented, token)) return refusedError("invalid bearer token");
  return Status::success();
}

Status checkSignature(const std::optional<std::string>& header, std::string_view body,
                      std::string_view secret) {
  if (!header || header->empty())
    return refusedError("missing x-hub-signature-256 header (HMAC-SHA256 of the body)");
  std::string_view raw = *header;
  if (raw.rfind("sha256=", 0) == 0) raw.remove_prefix(7);
  const std::string sig = lowerAscii(raw);
  if (sig.size() != 64 ||
      !std::all_of(sig.begin(), sig.end(), [](char c) { return std::isxdigit(c) != 0; }))
    return refusedError("x-hub-signature-256 is not a hex SHA-256 HMAC");
  if (!constantTimeEqual(sig, hmacSha256Hex(secret, body)))
    return refusedError("x-hub-signature-256 does not match the body");
  return Status::success();
}

}  // namespace ocpvdr::events
