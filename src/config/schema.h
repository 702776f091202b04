// Internal to the config module: the schema that reads the YAML file — the issue collector, the
// field and rule types, the field makers and one table of fields per section (config.cc explains
// the approach). schema_fields.cc holds the reading machinery and the field makers,
// schema_sections.cc the section tables.
#pragma once

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/value_rules.h"
#include "core/text.h"

namespace ocpvdr::config::detail {

std::string joinKey(const std::string& path, std::string_view key);
// What a node holds, for "got ..." in messages.
std::string describeNode(const YAML::Node& n);

// Collects issues and remembers where each key path sits in the file, so checks made after
// reading (cross-field rules) can still point at a line.
class Collector {
 public:
  void add(const std::string& path, std::string message,
           const YAML::Mark& at = YAML::Mark::null_mark()) {
    Issue issue{path, std::move(message)};
    if (!at.is_null()) {
      issue.line = at.line + 1;
      issue.column = at.column + 1;
    }
    issues_.push_back(std::move(issue));
  }
  // Uses the position recorded for `path` (or none).
  void addAtKey(const std::string& path, std::string message) {
    add(path, std::move(message), markOf(path));
  }
  void remember(const std::string& path, const YAML::Mark& m) { marks_[path] = m; }
  YAML::Mark markOf(const std::string& path) const {
    auto it = marks_.find(path);
    return it == marks_.end() ? YAML::Mark::null_mark() : it->second;
  }
  // True when an issue was already reported at `path` or below it (no second issue for it).
  bool reportedAt(std::string_view path) const {
    return std::any_of(issues_.begin(), issues_.end(), [&](const Issue& i) {
      std::string_view p = i.path;
      return p == path || (p.size() > path.size() && p.substr(0, path.size()) == path &&
                           (p[path.size()] == '.' || p[path.size()] == '['));
    });
  }
  std::vector<Issue> take() { return std::move(issues_); }

 private:
  std::vector<Issue> issues_;
  std::map<std::string, YAML::Mark> marks_;
};

struct Field;
using Fields = std::vector<Field>;

// One key of a mapping. Exactly one of leaf / section / item is set.
struct Field {
  std::string key;
  std::string expected;      // what a value looks like (for "missing" messages)
  bool required = false;     // leaves: must be present and non-null
  std::size_t minItems = 0;  // lists: at least this many items in the effective value
  std::function<void(const YAML::Node&, const std::string& path)> leaf;
  std::function<Fields()> section;  // nested mapping
  // List of mappings: resize the bound vector, then bind item i.
  std::function<void(std::size_t)> resize;
  std::function<Fields(std::size_t)> item;
  std::function<std::size_t()> size;  // lists (of scalars or mappings): effective item count
};

// A check for a string value: returns the full issue message or nullopt; may normalise.
struct Rule {
  std::string expected;
  std::function<rules::Message(std::string&)> check;
};

Rule anyText();
Rule nonEmptyText();
// Absolute path; empty accepted when `optional` (the key's default then applies).
Rule absPath(bool optional = true);
Rule of(std::string expected, rules::Message (*fn)(std::string_view), bool optional = false);
Rule ofRef(std::string expected, rules::Message (*fn)(std::string&));

std::optional<std::int64_t> parseInt(std::string_view s);
std::optional<double> parseNumber(std::string_view s);
std::string formatNumber(double v);

class Schema {
 public:
  explicit Schema(Collector& c) : c_(c) {}

  Fields root(Config& cfg);

  // Reads a mapping (absent or null: an empty one, so required keys below it are reported).
  void readMapping(const YAML::Node& node, const std::string& path, const Fields& fields);

  // Leaf key paths (lists of mappings as "key[]"), optionally with the sections too.
  static void collectPaths(const Fields& fields, const std::string& prefix, bool withSections,
                           std::vector<std::string>& out);

 private:
  void dispatch(const Field& f, const YAML::Node& v, const std::string& path);

