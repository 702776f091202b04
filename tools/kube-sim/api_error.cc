// Status bodies for every failure kube-sim reports, worded like kube-apiserver v1.32's.
#include "api_error.h"

#include "resource_table.h"

namespace kubesim {

Json ApiError::toJson() const {
  Json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", Json::object()},
            {"status", "Failure"}, {"message", message}, {"reason", reason},
            {"code", code}};
  if (!details.is_null()) s["details"] = details;
  return s;
}

namespace {

Json resourceDetails(const ResourceType& type, const std::string& name) {
  Json d = Json::object();
  if (!name.empty()) d["name"] = name;
  if (!type.group.empty()) d["group"] = type.group;
  d["kind"] = type.plural;
  return d;
}

}  // namespace

Json cause(const std::string& reason, const std::string& field, const std::string& message) {
  return {{"reason", reason}, {"message", message}, {"field", field}};
}

ApiError notFound(const ResourceType& type, const std::string& name) {
  return {404, "NotFound", type.groupResource() + " \"" + name + "\" not found",
          resourceDetails(type, name)};
}

ApiError namespaceNotFound(const std::string& ns) {
  return {404,
          "NotFound",
          "namespaces \"" + ns + "\" not found",
          {{"name", ns}, {"kind", "namespaces"}}};
}

ApiError alreadyExists(const ResourceType& type, const std::string& name) {
  return {409, "AlreadyExists", type.groupResource() + " \"" + name + "\" already exists",
          resourceDetails(type, name)};
}

ApiError conflict(const ResourceType& type, const std::string& name, const std::string& why) {
  return {409, "Conflict",
          "Operation cannot be fulfilled on " + type.groupResource() + " \"" + name + "\": " + why,
          resourceDetails(type, name)};
}

ApiError modifiedConflict(const ResourceType& type, const std::string& name) {
  return conflict(type, name,
                  "the object has been modified; please apply your changes to the latest version "
                  "and try again");
}

ApiError invalid(const ResourceType& type, const std::string& name, const Json& causes) {
  std::string list;
  for (const auto& c : causes) {
    if (!list.empty()) list += ", ";
    list += c.value("field", "") + ": " + c.value("message", "");
  }
  if (causes.size() > 1) list = "[" + list + "]";
  Json d = Json::object();
  d["name"] = name;
  if (!type.group.empty()) d["group"] = type.group;
  d["kind"] = type.kind;
  d["causes"] = causes;
  return {422, "Invalid", type.qualifiedKind() + " \"" + name + "\" is invalid: " + list, d};
}

ApiError badRequest(const std::string& message) {
  return {400, "BadRequest", message, nullptr};
}

ApiError forbidden(const std::string& message, const Json& details) {
  return {403, "Forbidden", message, details};
}

ApiError unauthorized() {
  return {401, "Unauthorized", "Unauthorized", nullptr};
}

ApiError expired(const std::string& message) {
  return {410, "Expired", message, nullptr};
}

ApiError unsupportedMediaType(const std::string& contentType) {
  return {415, "UnsupportedMediaType",
          "the body of the request was in an unknown format - accepted media types include: "
          "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
          " (kube-sim does not implement " +
              (contentType.empty() ? std::string("an empty content type") : contentType) + ")",
          nullptr};
}

ApiError methodNotAllowed() {
  return {405, "MethodNotAllowed",
          "the server does not allow this method on the requested resource", Json::object()};
}

ApiError pathNotFound() {
  return {404, "NotFound", "the server could not find the requested resource", Json::object()};
}

ApiError internalError(const std::string& message) {
  return {500,
          "InternalError",
          "Internal error occurred: " + message,
          {{"causes", Json::array({{{"message", message}}})}}};
}

ApiError tooManyRequests(int retryAfterSeconds) {
  ApiError e{429,
             "TooManyRequests",
             "Too many requests, please try again later.",
             {{"retryAfterSeconds", retryAfterSeconds}}};
  e.retryAfterSeconds = retryAfterSeconds;
  return e;
}

ApiError serviceUnavailable(int retryAfterSeconds) {
  ApiError e{503, "ServiceUnavailable", "The server is currently unable to handle the request",
             retryAfterSeconds > 0 ? Json{{"retryAfterSeconds", retryAfterSeconds}} : Json()};
  e.retryAfterSeconds = retryAfterSeconds;
  return e;
}

ApiError timeoutError(const std::string& message) {
  return {504, "Timeout", message, nullptr};
}

}  // namespace kubesim
