// Small text helpers shared across modules: ASCII lower-casing, HTML escaping for the
// self-contained HTML reports (reconcile, failover) and UTF-8 encoding of a code point (XML
// character references).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ocpvdr {

// ASCII lower-case (header names, schemes, host names); other bytes unchanged.
std::string lowerAscii(std::string_view s);

// Escapes text for HTML element content and attribute values (& < > " ').
std::string htmlEscape(std::string_view text);

// Appends the UTF-8 encoding of code point `cp` (1 to 4 bytes). The caller checks that `cp` is a
// character it accepts; larger values are not rejected here.
void appendUtf8(std::string& out, std::uint64_t cp);

}  // namespace ocpvdr
