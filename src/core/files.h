// Whole-file reads and atomic writes; failures are values naming the path and errno's text
// (ENOENT → NotFound, a directory → Invalid, the rest Terminal).
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace ocpvdr {

// Reads a whole file ("-" = stdin).
Result<std::string> readFileOrStdin(const std::string& path);
Result<std::string> readFile(const std::string& path);
// Writes atomically: temp file in the same directory, fsync, rename, fsync of the directory.
// The file is created with mode 0644; the overload takes another (0600 for credentials).
Status writeFileAtomic(const std::string& path, std::string_view data);
Status writeFileAtomic(const std::string& path, std::string_view data, unsigned mode);

}  // namespace ocpvdr