  std::string unknownKeyMessage(const std::string& key, const Fields& fields) const;

  // Every key path with sections, computed once from the schema itself.
  static const std::vector<std::string>& allKeyPaths();

  // ---- section tables

  Fields site(Site& s);

  Fields replication(Replication& r);

  Fields backupStore(BackupStore& b);

  Fields failover(Failover& f);

  Fields server(Server& s);

  Fields forwarder(Forwarder& f);
  Fields notifyEmail(NotifyEmail& e);

  // ---- field makers

  static Field required(Field f);

  Field section(std::string key, std::function<Fields()> fields);

  // A scalar string checked by `rule`.
  Field text(std::string key, std::string& out, Rule rule);

  // A list of scalar strings, each checked by `rule` (issues name the item index).
  Field texts(std::string key, std::vector<std::string>& out, Rule rule, std::size_t minItems = 0);

  template <class T>
  Field records(std::string key, std::vector<T>& out, std::size_t minItems, std::string expected,
                std::type_identity_t<std::function<Fields(T&)>> fields) {
    Field f;
    f.key = std::move(key);
    f.expected = std::move(expected);
    f.minItems = minItems;
    f.size = [&out] { return out.size(); };
    f.resize = [&out](std::size_t n) { out.resize(n); };
    f.item = [&out, fields](std::size_t i) { return fields(out[i]); };
    return f;
  }

  // YAML 1.2 core-schema booleans only: yes/no/on/off are not booleans (and are typos here).
  Field flag(std::string key, bool& out);

  template <class Int>
  Field integer(std::string key, Int& out, std::int64_t min, std::int64_t max) {
    Field f;
    f.key = std::move(key);
    f.expected = "an integer " + std::to_string(min) + ".." + std::to_string(max);
    f.leaf = [this, &out, min, max, expected = f.expected](const YAML::Node& n,
                                                           const std::string& path) {
      std::optional<std::int64_t> v;
      if (n.IsScalar()) v = parseInt(n.Scalar());
      if (!v || *v < min || *v > max) {
        c_.add(path, "expected " + expected + ", got " + describeNode(n), n.Mark());
        return;
      }
      out = static_cast<Int>(*v);
    };
    return f;
  }

  Field number(std::string key, double& out, double min, double max, bool minExclusive);

  // Reads a duration into milliseconds; `wholeSeconds` for keys stored in seconds.
  std::optional<Millis> durationValue(const YAML::Node& n, const std::string& path,
                                      bool wholeSeconds, bool positive);

  Field seconds(std::string key, Seconds& out, bool positive = false);

  Field millis(std::string key, Millis& out);

  // One of a fixed set of spellings (case-sensitive, as the consumers compare them); a value
  // that differs only in case gets a suggestion.
  template <class E>
  Field choice(std::string key, E& out, std::vector<std::pair<std::string, E>> options) {
    Field f;
    f.key = std::move(key);
    std::string list;
    for (const auto& o : options) list += (list.empty() ? "" : ", ") + o.first;
    f.expected = "one of " + list;
    f.leaf = [this, &out, options, expected = f.expected](const YAML::Node& n,
                                                          const std::string& path) {
      if (n.IsScalar()) {
        for (const auto& o : options) {
          if (o.first == n.Scalar()) {
            out = o.second;
            return;
          }
        }
      }
      std::string message = "expected " + expected + ", got " + describeNode(n);
      if (n.IsScalar()) {
        std::string best;
        std::size_t bestDistance = 3;
        for (const auto& o : options) {
          std::size_t d = rules::editDistance(lowerAscii(o.first), lowerAscii(n.Scalar()));
          if (d < bestDistance) {
            bestDistance = d;
            best = o.first;
          }
        }
        if (!best.empty()) message += " (did you mean \"" + best + "\"?)";
      }
      c_.add(path, message, n.Mark());
    };
    return f;
  }

  Collector& c_;
};

}  // namespace ocpvdr::config::detail
