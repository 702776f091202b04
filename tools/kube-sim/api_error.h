// ApiError / ApiResult: kube-sim's failures are Kubernetes `Status` documents, not internal errors.
//
// Every refusal the simulated API server makes (404, 409, 410, 422, ...) is the payload it sends to
// the client, so the error carries what the wire format needs: HTTP code, machine-readable reason,
// message and `details`. ApiResult<T> is the value-or-ApiError type the store and handlers return
// (core's Result<T> carries only a kind and a message, which cannot express details.causes).
#pragma once

#include <cassert>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <variant>

namespace kubesim {

using Json = nlohmann::json;

class ResourceType;

struct ApiError {
  int code = 500;
  std::string reason;   // StatusReason: NotFound, AlreadyExists, Conflict, Invalid, Expired, ...
  std::string message;  // human-readable, shaped like the real server's
  Json details;         // null: no "details" key; otherwise {name, group, kind, causes, ...}
  int retryAfterSeconds = 0;  // > 0: also sent as the Retry-After header

  // The wire body: {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",...}.
  Json toJson() const;
};

template <class T>
class [[nodiscard]] ApiResult {
 public:
  ApiResult(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  ApiResult(ApiError error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const ApiError& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, ApiError> v_;
};

// A result with no value (Status is taken by core; this is the kube-sim flavour).
struct Done {};
using ApiStatus = ApiResult<Done>;

// Builders shaped like the real server's messages (see tests/fixtures/kube-api/status_*.json).
// `details.kind` is the resource plural for 404/409 and the Kind for 422, as the server does.
ApiError notFound(const ResourceType& type, const std::string& name);
ApiError namespaceNotFound(const std::string& ns);
ApiError alreadyExists(const ResourceType& type, const std::string& name);
ApiError conflict(const ResourceType& type, const std::string& name, const std::string& why);
ApiError modifiedConflict(const ResourceType& type, const std::string& name);
// 422 with details.causes; each cause is {"reason","message","field"}.
ApiError invalid(const ResourceType& type, const std::string& name, const Json& causes);
ApiError badRequest(const std::string& message);
ApiError forbidden(const std::string& message, const Json& details = nullptr);
ApiError unauthorized();
ApiError expired(const std::string& message);
ApiError unsupportedMediaType(const std::string& contentType);
ApiError methodNotAllowed();
ApiError pathNotFound();  // "the server could not find the requested resource"
ApiError internalError(const std::string& message);
ApiError tooManyRequests(int retryAfterSeconds);
ApiError serviceUnavailable(int retryAfterSeconds);
ApiError timeoutError(const std::string& message);

// One entry of details.causes.
Json cause(const std::string& reason, const std::string& field, const std::string& message);

}  // namespace kubesim
