// compactUtc (core/time.h): the one formatter behind SigV4's X-Amz-Date and the names of catalog
// files moved aside. RFC 3339 formatting and parsing are covered in json_util_test.cc.
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

}  // namespace
}  // namespace ocpvdr
