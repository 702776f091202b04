// The config schema's reading machinery and field makers (see schema.h).
#include "config/schema.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

namespace ocpvdr::config::detail {

std::string joinKey(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

// What a node holds, for "got ..." in messages.
std::string describeNode(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Scalar:
      return rules::quoted(n.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "nothing";
  }
}

Rule anyText() {
  return {"a string", [](std::string&) { return rules::Message(); }};
}
Rule nonEmptyText() {
  return {"a non-empty string", [](std::string& v) -> rules::Message {
            if (v.empty()) return "expected a non-empty string, got \"\"";
            return std::nullopt;
          }};
}
// Absolute path; empty accepted when `optional` (the key's default then applies).
Rule absPath(bool optional) {
  return {"an absolute path", [optional](std::string& v) -> rules::Message {
            if (optional && v.empty()) return std::nullopt;
            return rules::absolutePath(v);
          }};
}
Rule of(std::string expected, rules::Message (*fn)(std::string_view), bool optional) {
  return {std::move(expected), [fn, optional](std::string& v) -> rules::Message {
            if (optional && v.empty()) return std::nullopt;
            return fn(v);
          }};
}
Rule ofRef(std::string expected, rules::Message (*fn)(std::string&)) {
  return {std::move(expected), [fn](std::string& v) { return fn(v); }};
}

std::optional<std::int64_t> parseInt(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parseNumber(std::string_view s) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v))
    return std::nullopt;
  return v;
}

