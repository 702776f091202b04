// Credentials file parsing and loading (see s3_credentials.h).
#include "s3/s3_credentials.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/log.h"
#include "core/text.h"

namespace ocpvdr::s3 {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

void registerSecrets(const AwsCredentials& c) {
  log::addSecret(c.secretAccessKey);
  if (!c.sessionToken.empty()) log::addSecret(c.sessionToken);
}

}  // namespace

Result<AwsCredentials> parseCredentialsFile(std::string_view text, std::string_view profile,
                                            std::string_view sourceName) {
  const std::string src(sourceName);
  // section -> key -> value
  std::map<std::string, std::map<std::string, std::string>> sections;
  std::string current;
  bool inSection = false;
  std::size_t lineNo = 0;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = trim(text.substr(pos, nl - pos));
    pos = nl + 1;
    ++lineNo;
    const std::string where = src + " line " + std::to_string(lineNo);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[') {
      if (line.back() != ']') return invalidError(where + ": section header lacks ']'");
      std::string_view name = trim(line.substr(1, line.size() - 2));
      if (name.substr(0, 8) == "profile " || name.substr(0, 8) == "profile\t")
        name = trim(name.substr(8));
      if (name.empty()) return invalidError(where + ": empty section name");
      current = std::string(name);
      if (sections.count(current))
        return invalidError(where + ": section [" + current + "] appears twice");
      sections[current];
      inSection = true;
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string_view::npos)
      return invalidError(where + ": expected `key = value` or `[section]`");
    std::string key = lowerAscii(trim(line.substr(0, eq)));
    std::string value(trim(line.substr(eq + 1)));
    if (key.empty()) return invalidError(where + ": empty key before '='");
    if (!inSection) return invalidError(where + ": `" + key + "` outside any [section]");
    auto& kv = sections[current];
    if (kv.count(key))
      return invalidError(where + ": `" + key + "` set twice in [" + current + "]");
    kv[key] = std::move(value);
  }

  const std::string prof(profile.empty() ? "default" : profile);
  auto it = sections.find(prof);
  if (it == sections.end()) {
    std::string have;
    for (const auto& [name, _] : sections) have += (have.empty() ? "" : ", ") + name;
    return invalidError(src + ": no [" + prof +
                        "] profile (profiles present: " + (have.empty() ? "none" : have) +
                        "); check backup_store.profile and the cloud-credentials secret");
  }
  AwsCredentials c;
  c.source = src + " [" + prof + "]";
  auto get = [&](const char* k) {
    auto f = it->second.find(k);
    return f == it->second.end() ? std::string() : f->second;
  };
  c.accessKeyId = get("aws_access_key_id");
  c.secretAccessKey = get("aws_secret_access_key");
  c.sessionToken = get("aws_session_token");
  // Register before any message can be built from this content.
  registerSecrets(c);
  if (c.accessKeyId.empty() || c.secretAccessKey.empty())
    return invalidError(src + " [" + prof +
                        "]: aws_access_key_id and aws_secret_access_key are both required");
  return c;
}

Result<AwsCredentials> loadCredentials(const std::string& file, const std::string& profile,
                                       const EnvLookup& env) {
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      int err = errno;
      std::string msg =
          "credentials file " + file + " (backup_store.credentials_file): " + std::strerror(err);
      if (err == ENOENT) return notFoundError(msg);
      return terminalError(msg);
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    return parseCredentialsFile(ss.str(), profile, file);
  }
  AwsCredentials c;
  c.source = "environment (AWS_ACCESS_KEY_ID)";
  if (env) {
    c.accessKeyId = env("AWS_ACCESS_KEY_ID").value_or("");
    c.secretAccessKey = env("AWS_SECRET_ACCESS_KEY").value_or("");
    c.sessionToken = env("AWS_SESSION_TOKEN").value_or("");
  }
  registerSecrets(c);
  if (c.accessKeyId.empty() || c.secretAccessKey.empty())
    return invalidError(
        "no S3 credentials: set backup_store.credentials_file (the OADP cloud-credentials file) "
        "or the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  return c;
}

EnvLookup processEnv() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

}  // namespace ocpvdr::s3
