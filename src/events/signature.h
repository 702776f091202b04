// How an event is authenticated on its way primary → DR, as the EDA webhook does it (FACTS §1):
// `Authorization: Bearer <token>` (one space, exact token) and, with an HMAC secret,
// `x-hub-signature-256: sha256=<hex HMAC-SHA256 of the raw body>`. The forwarder signs
// (signatureValue); the engine checks (checkBearer, checkSignature; comparisons are
// constant-time).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace ocpvdr::events {

inline constexpr char kSignatureHeader[] = "x-hub-signature-256";

// Lower-case hex HMAC-SHA256 of `data` under `key`.
std::string hmacSha256Hex(std::string_view key, std::string_view data);
// The signature header's value for `body`: "sha256=<hex>".
std::string signatureValue(std::string_view secret, std::string_view body);

// Refused (→ 401) when the header is missing, malformed or carries another token.
[[nodiscard]] Status checkBearer(const std::optional<std::string>& authorization,
                                 std::string_view token);
// Refused (→ 401) when the signature header is missing, not hex or does not match. Accepts the
// hex with or without "sha256=", in either case.
[[nodiscard]] Status checkSignature(const std::optional<std::string>& signatureHeader,
                                    std::string_view body, std::string_view secret);

}  // namespace ocpvdr::events