std::string formatNumber(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

void Schema::readMapping(const YAML::Node& node, const std::string& path, const Fields& fields) {
  std::set<std::string> seen, present;
  if (node.IsDefined() && !node.IsNull()) {
    if (!node.IsMap()) {
      c_.add(path, "expected a mapping, got " + describeNode(node), node.Mark());
      return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node k = it->first;  // copies: the iterator hands out temporaries
      const YAML::Node v = it->second;
      if (!k.IsScalar()) {
        c_.add(path, "expected plain string keys, got " + describeNode(k), k.Mark());
        continue;
      }
      const std::string& key = k.Scalar();
      std::string keyPath = joinKey(path, key);
      if (!seen.insert(key).second) {
        c_.add(keyPath, "duplicate key; each key may appear once", k.Mark());
        continue;
      }
      auto f =
          std::find_if(fields.begin(), fields.end(), [&](const Field& x) { return x.key == key; });
      if (f == fields.end()) {
        c_.add(keyPath, unknownKeyMessage(key, fields), k.Mark());
        continue;
      }
      c_.remember(keyPath, v.IsNull() ? k.Mark() : v.Mark());
      if (v.IsNull()) continue;  // "key:" with no value keeps the default
      present.insert(key);
      dispatch(*f, v, keyPath);
    }
  }
  for (const Field& f : fields) {
    std::string keyPath = joinKey(path, f.key);
    if (f.section && !present.count(f.key)) readMapping(YAML::Node(), keyPath, f.section());
    if (f.required && !present.count(f.key) && !c_.reportedAt(keyPath))
      c_.add(keyPath, "missing; expected " + f.expected,
             node.IsDefined() ? node.Mark() : YAML::Mark::null_mark());
    if (f.size && f.size() < f.minItems && !c_.reportedAt(keyPath))
      c_.addAtKey(keyPath, "expected at least " + std::to_string(f.minItems) + " " + f.expected +
                               ", got none");
  }
}

void Schema::collectPaths(const Fields& fields, const std::string& prefix, bool withSections,
                          std::vector<std::string>& out) {
  for (const Field& f : fields) {
    std::string p = joinKey(prefix, f.key);
    if (f.section) {
      if (withSections) out.push_back(p);
      collectPaths(f.section(), p, withSections, out);
    } else if (f.item) {
      if (withSections) out.push_back(p);
      f.resize(1);
      collectPaths(f.item(0), p + "[]", withSections, out);
    } else {
      out.push_back(p);
    }
  }
}

void Schema::dispatch(const Field& f, const YAML::Node& v, const std::string& path) {
  if (f.leaf) {
    f.leaf(v, path);
  } else if (f.section) {
    readMapping(v, path, f.section());
  } else if (f.item) {
    if (!v.IsSequence()) {
      c_.add(path, "expected a list of " + f.expected + ", got " + describeNode(v), v.Mark());
      return;
    }
    f.resize(v.size());
    for (std::size_t i = 0; i < v.size(); ++i)
      readMapping(v[i], path + "[" + std::to_string(i) + "]", f.item(i));
  }
}

std::string Schema::unknownKeyMessage(const std::string& key, const Fields& fields) const {
  // A secret written inline: point at the file-reference key instead (never echo the value).
  for (const Field& f : fields)
    if (f.key == key + "_file")
      return "unknown key; secrets are never written in this file: put the value in a file "
             "and set `" +
             f.key + "`";
  std::string best;
  std::size_t bestDistance = std::numeric_limits<std::size_t>::max();
  for (const Field& f : fields) {
    std::size_t d = rules::editDistance(key, f.key);
    if (d < bestDistance) {
      bestDistance = d;
      best = f.key;
    }
  }
  std::size_t close = std::max<std::size_t>(2, std::min<std::size_t>(3, key.size() / 3));
  if (!best.empty() && bestDistance <= close) return "unknown key; did you mean `" + best + "`?";
  // Right (or nearly right) name, wrong place: "cron" under replication, "paralelism" at
  // the top level.
  std::string elsewhere;
  std::size_t elsewhereDistance = close + 1;
  for (const std::string& p : allKeyPaths()) {
    std::string_view last = p;
    if (auto dot = last.rfind('.'); dot != std::string_view::npos) last.remove_prefix(dot + 1);
    std::size_t d = rules::editDistance(key, last);
    if (d < elsewhereDistance) {
      elsewhereDistance = d;
      elsewhere = p;
    }
  }
  if (!elsewhere.empty()) return "unknown key here; did you mean `" + elsewhere + "`?";
  std::string known;
  for (const Field& f : fields) known += (known.empty() ? "" : ", ") + f.key;
  return "unknown key; expected one of: " + known;
}

const std::vector<std::string>& Schema::allKeyPaths() {
  static const std::vector<std::string> paths = [] {
    Collector c;
    Config cfg;
    Schema s(c);
    std::vector<std::string> out;
    collectPaths(s.root(cfg), "", true, out);
    return out;
  }();
  return paths;
}

Field Schema::required(Field f) {
  f.required = true;
  return f;
}

Field Schema::section(std::string key, std::function<Fields()> fields) {
  Field f;
  f.key = std::move(key);
  f.section = std::move(fields);
  return f;
}

Field Schema::text(std::string key, std::string& out, Rule rule) {
  Field f;
  f.key = std::move(key);
  f.expected = rule.expected;
  f.leaf = [this, &out, rule](const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) {
      c_.add(path, "expected " + rule.expected + ", got " + describeNode(n), n.Mark());
      return;
    }
    std::string v = n.Scalar();
    if (auto problem = rule.check(v)) {
      c_.add(path, *problem, n.Mark());
      return;
    }
    out = std::move(v);
  };
  return f;
}

