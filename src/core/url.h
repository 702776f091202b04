// Absolute http:// and https:// URLs: the one parser the configuration checks and the
// cpp-httplib transport share (the curl transport parses with libcurl's own URL API).
//
// Accepted: scheme "://" [userinfo "@"] host [":" port] [path] ["?" query] ["#" fragment] with
// the scheme http or https (any case), the host a name, an IPv4 address or a bracketed IPv6
// address, the port 0..65535. Whitespace, control bytes and anything a request line cannot
// carry are refused rather than escaped, so what is checked is what is sent.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace ocpvdr {

struct HttpUrl {
  std::string scheme;    // "http" | "https", lower-case
  std::string userinfo;  // raw, without '@'; empty when absent
  std::string host;      // without brackets for IPv6
  int port = 0;          // explicit port, or the scheme's default
  bool explicitPort = false;
  std::string target;  // path and query as sent on the request line; "/" at least

  bool ipv6() const { return host.find(':') != std::string::npos; }
  // host[:port] as written for a Host header (brackets for IPv6; the port only when explicit).
  std::string authority() const;
};

// Invalid error naming what is wrong; the message never repeats a user:password part.
[[nodiscard]] Result<HttpUrl> parseHttpUrl(std::string_view text);

// The URL with any user:password part removed, for messages and logs.
std::string redactUrl(std::string_view url);

}  // namespace ocpvdr
