// JSON and YAML request bodies (YAML 1.2 core schema scalars) into nlohmann::json.
#include "body_parser.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <regex>

namespace kubesim {

namespace {

Json scalarToJson(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  // "!" marks a quoted (or block) scalar: always a string, whatever it looks like.
  if (n.Tag() == "!") return s;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  static const std::regex kInt(R"([-+]?[0-9]+)");
  static const std::regex kFloat(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(s, kInt)) {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno == 0 && end && *end == '\0') return static_cast<std::int64_t>(v);
    return s;  // out of int64 range: keep the text rather than lose digits
  }
  if (std::regex_match(s, kFloat)) return std::strtod(s.c_str(), nullptr);
  return s;
}

Json nodeToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      return scalarToJson(n);
    case YAML::NodeType::Sequence: {
      Json a = Json::array();
      for (const auto& item : n) a.push_back(nodeToJson(item));
      return a;
    }
    case YAML::NodeType::Map: {
      Json o = Json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = nodeToJson(kv.second);
      return o;
    }
  }
  return nullptr;
}

}  // namespace

ApiResult<Json> yamlToJson(std::string_view text) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return nodeToJson(root);
  } catch (const YAML::Exception& e) {
    return badRequest(std::string("error converting YAML to JSON: ") + e.what());
  }
}

ApiResult<Json> parseBody(std::string_view body, bool allowYaml) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded()) return j;
  if (allowYaml) {
    auto y = yamlToJson(body);
    if (y.ok() && !y.value().is_null()) return y;
    if (!y.ok()) return y.error();
  }
  // Re-parse with exceptions only to obtain the parser's position for the message.
  try {
    Json again = Json::parse(body);
    (void)again;
  } catch (const Json::parse_error& e) {
    return badRequest(std::string("the body of the request could not be decoded as JSON: ") +
                      e.what());
  }
  return badRequest("the body of the request could not be decoded");
}

}  // namespace kubesim
