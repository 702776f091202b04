// Logging through the spdlog default logger: each call becomes one line, either human
// ("2026-11-24T10:00:00.123Z INFO msg k=v") or a JSON object per line
// ({"ts":..,"level":..,"msg":..,<fields>}), with secrets redacted before anything is formatted.
#include "core/log.h"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "core/json_util.h"
#include "core/text.h"
#include "core/time.h"

namespace ocpvdr::log {
namespace {

// The logger's state: the one sanctioned piece of process-global state (see log.h).
struct State {
  std::shared_mutex secretsMu;
  std::vector<std::string>
      secrets;  // longest first, so a secret containing another is masked whole
  std::atomic<int> level{static_cast<int>(Level::Info)};
  std::atomic<bool> json{true};
  std::atomic<bool> configured{false};
  std::once_flag lazyInit;
};

State& state() {
  static State s;
  return s;
}

constexpr std::string_view kMask = "***";

// Key fragments that name credentials. Keys are compared lower-cased with '_', '-' and '.'
// removed, so "private_key", "privateKey" and "PRIVATE-KEY" all match "privatekey".
constexpr std::string_view kSensitiveKeyParts[] = {"token",      "password",      "passwd",
                                                   "secret",     "authorization", "privatekey",
                                                   "credential", "apikey",        "keydata"};

bool isSensitiveKey(std::string_view key) {
  std::string norm;
  norm.reserve(key.size());
  for (char c : key) {
    if (c == '_' || c == '-' || c == '.') continue;
    norm += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return std::any_of(std::begin(kSensitiveKeyParts), std::end(kSensitiveKeyParts),
                     [&](std::string_view part) { return norm.find(part) != std::string::npos; });
}

std::string_view levelName(Level l, bool upper) {
  switch (l) {
    case Level::Debug:
      return upper ? "DEBUG" : "debug";
    case Level::Info:
      return upper ? "INFO" : "info";
    case Level::Warn:
      return upper ? "WARN" : "warn";
    case Level::Error:
      return upper ? "ERROR" : "error";
  }
  return upper ? "INFO" : "info";
}

spdlog::level::level_enum toSpd(Level l) {
  switch (l) {
    case Level::Debug:
      return spdlog::level::debug;
    case Level::Info:
      return spdlog::level::info;
    case Level::Warn:
      return spdlog::level::warn;
    case Level::Error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

// Invalid UTF-8 (say, from a child's stderr) is replaced rather than making dump() throw.
std::string dumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A human-format value: bare when unambiguous, JSON-quoted when it has spaces, quotes, '='
// or control characters, so `k=v` pairs stay parseable.
std::string humanValue(const nlohmann::json& v) {
  if (!v.is_string()) return dumpJson(v);
  const auto& s = v.get_ref<const std::string&>();
  bool bare = !s.empty() && std::none_of(s.begin(), s.end(), [](char c) {
    return c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20;
  });
  return bare ? s : dumpJson(v);
}

std::string humanMessage(std::string_view msg) {
  std::string out;
  out.reserve(msg.size());
  for (char c : msg) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  return out;
}

void install(std::shared_ptr<spdlog::sinks::sink> sink, bool json, Level level) {
  auto& st = state();
  auto logger = std::make_shared<spdlog::logger>("ocpvdr", std::move(sink));
  logger->set_pattern("%v");
  // Filtering happens before formatting (in emit); spdlog passes everything it is given.
  logger->set_level(spdlog::level::trace);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
  st.json = json;
  st.level = static_cast<int>(level);
  st.configured = true;
}

void emit(Level lvl, std::string_view msg, const nlohmann::json& fields) {
  auto& st = state();
  if (!st.configured) {
    std::call_once(st.lazyInit, [&] {
      if (!st.configured) setup();
    });
  }
  if (static_cast<int>(lvl) < st.level.load()) return;

  const std::string cleanMsg = redact(msg);
  nlohmann::json cleanFields = redactFields(
      fields.is_object() || fields.is_null() ? fields : nlohmann::json{{"fields", fields}});
  const std::string ts = formatTimeMillis(std::chrono::system_clock::now());
  std::string line;
  if (st.json) {
    line = "{\"ts\":\"" + ts + "\",\"level\":\"" + std::string(levelName(lvl, false)) +
           "\",\"msg\":" + dumpJson(cleanMsg);
    if (cleanFields.is_object()) {
      for (auto& [k, v] : cleanFields.items()) {
        // A field may not shadow the fixed keys a collector relies on.
        std::string key = (k == "ts" || k == "level" || k == "msg") ? "field." + k : k;
        line += "," + dumpJson(key) + ":" + dumpJson(v);
      }
    }
    line += "}";
  } else {
    line = ts + " " + std::string(levelName(lvl, true)) + " " + humanMessage(cleanMsg);
    if (cleanFields.is_object()) {
      for (auto& [k, v] : cleanFields.items()) line += " " + k + "=" + humanValue(v);
    }
  }
  spdlog::default_logger()->log(toSpd(lvl), spdlog::string_view_t(line.data(), line.size()));
}

}  // namespace

void setup(Format format, Level level) {
  bool json = format == Format::Json || (format == Format::Auto && !::isatty(STDERR_FILENO));
  install(std::make_shared<spdlog::sinks::stderr_sink_mt>(), json, level);
}

void setupStream(std::ostream& out, Format format, Level level) {
  install(std::make_shared<spdlog::sinks::ostream_sink_mt>(out, true), format != Format::Human,
          level);
}

Level parseLevel(std::string_view s, Level fallback) {
  const std::string l = lowerAscii(s);
  if (l == "debug" || l == "trace") return Level::Debug;
  if (l == "info") return Level::Info;
  if (l == "warn" || l == "warning") return Level::Warn;
  if (l == "error" || l == "err") return Level::Error;
  return fallback;
}

void addSecret(std::string secret) {
  // Very short strings would mask ordinary words and digits all over the output.
  if (secret.size() < 4) return;
  auto& st = state();
  std::unique_lock lock(st.secretsMu);
  if (std::find(st.secrets.begin(), st.secrets.end(), secret) != st.secrets.end()) return;
  st.secrets.push_back(std::move(secret));
  std::stable_sort(st.secrets.begin(), st.secrets.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string redact(std::string_view text) {
  auto& st = state();
  std::string out(text);
  std::shared_lock lock(st.secretsMu);
  for (const auto& secret : st.secrets) {
    std::size_t pos = 0;
    while ((pos = out.find(secret, pos)) != std::string::npos) {
      out.replace(pos, secret.size(), kMask);
      pos += kMask.size();
    }
  }
  return out;
}

nlohmann::json redactFields(const nlohmann::json& fields) {
  if (fields.is_string()) return redact(fields.get_ref<const std::string&>());
  if (fields.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : fields) out.push_back(redactFields(v));
    return out;
  }
  if (fields.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, v] : fields.items()) {
      out[redact(k)] = isSensitiveKey(k) ? nlohmann::json(kMask) : redactFields(v);
    }
    return out;
  }
  return fields;
}

void debug(std::string_view msg, const nlohmann::json& fields) {
  emit(Level::Debug, msg, fields);
}
void info(std::string_view msg, const nlohmann::json& fields) {
  emit(Level::Info, msg, fields);
}
void warn(std::string_view msg, const nlohmann::json& fields) {
  emit(Level::Warn, msg, fields);
}
void error(std::string_view msg, const nlohmann::json& fields) {
  emit(Level::Error, msg, fields);
}

}  // namespace ocpvdr::log
