// Lexical path helpers shared by configuration validation and replication path mapping.
//
// Header-only because config (which validates export roots and path mappings) sits below
// replication in module order and cannot link it; both call these two functions so a path
// accepted by `config validate` is exactly a path the mapping code accepts.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ocpvdr::paths {

// Lexically normalises an absolute path: collapses "//" and "/./", drops a trailing "/".
// Refuses (Refused) relative paths, any ".." component, NUL bytes and empty input, naming
// `what` (e.g. "spec.nfs.path") in the message.
[[nodiscard]] inline Result<std::string> normaliseAbsolute(std::string_view path,
                                                           std::string_view what) {
  if (path.empty()) return refusedError(std::string(what) + ": path is empty");
  if (path.find('\0') != std::string_view::npos)
    return refusedError(std::string(what) + ": path contains a NUL byte");
  if (path.front() != '/')
    return refusedError(std::string(what) + ": expected an absolute path, got \"" +
                        std::string(path) + "\"");
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part == "..")
      return refusedError(std::string(what) + ": path traversal (\"..\") in \"" +
                          std::string(path) + "\"");
    if (!part.empty() && part != ".") parts.push_back(part);
    i = j + 1;
  }
  if (parts.empty()) return std::string("/");
  std::string out;
  for (auto p : parts) {
    out += '/';
    out += p;
  }
  return out;
}

// True when `path` equals `root` or lies under it (component-wise, not string prefix).
// Both are expected to be normalised.
inline bool isUnder(std::string_view path, std::string_view root) {
  if (root == "/") return !path.empty() && path.front() == '/';
  if (path.size() < root.size() || path.substr(0, root.size()) != root) return false;
  return path.size() == root.size() || path[root.size()] == '/';
}

}  // namespace ocpvdr::paths
