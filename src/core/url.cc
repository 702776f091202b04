// See url.h. RFC 3986 §3 for the grammar; only the absolute http(s) form is accepted.
#include "core/url.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace ocpvdr {
namespace {

bool alpha(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) != 0;
}
bool digit(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) != 0;
}
bool hex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

// unreserved / sub-delims (RFC 3986 §2.2, §2.3); '%' is checked separately.
bool regNameChar(char c) {
  return alpha(c) || digit(c) || std::strchr("-._~!$&'()*+,;=", c) != nullptr;
}

// Everything a URL may carry in its path, query and fragment without escaping, plus '%'.
bool pathChar(char c) {
  return regNameChar(c) || std::strchr(":@/?%[]", c) != nullptr;
}

bool validPercentEscapes(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size() || !hex(s[i + 1]) || !hex(s[i + 2])) return false;
    i += 2;
  }
  return true;
}

Error bad(std::string_view url, std::string_view why) {
  return invalidError("malformed URL \"" + redactUrl(url) + "\": " + std::string(why));
}

}  // namespace

std::string HttpUrl::authority() const {
  std::string out = ipv6() ? "[" + host + "]" : host;
  if (explicitPort) out += ":" + std::to_string(port);
  return out;
}

Result<HttpUrl> parseHttpUrl(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return bad(text, "contains whitespace or a control character");
  }
  HttpUrl u;
  const auto sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0)
    return bad(text, "no scheme (http:// or https://)");
  for (char c : text.substr(0, sep)) {
    if (!alpha(c) && !digit(c) && c != '+' && c != '-' && c != '.')
      return bad(text, "invalid scheme");
    u.scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (u.scheme != "http" && u.scheme != "https")
    return bad(text, "unsupported scheme \"" + u.scheme + "\" (http or https)");

  std::string_view rest = text.substr(sep + 3);
  const auto authorityEnd = std::min(rest.find_first_of("/?#"), rest.size());
  std::string_view authority = rest.substr(0, authorityEnd);
  std::string_view tail = rest.substr(authorityEnd);

  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    u.userinfo = std::string(authority.substr(0, at));
    authority.remove_prefix(at + 1);
    if (!std::all_of(u.userinfo.begin(), u.userinfo.end(),
                     [](char c) { return regNameChar(c) || c == ':' || c == '%'; }))
      return bad(text, "invalid user information");
  }

  std::string_view portText;
  bool hasPort = false;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return bad(text, "unclosed '[' in the host");
    std::string_view v6 = authority.substr(1, close - 1);
    if (v6.empty() ||
        !std::all_of(v6.begin(), v6.end(), [](char c) { return hex(c) || c == ':' || c == '.'; }) ||
        v6.find(':') == std::string_view::npos)
      return bad(text, "invalid IPv6 address");
    u.host = std::string(v6);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad(text, "unexpected text after the IPv6 address");
      hasPort = true;
      portText = after.substr(1);
    }
  } else {
    const auto colon = authority.rfind(':');
    std::string_view host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      hasPort = true;
      portText = authority.substr(colon + 1);
    }
    if (host.empty()) return bad(text, "no host");
    if (!std::all_of(host.begin(), host.end(), [](char c) { return regNameChar(c) || c == '%'; }))
      return bad(text, "invalid character in the host");
    if (!validPercentEscapes(host)) return bad(text, "invalid percent-escape in the host");
    u.host = std::string(host);
  }

  u.port = u.scheme == "https" ? 443 : 80;
  if (hasPort && !portText.empty()) {
    if (portText.size() > 5 || !std::all_of(portText.begin(), portText.end(), digit))
      return bad(text, "invalid port");
    const int port = std::stoi(std::string(portText));
    if (port > 65535) return bad(text, "port out of range (0..65535)");
    u.port = port;
    u.explicitPort = true;
  }

  std::string_view target = tail.substr(0, std::min(tail.find('#'), tail.size()));
  if (!std::all_of(tail.begin(), tail.end(), [](char c) { return pathChar(c) || c == '#'; }))
    return bad(text, "invalid character in the path or query");
  if (!validPercentEscapes(tail)) return bad(text, "invalid percent-escape in the path or query");
  u.target =
      target.empty() || target.front() == '?' ? "/" + std::string(target) : std::string(target);
  return u;
}

std::string redactUrl(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  auto authorityStart = scheme + 3;
  auto authorityEnd = url.find_first_of("/?#", authorityStart);
  if (authorityEnd == std::string_view::npos) authorityEnd = url.size();
  auto at = url.substr(0, authorityEnd).rfind('@');
  if (at == std::string_view::npos || at < authorityStart) return std::string(url);
  return std::string(url.substr(0, authorityStart)) + std::string(url.substr(at + 1));
}

}  // namespace ocpvdr
