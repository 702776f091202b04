// Event authentication: Bearer token and body signature (see signature.h).
#include "events/signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>

namespace ocpvdr::events {

namespace {

bool constantTimeEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string hmacSha256Hex(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

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
  std::string sig = *header;
  if (sig.rfind("sha256=", 0) == 0) sig = sig.substr(7);
  std::transform(sig.begin(), sig.end(), sig.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (sig.size() != 64 ||
      !std::all_of(sig.begin(), sig.end(), [](char c) { return std::isxdigit(c) != 0; }))
    return refusedError("x-hub-signature-256 is not a hex SHA-256 HMAC");
  if (!constantTimeEqual(sig, hmacSha256Hex(secret, body)))
    return refusedError("x-hub-signature-256 does not match the body");
  return Status::success();
}

}  // namespace ocpvdr::events
