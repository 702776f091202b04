// Cron expressions: next fire times (table-driven: ranges, steps, lists, names, 7 = Sunday, the
// Vixie day-of-month/day-of-week rule, time zones and DST in America/New_York and Europe/Berlin)
// and invalid expressions with their messages.
#include "engine/cron.h"

#include <gtest/gtest.h>

#include "core/json_util.h"
#include "core/time.h"

namespace ocpvdr::engine {
namespace {

SystemTime at(const std::string& rfc3339) {
  auto t = parseTime(rfc3339);
  EXPECT_TRUE(t.ok()) << rfc3339;
  return t.ok() ? *t : SystemTime{};
}

struct NextCase {
  const char* expr;
  const char* zone;
  const char* after;
  std::vector<const char*> expected;  // successive fire times (each searched from the previous)
  const char* why;
};

class CronNextTest : public ::testing::TestWithParam<NextCase> {};

TEST_P(CronNextTest, FiresAtTheExpectedInstants) {
  const NextCase& c = GetParam();
  auto s = CronSchedule::create(c.expr, c.zone);
  ASSERT_TRUE(s.ok()) << s.error().message;
  SystemTime t = at(c.after);
  for (const char* want : c.expected) {
    auto n = s->next(t);
    ASSERT_TRUE(n.ok()) << n.error().message;
    EXPECT_EQ(formatTime(*n), want)
        << c.expr << " in " << c.zone << " after " << formatTime(t) << " (" << c.why << ")";
    t = *n;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, CronNextTest,
    ::testing::Values(
        NextCase{"0 * * * *",
                 "UTC",
                 "2026-03-01T10:15:00Z",
                 {"2026-03-01T11:00:00Z", "2026-03-01T12:00:00Z"},
                 "hourly"},
        NextCase{"*/15 * * * *",
                 "UTC",
                 "2026-03-01T10:15:00Z",
                 {"2026-03-01T10:30:00Z", "2026-03-01T10:45:00Z", "2026-03-01T11:00:00Z"},
                 "strictly after, step from 0"},
        NextCase{"*/15 * * * *",
                 "UTC",
                 "2026-03-01T10:14:59.900Z",
                 {"2026-03-01T10:15:00Z"},
                 "sub-second before a fire time"},
        NextCase{"0 9-17/4 * * *",
                 "UTC",
                 "2026-03-01T10:00:00Z",
                 {"2026-03-01T13:00:00Z", "2026-03-01T17:00:00Z", "2026-03-02T09:00:00Z"},
                 "stepped range 9,13,17"},
        NextCase{"5/20 * * * *",
                 "UTC",
                 "2026-03-01T10:00:00Z",
                 {"2026-03-01T10:05:00Z", "2026-03-01T10:25:00Z", "2026-03-01T10:45:00Z",
                  "2026-03-01T11:05:00Z"},
                 "N/S means N-max/S"},
        NextCase{"0,30 8,20 * * *",
                 "UTC",
                 "2026-03-01T08:10:00Z",
                 {"2026-03-01T08:30:00Z", "2026-03-01T20:00:00Z", "2026-03-01T20:30:00Z",
                  "2026-03-02T08:00:00Z"},
                 "lists"},
        NextCase{"0 0 1,15 * *",
                 "UTC",
                 "2026-03-02T00:00:00Z",
                 {"2026-03-15T00:00:00Z", "2026-04-01T00:00:00Z"},
                 "day-of-month list"},
        NextCase{"0 12 * * MON-FRI",
                 "UTC",
                 "2026-03-07T00:00:00Z",
                 {"2026-03-09T12:00:00Z", "2026-03-10T12:00:00Z"},
                 "weekday names, Saturday"},
        NextCase{
            "0 0 * * 7", "UTC", "2026-03-02T00:00:00Z", {"2026-03-08T00:00:00Z"}, "7 is Sunday"},
        NextCase{
            "0 0 * * 0", "UTC", "2026-03-02T00:00:00Z", {"2026-03-08T00:00:00Z"}, "0 is Sunday"},
        NextCase{"0 0 * * sun",
                 "UTC",
                 "2026-03-02T00:00:00Z",
                 {"2026-03-08T00:00:00Z"},
                 "names are case-insensitive"},
        NextCase{"0 0 * * 5-7",
                 "UTC",
                 "2026-03-02T00:00:00Z",
                 {"2026-03-06T00:00:00Z", "2026-03-07T00:00:00Z", "2026-03-08T00:00:00Z",
                  "2026-03-13T00:00:00Z"},
                 "range ending in 7"},
        NextCase{"0 0 13 * FRI",
                 "UTC",
                 "2026-02-01T00:00:00Z",
                 {"2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z"},
                 "both day fields restricted: EITHER matches (Vixie)"},
        NextCase{"0 0 13 * *",
                 "UTC",
                 "2026-02-01T00:00:00Z",
                 {"2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z"},
                 "day-of-month alone"},
        NextCase{"0 0 */2 * FRI",
                 "UTC",
                 "2026-02-01T00:00:00Z",
                 {"2026-02-13T00:00:00Z"},
                 "day-of-month starts with *: BOTH must match (odd Fridays)"},
        NextCase{"0 0 * * FRI",
                 "UTC",
                 "2026-02-01T00:00:00Z",
                 {"2026-02-06T00:00:00Z"},
                 "day-of-week alone"},
        NextCase{
            "0 0 1 JUL *", "UTC", "2026-03-01T00:00:00Z", {"2026-07-01T00:00:00Z"}, "month name"},
        NextCase{"0 0 1 jan-mar/2 *",
                 "UTC",
                 "2026-01-01T00:00:00Z",
                 {"2026-03-01T00:00:00Z", "2027-01-01T00:00:00Z"},
                 "named range with step"},
        NextCase{
            "0 0 29 FEB *", "UTC", "2026-03-01T00:00:00Z", {"2028-02-29T00:00:00Z"}, "leap day"},
        NextCase{"0 0 * * *",
                 "Asia/Kolkata",
                 "2026-03-01T00:00:00Z",
                 {"2026-03-01T18:30:00Z"},
                 "midnight in a +05:30 zone"},
        // America/New_York, spring forward 2026-03-08 02:00 EST -> 03:00 EDT.
        NextCase{"30 2 * * *",
                 "America/New_York",
                 "2026-03-08T06:00:00Z",
                 {"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"},
                 "02:30 does not exist: fires at 03:00 EDT, next day 02:30 EDT"},
        NextCase{"*/15 * * * *",
                 "America/New_York",
                 "2026-03-08T06:50:00Z",
                 {"2026-03-08T07:00:00Z", "2026-03-08T07:15:00Z"},
                 "the gap's 02:00..02:45 collapse into one run at 03:00"},
        NextCase{"0 3 * * *",
                 "America/New_York",
                 "2026-03-08T05:00:00Z",
                 {"2026-03-08T07:00:00Z", "2026-03-09T07:00:00Z"},
                 "03:00 EDT exists"},
        // America/New_York, fall back 2026-11-01 02:00 EDT -> 01:00 EST.
        NextCase{"30 1 * * *",
                 "America/New_York",
                 "2026-11-01T04:00:00Z",
                 {"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
                 "01:30 occurs twice: only the first (EDT) fires"},
        NextCase{"0 * * * *",
                 "America/New_York",
                 "2026-11-01T05:00:00Z",
                 {"2026-11-01T07:00:00Z"},
                 "the repeated 01:00 EST does not fire again"},
        NextCase{"*/30 * * * *",
                 "America/New_York",
                 "2026-11-01T06:10:00Z",
                 {"2026-11-01T07:00:00Z"},
                 "from inside the repeated hour: next is 02:00 EST"},
        // Europe/Berlin, spring forward 2026-03-29 02:00 CET -> 03:00 CEST; fall back
        // 2026-10-25 03:00 CEST -> 02:00 CET.
        NextCase{"30 2 * * *",
                 "Europe/Berlin",
                 "2026-03-29T00:00:00Z",
                 {"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"},
                 "02:30 does not exist: fires at 03:00 CEST"},
        NextCase{"30 2 * * *",
                 "Europe/Berlin",
                 "2026-10-24T23:00:00Z",
                 {"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"},
                 "02:30 twice: first (CEST) only, then 02:30 CET the next day"},
        NextCase{"0 12 * * *",
                 "Europe/Berlin",
                 "2026-03-28T12:00:00Z",
                 {"2026-03-29T10:00:00Z", "2026-03-30T10:00:00Z"},
                 "noon CET then CEST"}));

TEST(CronExpressionTest, VixieDayRule) {
  auto either = CronExpression::parse("0 0 1 * MON");
  ASSERT_TRUE(either.ok());
  EXPECT_TRUE(either->matchesDay(3, 1, 0));    // the 1st, a Sunday
  EXPECT_TRUE(either->matchesDay(3, 9, 1));    // a Monday, the 9th
  EXPECT_FALSE(either->matchesDay(3, 10, 2));  // neither
  auto both = CronExpression::parse("0 0 */7 * MON");
  ASSERT_TRUE(both.ok());
  EXPECT_TRUE(both->matchesDay(3, 8, 1));    // day 8 (= 1 + 7) and a Monday
  EXPECT_FALSE(both->matchesDay(3, 9, 1));   // a Monday, but not a */7 day
  EXPECT_FALSE(both->matchesDay(3, 15, 0));  // a */7 day, but a Sunday
  auto month = CronExpression::parse("0 0 * feb,Apr *");
  ASSERT_TRUE(month.ok());
  EXPECT_TRUE(month->matchesDay(2, 3, 2));
  EXPECT_FALSE(month->matchesDay(3, 3, 2));
  EXPECT_TRUE(month->month(4));
}

struct BadCase {
  const char* expr;
  const char* message;  // must appear in the error
};

class CronInvalidTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(CronInvalidTest, IsRejectedWithAClearMessage) {
  auto r = CronExpression::parse(GetParam().expr);
  ASSERT_FALSE(r.ok()) << GetParam().expr;
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
  EXPECT_NE(r.error().message.find(GetParam().message), std::string::npos)
      << "got: " << r.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Table, CronInvalidTest,
    ::testing::Values(
        BadCase{"", "expected 5 fields (minute hour day-of-month month day-of-week), got 0"},
        BadCase{"* * * *", "got 4"}, BadCase{"@hourly", "got 1"}, BadCase{"0 0 * * * *", "got 6"},
        BadCase{"60 * * * *", "minute field \"60\": 60 is outside 0..59"},
        BadCase{"* 24 * * *", "hour field \"24\": 24 is outside 0..23"},
        BadCase{"* * 0 * *", "day-of-month field \"0\": 0 is outside 1..31"},
        BadCase{"* * * 13 *", "month field \"13\": 13 is outside 1..12"},
        BadCase{"* * * * 8", "day-of-week field \"8\": 8 is outside 0..7"},
        BadCase{"5-1 * * * *", "range \"5-1\" runs backwards"},
        BadCase{"*/0 * * * *", "step \"0\" is not a positive number"},
        BadCase{"*/x * * * *", "step \"x\" is not a positive number"},
        BadCase{"1,,2 * * * *", "an empty list item"},
        BadCase{"* * * FOO *", "\"FOO\" is not a number or a month name"},
        BadCase{"* * * * MONDAY", "\"MONDAY\" is not a number or a day-of-week name"},
        BadCase{"a * * * *", "\"a\" is not a number"},
        BadCase{"-5 * * * *", "\"\" is not a number"},
        BadCase{"0 0 30 FEB *", "never runs (day-of-month \"30\" does not occur in month \"FEB\")"},
        BadCase{"0 0 31 apr,jun,sep,nov *", "never runs"}));

TEST(CronScheduleTest, UnknownTimeZoneIsInvalidAndNamed) {
  auto s = CronSchedule::create("0 * * * *", "Mars/Olympus_Mons");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::Invalid);
  EXPECT_NE(s.error().message.find("time zone \"Mars/Olympus_Mons\""), std::string::npos)
      << s.error().message;
  auto bad = CronSchedule::create("0 0 31 2 *", "UTC");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("never runs"), std::string::npos);
}

TEST(CronScheduleTest, BothDaysRestrictedNeverRunsCheckDoesNotApply) {
  // Feb 30 never exists, but every Monday in February does: valid under the Vixie OR rule.
  auto s = CronSchedule::create("0 0 30 FEB MON", "UTC");
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto n = s->next(at("2026-03-01T00:00:00Z"));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(formatTime(*n), "2027-02-01T00:00:00Z");  // the first Monday of February 2027
}

}  // namespace
}  // namespace ocpvdr::engine
