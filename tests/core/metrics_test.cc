// MetricsRegistry: exact Prometheus 0.0.4 text output, label handling and thread safety.
#include "core/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>

namespace ocpvdr {
namespace {

TEST(MetricsTest, RendersExactExpositionText) {
  MetricsRegistry m;
  m.describe("ocpvdr_syncs_total", "counter", "Completed syncs by result.");
  m.describe("ocpvdr_rpo_seconds", "gauge", "Age of the newest DR copy.");
  m.inc("ocpvdr_syncs_total", {{"result", "ok"}, {"pv", "pv-b"}});
  m.inc("ocpvdr_syncs_total", {{"pv", "pv-b"}, {"result", "ok"}}, 2);  // same series, other order
  m.inc("ocpvdr_syncs_total", {{"pv", "pv-a"}, {"result", "error"}});
  m.set("ocpvdr_rpo_seconds", 42.5, {{"pv", "pv-a"}});
  m.set("ocpvdr_rpo_seconds", 1e12, {{"pv", "pv-b"}});
  EXPECT_EQ(m.renderPrometheus(),
            "# HELP ocpvdr_rpo_seconds Age of the newest DR copy.\n"
            "# TYPE ocpvdr_rpo_seconds gauge\n"
            "ocpvdr_rpo_seconds{pv=\"pv-a\"} 42.5\n"
            "ocpvdr_rpo_seconds{pv=\"pv-b\"} 1000000000000\n"
            "# HELP ocpvdr_syncs_total Completed syncs by result.\n"
            "# TYPE ocpvdr_syncs_total counter\n"
            "ocpvdr_syncs_total{pv=\"pv-a\",result=\"error\"} 1\n"
            "ocpvdr_syncs_total{pv=\"pv-b\",result=\"ok\"} 3\n");
  EXPECT_EQ(m.get("ocpvdr_syncs_total", {{"result", "ok"}, {"pv", "pv-b"}}), 3);
  EXPECT_EQ(m.get("ocpvdr_syncs_total", {{"pv", "pv-c"}}), 0);
  EXPECT_EQ(m.get("unknown"), 0);
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry m;
  m.describe("x", "gauge", "line one\nback\\slash \"quoted\"");
  m.set("x", 1, {{"path", "C:\\dir \"a\"\nb"}});
  EXPECT_EQ(m.renderPrometheus(),
            "# HELP x line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE x gauge\n"
            "x{path=\"C:\\\\dir \\\"a\\\"\\nb\"} 1\n");
}

TEST(MetricsTest, ValuesWithoutExponentWhenIntegral) {
  MetricsRegistry m;
  m.set("bytes", 123456789012345.0);
  m.set("neg", -7);
  m.set("frac", 0.25);
  m.set("nan", std::numeric_limits<double>::quiet_NaN());
  m.set("pinf", std::numeric_limits<double>::infinity());
  m.set("ninf", -std::numeric_limits<double>::infinity());
  m.set("zero", -0.0);
  const std::string out = m.renderPrometheus();
  EXPECT_NE(out.find("\nbytes 123456789012345\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\nneg -7\n"), std::string::npos);
  EXPECT_NE(out.find("\nfrac 0.25\n"), std::string::npos);
  EXPECT_NE(out.find("\nnan NaN\n"), std::string::npos);
  EXPECT_NE(out.find("\npinf +Inf\n"), std::string::npos);
  EXPECT_NE(out.find("\nninf -Inf\n"), std::string::npos);
  EXPECT_NE(out.find("\nzero 0\n"), std::string::npos);
  EXPECT_EQ(out.find("e+"), std::string::npos);
}

TEST(MetricsTest, UndescribedIncIsCounterAndSetIsGauge) {
  MetricsRegistry m;
  m.inc("events_total");
  m.set("queue_depth", 3);
  EXPECT_EQ(m.renderPrometheus(),
            "# TYPE events_total counter\n"
            "events_total 1\n"
            "# TYPE queue_depth gauge\n"
            "queue_depth 3\n");
}

TEST(MetricsTest, ConcurrentIncrementsAreNotLost) {
  MetricsRegistry m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        m.inc("hits_total", {{"worker", std::to_string(t % 2)}});
        if (i % 100 == 0) (void)m.renderPrometheus();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(m.get("hits_total", {{"worker", "0"}}) + m.get("hits_total", {{"worker", "1"}}), 8000);
}

}  // namespace
}  // namespace ocpvdr
