// A secret read from a file (trailing whitespace dropped), re-read when the file's mtime changes
// so rotated tokens take effect without a restart. Private to the engine (engine.cc and
// engine_http.cc).
#pragma once

#include <mutex>
#include <string>
#include <utility>

#include "core/result.h"

namespace ocpvdr::engine {

class SecretFile {
 public:
  explicit SecretFile(std::string path) : path_(std::move(path)) {}
  // Terminal when unreadable, Invalid when empty. Registered with the log's secret scrubber.
  [[nodiscard]] Result<std::string> get();

 private:
  std::string path_;
  std::mutex mu_;
  bool loaded_ = false;
  std::pair<long, long> mtime_{0, 0};
  std::string value_;
};

}  // namespace ocpvdr::engine
