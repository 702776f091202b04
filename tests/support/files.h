// Whole-file helpers for tests: read a file's bytes, write one (creating its directories), and
// deterministic pseudo-random payloads for data that must survive a copy byte for byte.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace ocpvdr::testing {

// The file's bytes; empty when it cannot be opened (tests assert on the content, so a missing
// file shows up as a mismatch rather than a crash).
std::string slurp(const std::filesystem::path& p);
// Writes (truncating) `data` to `p`, creating parent directories first.
void putFile(const std::filesystem::path& p, const std::string& data);
// `n` bytes from a fixed-seed generator: the same seed gives the same bytes on every run.
std::string randomBytes(std::size_t n, unsigned seed);

}  // namespace ocpvdr::testing
