// compactUtc (core/time.h): the one formatter behind SigV4's X-Amz-Date and the names of catalog
// files moved aside; the fraction digits of the RFC 3339 forms (MicroTime for Leases) and the
// mail Date header. RFC 3339 parsing is covered in json_util_test.cc.
#include "core/time.h"

#include <gtest/gtest.h>

namespace ocpvdr {
namespace {

using namespace std::chrono;

TEST(TimeTest, CompactUtcIsBasicIso8601InUtc) {
  EXPECT_EQ(compactUtc(system_clock::time_point{}), "19700101T000000Z");
  // The AWS SigV4 test suite's date.
  EXPECT_EQ(compactUtc(system_clock::time_point{seconds{1369353600}}), "20130524T000000Z");
  // 2024-02-29T23:59:59Z: a leap day, the last second of the day.
  EXPECT_EQ(compactUtc(system_clock::time_point{seconds{1709251199}}), "20240229T235959Z");
}

TEST(TimeTest, CompactUtcDropsSubSeconds) {
  const system_clock::time_point t{seconds{1369353600} + milliseconds{999}};
  EXPECT_EQ(compactUtc(t), "20130524T000000Z");
}

TEST(TimeTest, CompactUtcAgreesWithFormatTime) {
  const system_clock::time_point t{seconds{1795993941}};
  std::string rfc = formatTime(t);  // 2026-11-30T...Z
  std::string basic;
  for (char c : rfc)
    if (c != '-' && c != ':') basic += c;
  EXPECT_EQ(compactUtc(t), basic);
}

TEST(TimeTest, FractionDigitsAreFixedAndTruncated) {
  // 2024-02-29T23:59:59.999999Z: nothing rounds up into the next day.
  const system_clock::time_point t{seconds{1709251199} + microseconds{999999} + nanoseconds{900}};
  EXPECT_EQ(formatTime(t), "2024-02-29T23:59:59Z");
  EXPECT_EQ(formatTimeMillis(t), "2024-02-29T23:59:59.999Z");
  EXPECT_EQ(formatTimeMicros(t), "2024-02-29T23:59:59.999999Z");  // metav1.MicroTime
  EXPECT_EQ(formatTimeMicros(system_clock::time_point{seconds{1} + microseconds{5}}),
            "1970-01-01T00:00:01.000005Z");
  EXPECT_EQ(parseTime(formatTimeMicros(t)).value(), floor<microseconds>(t));
}

TEST(TimeTest, MailDateIsRfc5322InUtc) {
  EXPECT_EQ(formatMailDate(system_clock::time_point{}), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(formatMailDate(system_clock::time_point{seconds{1709251199}}),
            "Thu, 29 Feb 2024 23:59:59 +0000");
}

}  // namespace
}  // namespace ocpvdr
