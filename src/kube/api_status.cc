// Status body decoding and the HTTP code → ErrorKind mapping.
#include "kube/api_status.h"

#include <cctype>

namespace ocpvdr::kube {
namespace {

constexpr std::string_view kTag = " [status ";

std::string str(const Json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

std::string tag(int code, std::string_view reason) {
  std::string t(kTag);
  t += std::to_string(code);
  if (!reason.empty()) {
    t += " ";
    t += reason;
  }
  t += "]";
  return t;
}

ErrorKind kindFor(int code) {
  if (code == 400 || code == 422) return ErrorKind::Invalid;
  if (code == 401 || code == 403) return ErrorKind::Refused;
  if (code == 404) return ErrorKind::NotFound;
  if (code == 409) return ErrorKind::Conflict;
  if (code == 410 || code == 429 || (code >= 500 && code <= 599)) return ErrorKind::Retryable;
  if (code >= 400 && code <= 499) return ErrorKind::Invalid;
  return ErrorKind::Terminal;
}

std::string defaultReason(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "";
  }
}

// Parses the trailing tag; {0, ""} when absent.
std::pair<int, std::string> readTag(const std::string& msg) {
  auto pos = msg.rfind(kTag);
  if (pos == std::string::npos || msg.empty() || msg.back() != ']') return {0, ""};
  std::string_view rest(msg);
  rest = rest.substr(pos + kTag.size());
  rest.remove_suffix(1);
  int code = 0;
  std::size_t i = 0;
  while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) {
    code = code * 10 + (rest[i] - '0');
    ++i;
  }
  if (i == 0) return {0, ""};
  std::string reason;
  if (i < rest.size() && rest[i] == ' ') reason = std::string(rest.substr(i + 1));
  return {code, reason};
}

std::string excerpt(std::string_view body) {
  constexpr std::size_t kMax = 200;
  std::string out;
  for (char c : body.substr(0, kMax)) {
    out.push_back(std::isprint(static_cast<unsigned char>(c)) ? c : ' ');
  }
  if (body.size() > kMax) out += "...";
  return out;
}

}  // namespace

std::optional<ApiStatus> parseApiStatus(const Json& obj) {
  if (!obj.is_object() || str(obj, "kind") != "Status") return std::nullopt;
  ApiStatus st;
  if (auto it = obj.find("code"); it != obj.end() && it->is_number_integer()) {
    st.code = it->get<int>();
  }
  st.status = str(obj, "status");
  st.reason = str(obj, "reason");
  st.message = str(obj, "message");
  if (auto d = obj.find("details"); d != obj.end() && d->is_object()) {
    st.detailsName = str(*d, "name");
    st.detailsKind = str(*d, "kind");
    if (auto c = d->find("causes"); c != d->end() && c->is_array()) {
      for (const auto& cause : *c) {
        if (!cause.is_object()) continue;
        st.causes.push_back({str(cause, "reason"), str(cause, "message"), str(cause, "field")});
      }
    }
  }
  return st;
}

Error errorFromStatus(const ApiStatus& st, std::string_view context, int httpStatus) {
  const int code = st.code != 0 ? st.code : httpStatus;
  const std::string reason = st.reason.empty() ? defaultReason(code) : st.reason;
  std::string msg(context);
  if (!msg.empty()) msg += ": ";
  switch (code) {
    case 401:
      msg +=
          "unauthorized (the API server rejected the credentials: token expired, revoked or "
          "for another cluster?): ";
      break;
    case 403:
      msg += "forbidden (the credentials lack RBAC permission): ";
      break;
    case 410:
      msg += "expired (the resourceVersion is too old; re-list): ";
      break;
    default:
      break;
  }
  msg += st.message.empty() ? "HTTP " + std::to_string(code) : st.message;
  if (!st.causes.empty()) {
    msg += "; causes:";
    for (std::size_t i = 0; i < st.causes.size(); ++i) {
      const auto& c = st.causes[i];
      msg += i == 0 ? " " : "; ";
      if (!c.field.empty()) msg += c.field + ": ";
      msg += c.message.empty() ? c.reason : c.message;
    }
  }
  msg += tag(code, reason);
  return Error{kindFor(code), std::move(msg)};
}

Error errorFromResponse(int httpStatus, std::string_view body, std::string_view context) {
  auto parsed = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_discarded()) {
    if (auto st = parseApiStatus(parsed)) return errorFromStatus(*st, context, httpStatus);
  }
  std::string msg(context);
  if (!msg.empty()) msg += ": ";
  msg += "HTTP " + std::to_string(httpStatus);
  if (body.empty()) {
    msg += " with an empty body";
  } else {
    msg += ", body is not a Kubernetes Status (a proxy or load balancer in the way?): \"" +
           excerpt(body) + "\"";
  }
  msg += tag(httpStatus, defaultReason(httpStatus));
  return Error{kindFor(httpStatus), std::move(msg)};
}

std::string statusReason(const Error& e) {
  return readTag(e.message).second;
}
int statusCode(const Error& e) {
  return readTag(e.message).first;
}
bool isAlreadyExists(const Error& e) {
  auto [code, reason] = readTag(e.message);
  return code == 409 && reason == "AlreadyExists";
}
bool isConflict(const Error& e) {
  auto [code, reason] = readTag(e.message);
  return code == 409 && reason != "AlreadyExists";
}
bool isExpired(const Error& e) {
  return readTag(e.message).first == 410;
}
bool isNotFound(const Error& e) {
  return readTag(e.message).first == 404;
}
bool isUnauthorized(const Error& e) {
  return readTag(e.message).first == 401;
}

}  // namespace ocpvdr::kube
