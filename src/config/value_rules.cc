// Single-value checks for the configuration file (see value_rules.h).
#include "config/value_rules.h"

#include "core/mail.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/cron.h"
#include "core/paths.h"
#include "core/text.h"
#include "core/url.h"

namespace ocpvdr::config::rules {
namespace {

bool isLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool isAlnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

std::string expectedGot(std::string_view expected, std::string_view value) {
  return "expected " + std::string(expected) + ", got " + quoted(value);
}

bool parseSmallUint(std::string_view s, int& out) {
  if (s.empty() || s.size() > 9) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool dnsLabelLike(std::string_view v, std::size_t maxLen, bool allowDots) {
  if (v.empty() || v.size() > maxLen) return false;
  if (!isLowerAlnum(v.front()) || !isLowerAlnum(v.back())) return false;
  return std::all_of(v.begin(), v.end(), [&](char c) {
    return isLowerAlnum(c) || c == '-' || (allowDots && c == '.');
  });
}

bool hostChars(std::string_view v) {
  if (v.empty() || v.size() > 253 || v.front() == '-') return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return isAlnum(c) || c == '.' || c == '-' || c == '_' || c == ':';
  });
}

}  // namespace

std::string quoted(std::string_view text) {
  constexpr std::size_t kMax = 80;
  std::string out = "\"";
  std::size_t n = 0;
  for (char c : text) {
    if (++n > kMax) {
      out += "...";
      break;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\x";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

Message absolutePath(std::string& value) {
  if (value.find('\0') != std::string::npos)
    return std::string("expected an absolute path, got a value containing a NUL byte");
  if (value.empty() || value.front() != '/') return expectedGot("an absolute path", value);
  auto normalised = paths::normaliseAbsolute(value, "path");
  if (!normalised.ok()) return expectedGot("an absolute path without \"..\" components", value);
  value = std::move(normalised).value();
  return std::nullopt;
}

Message relativeDir(std::string_view value) {
  const char* expected = "a relative directory name (no leading \"/\", no \"..\")";
  if (value.empty() || value.front() == '/' || value.find('\0') != std::string_view::npos)
    return expectedGot(expected, value);
  for (std::string_view part : split(value, '/'))
    if (part == "..") return expectedGot(expected, value);
  return std::nullopt;
}

Message program(std::string& value) {
  const char* expected = "a program name or an absolute path";
  if (value.empty()) return expectedGot(expected, value);
  if (value.find('/') != std::string::npos) {
    if (absolutePath(value)) return expectedGot(expected, value);
    return std::nullopt;
  }
  bool ok = std::all_of(value.begin(), value.end(),
                        [](char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; });
  if (!ok || value.front() == '-') return expectedGot(expected, value);
  return std::nullopt;
}

Message hostName(std::string_view value) {
  if (!hostChars(value)) return expectedGot("a host name or IP address", value);
  return std::nullopt;
}

Message userName(std::string_view value) {
  bool ok = !value.empty() && value.size() <= 32 && value.front() != '-' &&
            std::all_of(value.begin(), value.end(),
                        [](char c) { return isAlnum(c) || c == '.' || c == '_' || c == '-'; });
  if (!ok) return expectedGot("a user name (letters, digits, '.', '_', '-')", value);
  return std::nullopt;
}

Message smtpUrl(std::string_view value) {
  const char* expected = "an smtp:// or smtps:// URL (host and optional port)";
  std::string_view rest;
  if (value.starts_with("smtp://")) {
    rest = value.substr(7);
  } else if (value.starts_with("smtps://")) {
    rest = value.substr(8);
  } else {
    return expectedGot(expected, value);
  }
  if (rest.find('@') != std::string_view::npos)
    return std::string(
        "expected a URL without a user:password part (the credentials go in "
        "notify.email.auth_file), got a URL with credentials");
  if (rest.ends_with("/")) rest.remove_suffix(1);
  if (rest.empty() || rest.find('/') != std::string_view::npos || !hostChars(rest))
    return expectedGot(expected, value);
  return std::nullopt;
}

Message mailAddress(std::string_view value) {
  if (!plausibleMailAddress(value))
    return expectedGot("a mail address such as dr-team@example.com", value);
  return std::nullopt;
}

Message httpUrl(std::string_view value) {
  const char* expected = "an http:// or https:// URL";
  if (value.empty() || value.find('\0') != std::string_view::npos)
    return expectedGot(expected, value);
  auto url = parseHttpUrl(value);
  if (!url) return expectedGot(expected, value);
  // The value is not echoed here: it holds a password.
  if (!url->userinfo.empty())
    return std::string(
        "expected a URL without a user:password part (secrets are never written in this file; "
        "use the token_file keys), got a URL with credentials");
  return std::nullopt;
}

Message listenAddress(std::string_view value) {
  const char* expected = "host:port with a port 0..65535 (e.g. \"0.0.0.0:8443\")";
  std::string_view host, port;
  if (!value.empty() && value.front() == '[') {
    std::size_t close = value.find(']');
    if (close == std::string_view::npos || close + 1 >= value.size() || value[close + 1] != ':')
      return expectedGot(expected, value);
    host = value.substr(1, close - 1);
    port = value.substr(close + 2);
    bool ipv6 = !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
      return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
    });
    if (!ipv6) return expectedGot(expected, value);
  } else {
    std::size_t colon = value.rfind(':');
    if (colon == std::string_view::npos) return expectedGot(expected, value);
    host = value.substr(0, colon);
    port = value.substr(colon + 1);
    if (host.find(':') != std::string_view::npos || !hostChars(host))
      return expectedGot(expected, value);
  }
  int n = 0;
  if (port.size() > 5 || !parseSmallUint(port, n) || n > 65535) return expectedGot(expected, value);
  return std::nullopt;
}

Message timeZone(std::string_view value, std::string_view zoneinfoDir) {
  if (value == "UTC") return std::nullopt;
  std::string expected =
      "an IANA time zone name such as \"UTC\" or \"Europe/Berlin\" (a file under " +
      std::string(zoneinfoDir) + ")";
  bool charsOk = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return isAlnum(c) || c == '_' || c == '-' || c == '+' || c == '/';
  });
  if (!charsOk || value.front() == '/') return expectedGot(expected, value);
  for (std::string_view part : split(value, '/'))
    if (part.empty() || part == "." || part == "..") return expectedGot(expected, value);
  std::error_code ec;
  auto file = std::filesystem::path(zoneinfoDir) / std::string(value);
  if (!std::filesystem::is_regular_file(file, ec)) return expectedGot(expected, value);
  return std::nullopt;
}

