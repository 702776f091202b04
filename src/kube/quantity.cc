// Quantity parsing with exact integer arithmetic (128-bit), so "1.5Gi" is 1610612736 exactly and
// "100m" rounds up to 1.
#include "kube/quantity.h"

#include <limits>
#include <string>

namespace ocpvdr::kube {
namespace {

__extension__ typedef __int128 Int128;

struct Suffix {
  std::string_view text;
  int pow2;
  int pow10;
};

constexpr Suffix kSuffixes[] = {
    {"Ki", 10, 0}, {"Mi", 20, 0}, {"Gi", 30, 0}, {"Ti", 40, 0}, {"Pi", 50, 0}, {"Ei", 60, 0},
    {"n", 0, -9},  {"u", 0, -6},  {"m", 0, -3},  {"", 0, 0},    {"k", 0, 3},   {"M", 0, 6},
    {"G", 0, 9},   {"T", 0, 12},  {"P", 0, 15},  {"E", 0, 18},
};

Error bad(std::string_view text, const std::string& why) {
  return invalidError("quantity \"" + std::string(text) + "\": " + why);
}

bool mulOverflows(Int128 a, Int128 b, Int128& out) {
  return __builtin_mul_overflow(a, b, &out);
}

}  // namespace

Result<std::int64_t> parseQuantityBytes(std::string_view text) {
  std::string_view s = text;
  if (s.empty()) return bad(text, "empty");
  bool negative = false;
  if (s.front() == '+' || s.front() == '-') {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  Int128 mantissa = 0;
  int significant = 0, fracDigits = 0, digits = 0;
  bool dot = false;
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '.') {
      if (dot) return bad(text, "more than one '.'");
      dot = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    ++digits;
    if (dot) ++fracDigits;
    if (mantissa == 0 && c == '0') continue;
    if (++significant > 36) return bad(text, "too many digits");
    mantissa = mantissa * 10 + (c - '0');
  }
  if (digits == 0) return bad(text, "expected a number");
  const std::string_view suffix = s.substr(i);
  int pow2 = 0, pow10 = 0;
  bool found = false;
  if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    // Decimal exponent: e3, E-2, e+6. Anything else starting with E ("Ei", a lone "E") is a
    // suffix from the table.
    std::size_t j = 1;
    bool expNeg = false;
    if (suffix[j] == '+' || suffix[j] == '-') {
      expNeg = suffix[j] == '-';
      ++j;
    }
    bool allDigits = j < suffix.size();
    for (std::size_t k = j; k < suffix.size(); ++k) {
      allDigits = allDigits && suffix[k] >= '0' && suffix[k] <= '9';
    }
    if (allDigits) {
      if (suffix.size() - j > 4) return bad(text, "exponent out of range");
      int e = 0;
      for (std::size_t k = j; k < suffix.size(); ++k) e = e * 10 + (suffix[k] - '0');
      pow10 = expNeg ? -e : e;
      found = true;
    }
  }
  if (!found) {
    for (const auto& sfx : kSuffixes) {
      if (sfx.text == suffix) {
        pow2 = sfx.pow2;
        pow10 = sfx.pow10;
        found = true;
        break;
      }
    }
  }
  if (!found) return bad(text, "unknown suffix \"" + std::string(suffix) + "\"");
  if (negative && mantissa != 0) return bad(text, "negative sizes are not allowed");

  Int128 num = mantissa;
  if (mulOverflows(num, Int128(1) << pow2, num)) return bad(text, "too large");
  int e = pow10 - fracDigits;
  Int128 den = 1;
  for (; e > 0; --e) {
    if (mulOverflows(num, 10, num)) return bad(text, "too large");
  }
  if (e < -38) return num == 0 ? std::int64_t{0} : std::int64_t{1};  // den > any numerator
  for (; e < 0; ++e) den *= 10;
  Int128 value = num / den + ((num % den) != 0 ? 1 : 0);
  if (value > std::numeric_limits<std::int64_t>::max()) return bad(text, "too large for int64");
  return static_cast<std::int64_t>(value);
}

}  // namespace ocpvdr::kube
