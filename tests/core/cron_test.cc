// The cron grammar (core/cron.h): the one parser config validation and the scheduler share. The
// next-fire-time search and its DST rules are tested with the scheduler
// (tests/engine/cron_test.cc).
#include "core/cron.h"

#include <gtest/gtest.h>

namespace ocpvdr {
namespace {

TEST(CronGrammarTest, NamesAndRangesAndSevenIsSunday) {
  auto e = CronExpression::parse("*/20 9-17 * jan-MAR Mon-fri,7");
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_TRUE(e->minute(0) && e->minute(20) && e->minute(40));
  EXPECT_FALSE(e->minute(10));
  EXPECT_TRUE(e->hour(9) && e->hour(17));
  EXPECT_FALSE(e->hour(18));
  EXPECT_TRUE(e->month(3));
  EXPECT_FALSE(e->month(4));
  EXPECT_TRUE(e->matchesDay(1, 5, 0));   // Sunday, from 7
  EXPECT_TRUE(e->matchesDay(1, 6, 1));   // Monday
  EXPECT_FALSE(e->matchesDay(1, 4, 6));  // Saturday
  EXPECT_EQ(e->text(), "*/20 9-17 * jan-MAR Mon-fri,7");
}

TEST(CronGrammarTest, FieldsMaySitBehindAnyWhitespace) {
  EXPECT_TRUE(CronExpression::parse(" 0\t0  * * *\n").ok());
}

TEST(CronGrammarTest, ASingleValueWithAStepRunsToTheEnd) {
  auto e = CronExpression::parse("50/5 * * * *");  // cronie: 50-59/5
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->minute(50) && e->minute(55));
  EXPECT_FALSE(e->minute(45) || e->minute(0));
}

TEST(CronGrammarTest, VixieDayRule) {
  auto either = CronExpression::parse("0 0 1 * MON");
  ASSERT_TRUE(either.ok());
  EXPECT_TRUE(either->matchesDay(6, 1, 3));            // the 1st, a Wednesday
  EXPECT_TRUE(either->matchesDay(6, 8, 1));            // a Monday, not the 1st
  EXPECT_FALSE(either->matchesDay(6, 9, 2));           // neither
  auto both = CronExpression::parse("0 0 */2 * MON");  // day-of-month starts with '*'
  ASSERT_TRUE(both.ok());
  EXPECT_FALSE(both->matchesDay(6, 8, 1));  // Monday but an even day
  EXPECT_TRUE(both->matchesDay(6, 15, 1));
}

TEST(CronGrammarTest, MessagesNameTheFieldNotTheCaller) {
  auto r = CronExpression::parse("0 0 * foo *");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
  EXPECT_EQ(r.error().message, "month field \"foo\": \"foo\" is not a number or a month name");
  auto n = CronExpression::parse("* * * *");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().message,
            "expected 5 fields (minute hour day-of-month month day-of-week), got 4");
  auto never = CronExpression::parse("0 0 31 feb,apr *");
  ASSERT_FALSE(never.ok());
  EXPECT_EQ(never.error().message,
            "never runs (day-of-month \"31\" does not occur in month \"feb,apr\")");
  EXPECT_TRUE(CronExpression::parse("0 0 29 feb *").ok());    // a leap day occurs
  EXPECT_FALSE(CronExpression::parse("99999 * * * *").ok());  // too long a number
  EXPECT_FALSE(CronExpression::parse("1-2-3 * * * *").ok());
}

}  // namespace
}  // namespace ocpvdr