Message cronExpression(std::string_view value) {
  const char* expected =
      "a five-field cron expression (minute hour day-of-month month day-of-week) such as "
      "\"0 * * * *\"";
  auto fields = splitWhitespace(value);
  if (fields.size() != 5)
    return expectedGot(expected, value) + " (" + std::to_string(fields.size()) +
           (fields.size() == 1 ? " field)" : " fields)");
  // The scheduler's own parser (core/cron.h): what passes here is what serve runs.
  auto parsed = CronExpression::parse(value);
  if (!parsed.ok()) return expectedGot(expected, value) + " (" + parsed.error().message + ")";
  return std::nullopt;
}

Message labelSelector(std::string_view value) {
  const char* expected =
      "a label selector of comma-separated requirements such as \"app=vm,tier!=test\"";
  if (value.empty()) return std::nullopt;
  std::vector<std::string_view> requirements;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    char c = i < value.size() ? value[i] : ',';
    if (c == '(') ++depth;
    if (c == ')' && --depth < 0) return expectedGot(expected, value) + " (unbalanced \")\")";
    if (c == ',' && depth == 0) {
      requirements.push_back(value.substr(start, i - start));
      start = i + 1;
    }
  }
  if (depth != 0) return expectedGot(expected, value) + " (unbalanced \"(\")";
  for (std::size_t i = 0; i < requirements.size(); ++i) {
    std::string_view r = trim(requirements[i]);
    if (r.empty() || r == "!")
      return expectedGot(expected, value) + " (requirement " + std::to_string(i + 1) + " is empty)";
    std::string_view key = r.substr(r.front() == '!' ? 1 : 0);
    key = key.substr(0, std::min(key.find_first_of("=!( \t"), key.size()));
    if (key.empty())
      return expectedGot(expected, value) + " (requirement " + std::to_string(i + 1) +
             " has no label key)";
  }
  return std::nullopt;
}

Message namespaceName(std::string_view value) {
  if (!dnsLabelLike(value, 63, false))
    return expectedGot("a namespace name (lower-case letters, digits and '-', at most 63)", value);
  return std::nullopt;
}

Message objectName(std::string_view value) {
  if (!dnsLabelLike(value, 253, true))
    return expectedGot("a Kubernetes object name (lower-case letters, digits, '-' and '.')", value);
  return std::nullopt;
}

Message envVarName(std::string_view value) {
  bool ok = !value.empty() && !std::isdigit(static_cast<unsigned char>(value.front())) &&
            std::all_of(value.begin(), value.end(), [](char c) { return isAlnum(c) || c == '_'; });
  if (!ok) return expectedGot("an environment variable name ([A-Za-z_][A-Za-z0-9_]*)", value);
  return std::nullopt;
}

Message bucketName(std::string_view value) {
  if (value.empty()) return std::nullopt;
  if (value.size() < 3 || !dnsLabelLike(value, 63, true))
    return expectedGot("an S3 bucket name (3..63 lower-case letters, digits, '.' and '-')", value);
  return std::nullopt;
}

Message objectPrefix(std::string_view value) {
  if (value.empty()) return std::nullopt;
  const char* expected = "an object key prefix without leading or trailing \"/\" (e.g. \"velero\")";
  if (value.find('\0') != std::string_view::npos) return expectedGot(expected, value);
  for (std::string_view part : split(value, '/'))
    if (part.empty() || part == "." || part == "..") return expectedGot(expected, value);
  return std::nullopt;
}

}  // namespace ocpvdr::config::rules
