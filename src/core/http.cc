// The parts of the HttpClient seam every implementation shares (see http.h).
#include "core/http.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/text.h"
#include "core/url.h"

namespace ocpvdr {

bool isHttpToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+-.^_`|~", c);
  });
}

std::string describeRequest(const HttpRequest& req) {
  return req.method + " " + redactUrl(req.url);
}

Status checkRequestHead(const HttpRequest& req) {
  const std::string what = describeRequest(req);
  if (!isHttpToken(req.method)) return invalidError(what + ": invalid HTTP method");
  for (const auto& [k, v] : req.headers) {
    if (!isHttpToken(k)) return invalidError(what + ": invalid header name \"" + k + "\"");
    if (v.find_first_of("\r\n") != std::string::npos || v.find('\0') != std::string::npos) {
      return invalidError(what + ": header " + k + " has a line break in its value");
    }
  }
  return Status::success();
}

bool mentionsTlsCertificateAlert(std::string_view detail) {
  const std::string d = lowerAscii(detail);
  return d.find("alert") != std::string::npos &&
         (d.find("certificate") != std::string::npos || d.find("unknown ca") != std::string::npos);
}

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  const std::string want = lowerAscii(name);
  for (const auto& [k, v] : headers) {
    if (lowerAscii(k) == want) return v;
  }
  return std::nullopt;
}

}  // namespace ocpvdr
