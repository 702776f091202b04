// Metrics registry rendered in the Prometheus text exposition format, version 0.0.4
// (`# HELP` / `# TYPE` lines, then one `name{label="value"} value` line per series).
#include "core/metrics.h"

#include <fmt/format.h>
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace ocpvdr {
namespace {

// Label values escape backslash, double quote and newline; HELP text escapes only backslash
// and newline (the format's two different escaping rules).
std::string escapeLabelValue(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string escapeHelp(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// The series key is the rendered label set, sorted by label name, so the same labels given in
// a different order address the same series and rendering order is stable.
std::string seriesKey(const Labels& labels) {
  if (labels.empty()) return {};
  Labels sorted = labels;
  std::sort(sorted.begin(), sorted.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : sorted) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escapeLabelValue(v);
    out += '"';
  }
  out += '}';
  return out;
}

// Integral values print as integers (counters of bytes would otherwise come out as 1.2e+10).
std::string formatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::trunc(v) && std::fabs(v) < 9.0e18) {
    return std::to_string(static_cast<std::int64_t>(v));
  }
  return fmt::format("{}", v);
}

}  // namespace

void MetricsRegistry::describe(const std::string& name, const std::string& type,
                               const std::string& help) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.type = type;
  f.help = help;
}

void MetricsRegistry::remove(const std::string& name, const Labels& labels) {
  std::lock_guard lock(mu_);
  if (auto it = families_.find(name); it != families_.end())
    it->second.series.erase(seriesKey(labels));
}

void MetricsRegistry::inc(const std::string& name, const Labels& labels, double by) {
  std::lock_guard lock(mu_);
  auto [it, created] = families_.try_emplace(name);
  if (created) it->second.type = "counter";
  it->second.series[seriesKey(labels)] += by;
}

void MetricsRegistry::set(const std::string& name, double value, const Labels& labels) {
  std::lock_guard lock(mu_);
  families_[name].series[seriesKey(labels)] = value;
}

double MetricsRegistry::get(const std::string& name, const Labels& labels) const {
  std::lock_guard lock(mu_);
  auto f = families_.find(name);
  if (f == families_.end()) return 0;
  auto s = f->second.series.find(seriesKey(labels));
  return s == f->second.series.end() ? 0 : s->second;
}

std::string MetricsRegistry::renderPrometheus() const {
  return renderPrometheus({});
}

std::string MetricsRegistry::renderPrometheus(const std::vector<std::string>& hiddenLabels) const {
  // A rendered label set is {a="x",b="y"} with quotes in values escaped, so `{name="` or
  // `,name="` only ever starts a label.
  auto hidden = [&](const std::string& key) {
    for (const auto& l : hiddenLabels)
      if (key.find("{" + l + "=\"") != std::string::npos ||
          key.find("," + l + "=\"") != std::string::npos)
        return true;
    return false;
  };
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    if (!f.help.empty()) out += "# HELP " + name + " " + escapeHelp(f.help) + "\n";
    out += "# TYPE " + name + " " + f.type + "\n";
    for (const auto& [key, value] : f.series) {
      if (!hiddenLabels.empty() && hidden(key)) continue;
      out += name;
      out += key;
      out += ' ';
      out += formatValue(value);
      out += '\n';
    }
  }
  return out;
}

}  // namespace ocpvdr
