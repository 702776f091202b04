// DeadLetterFile: where events the webhook refused for good (4xx other than 401/403) go, one
// JSON line each, appended and fsynced before the event leaves the spool:
//   {"at": "<RFC 3339>", "status": 400, "response": "<start of the answer>", "event": {...}}
// `event` is the POST body as sent (or a string when it was not valid JSON).
#pragma once

#include <mutex>
#include <string>

#include "core/clock.h"
#include "core/result.h"

namespace ocpvdr::forwarder {

class DeadLetterFile {
 public:
  explicit DeadLetterFile(std::string path) : path_(std::move(path)) {}
  [[nodiscard]] Status append(SystemTime at, int status, const std::string& response,
                              const std::string& body);
  const std::string& path() const { return path_; }

 private:
  std::mutex mu_;
  std::string path_;
};

}  // namespace ocpvdr::forwarder
