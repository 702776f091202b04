// Hashes and MACs over OpenSSL, written once: the forwarder signs webhook bodies, the DR host
// verifies them (x-hub-signature-256), and SigV4 derives its signing key with the same HMAC.
#pragma once

#include <string>
#include <string_view>

namespace ocpvdr {

// Lower-case hex of arbitrary bytes ("\x01\xab" → "01ab").
std::string hexEncode(std::string_view bytes);
// Standard base64 with padding, no line breaks (mail headers, RFC 2047 words).
std::string base64Encode(std::string_view bytes);
// Lower-case hex SHA-256 of `data`.
std::string sha256Hex(std::string_view data);
// HMAC-SHA256 of `data` under `key`: the raw 32 bytes, and the same as lower-case hex.
std::string hmacSha256(std::string_view key, std::string_view data);
std::string hmacSha256Hex(std::string_view key, std::string_view data);

}  // namespace ocpvdr
