// Small text helpers shared across modules: trimming and splitting, ASCII lower-casing, HTML and
// Markdown escaping for the reports (reconcile, failover), human-readable sizes and durations, and
// UTF-8 encoding of a code point (XML character references). Each is written here once.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ocpvdr {

// The bytes std::isspace accepts in the "C" locale.
inline constexpr std::string_view kWhitespace = " \t\n\r\f\v";

// `s` without leading and trailing bytes from `chars` (by default white space).
std::string_view trim(std::string_view s, std::string_view chars = kWhitespace);
// `s` without trailing bytes from `chars` (a secret file's final newline).
std::string_view trimRight(std::string_view s, std::string_view chars = kWhitespace);

// Splits at every `sep`, keeping empty fields: "a,,b" → {"a", "", "b"}; "" → {""}.
std::vector<std::string_view> split(std::string_view s, char sep);
// Fields separated by runs of white space; no empty fields: "  a \t b " → {"a", "b"}.
std::vector<std::string_view> splitWhitespace(std::string_view s);
// The parts with `sep` between them.
std::string join(const std::vector<std::string>& parts, std::string_view sep);

// ASCII lower-case (header names, schemes, host names); other bytes unchanged.
std::string lowerAscii(std::string_view s);

// Escapes text for HTML element content and attribute values (& < > " ').
std::string htmlEscape(std::string_view text);

// Escapes text for one Markdown table cell: '|' becomes "\|", CR and LF become a space.
std::string markdownCell(std::string_view text);

// 1536 → "1.5 KiB" (binary units, one decimal above bytes; "512 B").
std::string humanBytes(std::int64_t bytes);
// Exact, compact: 900ms → "900ms", 3723s → "1h2m3s", 120s → "2m" (timeouts in messages).
std::string humanDuration(std::chrono::milliseconds d);
// Rounded to the two largest units, for ages: 42s → "42s", 3723s → "1h 2m", 90000s → "1d 1h";
// a negative age keeps its sign.
std::string humanAge(std::chrono::seconds d);

// Appends the UTF-8 encoding of code point `cp` (1 to 4 bytes). The caller checks that `cp` is a
// character it accepts; larger values are not rejected here.
void appendUtf8(std::string& out, std::uint64_t cp);

}  // namespace ocpvdr
