// Kubernetes `Status` error bodies (JSON: {"kind":"Status","status":"Failure","code":404,
// "reason":"NotFound","message":...,"details":{"causes":[...]}}) turned into Error values.
//
// Mapping: 400/422 Invalid (with the details.causes), 401/403 Refused (unauthorized vs forbidden),
// 404 NotFound, 409 Conflict (reason AlreadyExists or Conflict), 410 Retryable with reason
// Expired (re-list), 429/5xx Retryable, other 4xx Invalid, anything else Terminal.
//
// Error carries only a kind and a message, so the HTTP code and Status reason are appended to the
// message as a fixed tag, "[status 409 AlreadyExists]"; wrap() only prefixes, so the tag survives
// and statusReason()/statusCode() read it back. Use the is*() helpers rather than the text.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::kube {

struct StatusCause {
  std::string reason, message, field;
};

struct ApiStatus {
  int code = 0;
  std::string status;  // "Failure" / "Success"
  std::string reason;  // NotFound, AlreadyExists, Conflict, Expired, Invalid, ...
  std::string message;
  std::string detailsName, detailsKind;
  std::vector<StatusCause> causes;
};

// Reads a Status object; nullopt when `obj` is not one (kind != "Status" or no code/status).
std::optional<ApiStatus> parseApiStatus(const Json& obj);

// The Error for a Status (code from the Status, falling back to `httpStatus` when absent).
// `context` names the request ("GET /api/v1/persistentvolumes/x").
Error errorFromStatus(const ApiStatus& st, std::string_view context, int httpStatus = 0);

// The Error for a non-2xx response body: a Status is decoded; anything else (an HTML page from a
// proxy, an empty body) gives a message with the status code and a short body excerpt.
Error errorFromResponse(int httpStatus, std::string_view body, std::string_view context);

// Reads back the tag errorFromStatus/errorFromResponse append; "" / 0 when absent.
std::string statusReason(const Error& e);
int statusCode(const Error& e);
bool isAlreadyExists(const Error& e);  // 409, reason AlreadyExists
bool isConflict(const Error& e);       // 409, reason Conflict (stale resourceVersion)
bool isExpired(const Error& e);        // 410 (Expired / Gone): re-list
bool isNotFound(const Error& e);       // 404
bool isUnauthorized(const Error& e);   // 401

}  // namespace ocpvdr::kube
