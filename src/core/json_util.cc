// Non-throwing JSON accessors.
#include "core/json_util.h"

#include <limits>

namespace ocpvdr {
namespace {

// Walks the dotted path; on failure says which prefix was missing or not an object.
struct Walk {
  const Json* node = nullptr;
  std::string error;  // set when node is null
};

Walk walk(const Json& root, std::string_view dottedPath) {
  const Json* cur = &root;
  std::size_t pos = 0;
  while (pos <= dottedPath.size()) {
    std::size_t dot = dottedPath.find('.', pos);
    if (dot == std::string_view::npos) dot = dottedPath.size();
    std::string_view key = dottedPath.substr(pos, dot - pos);
    if (!cur->is_object()) {
      std::string prefix(dottedPath.substr(0, pos == 0 ? 0 : pos - 1));
      return {nullptr, (prefix.empty() ? std::string("document") : prefix) +
                           ": expected an object, got " + cur->type_name()};
    }
    auto it = cur->find(key);
    if (it == cur->end()) return {nullptr, std::string(dottedPath) + ": missing"};
    cur = &*it;
    pos = dot + 1;
  }
  return {cur, {}};
}

Error typeError(std::string_view path, std::string_view expected, const Json& got) {
  return invalidError(std::string(path) + ": expected " + std::string(expected) + ", got " +
                      got.type_name());
}

}  // namespace

const Json* jsonAt(const Json& root, std::string_view dottedPath) {
  return walk(root, dottedPath).node;
}

Result<std::string> jsonString(const Json& root, std::string_view dottedPath) {
  Walk w = walk(root, dottedPath);
  if (!w.node) return invalidError(w.error);
  if (!w.node->is_string()) return typeError(dottedPath, "a string", *w.node);
  return w.node->get<std::string>();
}

Result<std::int64_t> jsonInt(const Json& root, std::string_view dottedPath) {
  Walk w = walk(root, dottedPath);
  if (!w.node) return invalidError(w.error);
  const Json& n = *w.node;
  if (n.is_number_integer() && !n.is_number_unsigned()) return n.get<std::int64_t>();
  if (n.is_number_unsigned()) {
    auto u = n.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return invalidError(std::string(dottedPath) + ": integer out of range");
    }
    return static_cast<std::int64_t>(u);
  }
  if (n.is_number_float()) {
    // 3.0 is an integer written as a float; 3.5 is not.
    double d = n.get<double>();
    if (d == static_cast<double>(static_cast<std::int64_t>(d)) && d > -9.2e18 && d < 9.2e18) {
      return static_cast<std::int64_t>(d);
    }
    return invalidError(std::string(dottedPath) + ": expected an integer, got fractional number");
  }
  return typeError(dottedPath, "an integer", n);
}

Result<bool> jsonBool(const Json& root, std::string_view dottedPath) {
  Walk w = walk(root, dottedPath);
  if (!w.node) return invalidError(w.error);
  if (!w.node->is_boolean()) return typeError(dottedPath, "a boolean", *w.node);
  return w.node->get<bool>();
}

Result<std::optional<std::string>> jsonOptString(const Json& root, std::string_view dottedPath) {
  Walk w = walk(root, dottedPath);
  // An intermediate that exists but is not an object is a shape error, not absence.
  if (!w.node) {
    if (w.error.ends_with(": missing")) return std::optional<std::string>{};
    return invalidError(w.error);
  }
  if (w.node->is_null()) return std::optional<std::string>{};
  if (!w.node->is_string()) return typeError(dottedPath, "a string", *w.node);
  return std::optional<std::string>{w.node->get<std::string>()};
}

Result<std::optional<bool>> jsonOptBool(const Json& root, std::string_view dottedPath) {
  Walk w = walk(root, dottedPath);
  if (!w.node) {
    if (w.error.ends_with(": missing")) return std::optional<bool>{};
    return invalidError(w.error);
  }
  if (w.node->is_null()) return std::optional<bool>{};
  if (!w.node->is_boolean()) return typeError(dottedPath, "a boolean", *w.node);
  return std::optional<bool>{w.node->get<bool>()};
}

Result<Json> parseJson(std::string_view text, std::string_view what) {
  // nlohmann reports positions only through its exception; it is caught here, at the library
  // boundary, and turned into a value.
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    std::string detail = e.what();
    // Drop the "[json.exception.parse_error.101] " tag; keep the parser's description.
    if (auto close = detail.find("] ");
        detail.starts_with("[json.exception") && close != std::string::npos) {
      detail = detail.substr(close + 2);
    }
    return invalidError(std::string(what) + ": invalid JSON at byte " + std::to_string(e.byte) +
                        ": " + detail);
  }
}

}  // namespace ocpvdr
