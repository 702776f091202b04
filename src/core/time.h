// Timestamp text: RFC 3339 as Kubernetes writes it, and the compact UTC form of file names and
// SigV4's X-Amz-Date.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace ocpvdr {

// RFC 3339 / Kubernetes timestamps ("2026-11-24T00:12:21Z").
std::string formatTime(std::chrono::system_clock::time_point t);
// Same with millisecond precision ("2026-11-24T00:12:21.123Z"), for logs and reports.
std::string formatTimeMillis(std::chrono::system_clock::time_point t);
// Same with microsecond precision ("2026-11-24T00:12:21.123456Z"): metav1.MicroTime (Leases).
std::string formatTimeMicros(std::chrono::system_clock::time_point t);
// RFC 5322 date-time in UTC ("Mon, 07 Dec 2026 19:05:03 +0000"; English names): mail headers.
std::string formatMailDate(std::chrono::system_clock::time_point t);
Result<std::chrono::system_clock::time_point> parseTime(std::string_view s);
// Nanoseconds since the epoch (the extent mover's data times) as a time point.
std::chrono::system_clock::time_point fromEpochNanos(std::int64_t ns);

// "20261124T001221Z" (ISO 8601 basic, UTC, whole seconds): names of files moved aside, and
// SigV4's X-Amz-Date.
std::string compactUtc(std::chrono::system_clock::time_point t);

}  // namespace ocpvdr
