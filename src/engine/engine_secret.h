// The serve endpoint's token or HMAC secret, read through core's SecretFile (core/secret_file.h):
// checked on every request, so a rotated Secret takes effect at once; a missing or empty file
// refuses the request. Private to the engine (engine.cc and engine_http.cc).
#pragma once

#include <string>
#include <utility>

#include "core/clock.h"
#include "core/result.h"
#include "core/secret_file.h"

namespace ocpvdr::engine {

class SecretFile {
 public:
  SecretFile(std::string path, Clock& clock)
      : file_(std::move(path), clock, std::chrono::milliseconds(0)) {}
  // Terminal when unreadable, Invalid when empty. Registered with the log's secret scrubber.
  [[nodiscard]] Result<std::string> get();

 private:
  ocpvdr::SecretFile file_;
};

}  // namespace ocpvdr::engine