Field Schema::texts(std::string key, std::vector<std::string>& out, Rule rule,
                    std::size_t minItems) {
  Field f;
  f.key = std::move(key);
  f.expected = rule.expected.substr(rule.expected.find(' ') + 1);  // "a name" -> "name"
  f.minItems = minItems;
  f.size = [&out] { return out.size(); };
  f.leaf = [this, &out, rule](const YAML::Node& n, const std::string& path) {
    if (!n.IsSequence()) {
      c_.add(path, "expected a list (each " + rule.expected + "), got " + describeNode(n),
             n.Mark());
      return;
    }
    std::vector<std::string> values;
    bool ok = true;
    for (std::size_t i = 0; i < n.size(); ++i) {
      const YAML::Node& item = n[i];
      std::string itemPath = path + "[" + std::to_string(i) + "]";
      if (!item.IsScalar()) {
        c_.add(itemPath, "expected " + rule.expected + ", got " + describeNode(item), item.Mark());
        ok = false;
        continue;
      }
      std::string v = item.Scalar();
      if (auto problem = rule.check(v)) {
        c_.add(itemPath, *problem, item.Mark());
        ok = false;
        continue;
      }
      values.push_back(std::move(v));
    }
    if (ok) out = std::move(values);
  };
  return f;
}

Field Schema::flag(std::string key, bool& out) {
  Field f;
  f.key = std::move(key);
  f.expected = "true or false";
  f.leaf = [this, &out](const YAML::Node& n, const std::string& path) {
    if (n.IsScalar()) {
      const std::string& v = n.Scalar();
      if (v == "true" || v == "True" || v == "TRUE") {
        out = true;
        return;
      }
      if (v == "false" || v == "False" || v == "FALSE") {
        out = false;
        return;
      }
    }
    c_.add(path, "expected true or false, got " + describeNode(n), n.Mark());
  };
  return f;
}

Field Schema::number(std::string key, double& out, double min, double max, bool minExclusive) {
  Field f;
  f.key = std::move(key);
  f.expected = minExclusive ? "a number greater than " + formatNumber(min) + " and at most " +
                                  formatNumber(max)
                            : "a number " + formatNumber(min) + ".." + formatNumber(max);
  f.leaf = [this, &out, min, max, minExclusive, expected = f.expected](const YAML::Node& n,
                                                                       const std::string& path) {
    std::optional<double> v;
    if (n.IsScalar()) v = parseNumber(n.Scalar());
    if (!v || *v > max || *v < min || (minExclusive && *v == min)) {
      c_.add(path, "expected " + expected + ", got " + describeNode(n), n.Mark());
      return;
    }
    out = *v;
  };
  return f;
}

std::optional<Millis> Schema::durationValue(const YAML::Node& n, const std::string& path,
                                            bool wholeSeconds, bool positive) {
  const std::string forms = wholeSeconds
                                ? "a duration such as \"90s\", \"15m\", \"2h\", \"7d\" or whole "
                                  "seconds"
                                : "a duration such as \"500ms\", \"90s\", \"15m\", \"2h\" or "
                                  "whole seconds";
  if (!n.IsScalar()) {
    c_.add(path, "expected " + forms + ", got " + describeNode(n), n.Mark());
    return std::nullopt;
  }
  auto d = parseDuration(n.Scalar());
  if (!d.ok()) {
    c_.add(path, "expected " + forms + ", got " + describeNode(n), n.Mark());
    return std::nullopt;
  }
  if (wholeSeconds && d->count() % 1000 != 0) {
    c_.add(path, "expected whole seconds, got " + describeNode(n), n.Mark());
    return std::nullopt;
  }
  if (positive && d->count() == 0) {
    c_.add(path, "expected a duration greater than 0, got " + describeNode(n), n.Mark());
    return std::nullopt;
  }
  return *d;
}

Field Schema::seconds(std::string key, Seconds& out, bool positive) {
  Field f;
  f.key = std::move(key);
  f.expected = "a duration";
  f.leaf = [this, &out, positive](const YAML::Node& n, const std::string& path) {
    if (auto d = durationValue(n, path, true, positive))
      out = std::chrono::duration_cast<Seconds>(*d);
  };
  return f;
}

Field Schema::millis(std::string key, Millis& out) {
  Field f;
  f.key = std::move(key);
  f.expected = "a duration";
  f.leaf = [this, &out](const YAML::Node& n, const std::string& path) {
    if (auto d = durationValue(n, path, false, false)) out = *d;
  };
  return f;
}

}  // namespace ocpvdr::config::detail
