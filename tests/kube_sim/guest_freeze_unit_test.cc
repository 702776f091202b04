// Go duration parsing as virt-handler decodes unfreezeTimeout (metav1.Duration →
// time.ParseDuration).
#include <gtest/gtest.h>

#include "guest_freeze.h"

namespace kubesim {
namespace {

using namespace std::chrono_literals;

TEST(GoDuration, AcceptsWhatGoAccepts) {
  EXPECT_EQ(parseGoDuration("30s"), std::chrono::nanoseconds(30s));
  EXPECT_EQ(parseGoDuration("5m"), std::chrono::nanoseconds(5min));
  EXPECT_EQ(parseGoDuration("1h2m3s"), std::chrono::nanoseconds(1h + 2min + 3s));
  EXPECT_EQ(parseGoDuration("500ms"), std::chrono::nanoseconds(500ms));
  EXPECT_EQ(parseGoDuration("1.5s"), std::chrono::nanoseconds(1500ms));
  EXPECT_EQ(parseGoDuration("-2s"), std::chrono::nanoseconds(-2s));
  EXPECT_EQ(parseGoDuration("0"), std::chrono::nanoseconds(0));
  EXPECT_EQ(parseGoDuration("10us"), std::chrono::nanoseconds(10us));
}

TEST(GoDuration, RejectsWhatGoRejects) {
  for (const char* bad : {"", "30", "5 minutes", "s", "1x", "1.s.", ".s", "-", "1e3s"})
    EXPECT_FALSE(parseGoDuration(bad).has_value()) << bad;
}

}  // namespace
}  // namespace kubesim
