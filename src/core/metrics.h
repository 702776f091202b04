// Metrics: counters and gauges with labels, rendered in the Prometheus text exposition format.
// Thread-safe; one registry per process, created in main() and passed to whoever records.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace ocpvdr {

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricsRegistry {
 public:
  // Declares a metric once (type "counter" or "gauge") with its help text.
  void describe(const std::string& name, const std::string& type, const std::string& help);
  void inc(const std::string& name, const Labels& labels = {}, double by = 1);
  void set(const std::string& name, double value, const Labels& labels = {});
  double get(const std::string& name, const Labels& labels = {}) const;
  // Drops one series (a PV that no longer exists: per-object series stay bounded).
  void remove(const std::string& name, const Labels& labels);
  std::string renderPrometheus() const;
  // The same without the series that carry any of `hiddenLabels` (e.g. "pv": object names are
  // not for anonymous readers); their HELP/TYPE lines stay.
  std::string renderPrometheus(const std::vector<std::string>& hiddenLabels) const;

 private:
  struct Family {
    std::string type = "gauge", help;
    std::map<std::string, double> series;  // rendered label set -> value
  };
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

}  // namespace ocpvdr
