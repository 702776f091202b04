// extent/checksum.h — per-file SHA-256 of a tree, the same code at both ends of `points verify`:
// in ocpv-dr for a DR point's tree, and in `ocpv-dr-mover checksum` on the primary for the
// snapshot the point was made from. The walk never follows a symlink (a link is summed as its
// target text) and reads every byte of every regular file (holes read as zeros): the slow,
// thorough scrub. Directories, devices, FIFOs and sockets are not listed.
//
// Line format (one per entry, sorted by path):  <type> <sha256 hex> <size> <path>
//   type: "f" regular file, "l" symlink; path relative to the tree, percent-encoded (every byte
//   outside [A-Za-z0-9._/+:@=,-] as %XX) so that a name with a space or a newline stays one field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ocpvdr::extent {

struct FileSum {
  char type = 'f';     // 'f' or 'l'
  std::string sha256;  // 64 hex digits
  uint64_t size = 0;
  std::string path;  // relative, decoded
  bool operator==(const FileSum&) const = default;
};

[[nodiscard]] Result<std::vector<FileSum>> checksumTree(const std::string& tree);

std::string formatSum(const FileSum& s);
// Parses what formatSum wrote (lines; empty lines skipped). Invalid on a malformed line.
[[nodiscard]] Result<std::vector<FileSum>> parseSums(std::string_view text);

}  // namespace ocpvdr::extent
