// The cron grammar: the standard five-field expression (Vixie cron / crontab(5) syntax). The
// engine evaluates it in an IANA time zone (engine/cron.h); config validates with the same parser.
//
// Format: "minute hour day-of-month month day-of-week", fields separated by blanks.
//   minute 0-59, hour 0-23, day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 0-7 or
//   SUN-SAT (0 and 7 are both Sunday); names are case-insensitive and allowed in ranges.
//   Each field is a comma-separated list of items: `*`, `N`, `A-B`, each optionally `/S` (every
//   S-th value of the range; `*/15`); `N/S` means `N-<max>/S` (as cronie reads it).
//   Day rule (Vixie cron): when both day fields are restricted — neither starts with `*` — a day
//   matches if EITHER matches ("0 0 1,15 * MON" = the 1st, the 15th and every Monday); when one
//   of them starts with `*`, a day must match both.
#pragma once

#include <bitset>
#include <string>
#include <string_view>

#include "core/result.h"

namespace ocpvdr {

class CronExpression {
 public:
  // Invalid with a message naming the field and the problem:
  //   day-of-month field "32": 32 is outside 1..31
  // (without the expression: config and the scheduler each say where it came from).
  [[nodiscard]] static Result<CronExpression> parse(std::string_view text);

  const std::string& text() const { return text_; }
  bool minute(int m) const { return minutes_.test(static_cast<std::size_t>(m)); }
  bool hour(int h) const { return hours_.test(static_cast<std::size_t>(h)); }
  bool month(int m) const { return months_.test(static_cast<std::size_t>(m)); }
  // Whether a calendar day matches (day fields with the Vixie rule, and the month).
  // `weekday` 0 = Sunday .. 6 = Saturday.
  bool matchesDay(int month, int dayOfMonth, int weekday) const;

 private:
  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> daysOfMonth_;  // bits 1..31
  std::bitset<13> months_;       // bits 1..12
  std::bitset<7> daysOfWeek_;    // bits 0..6 (7 folded into 0)
  bool domStar_ = false, dowStar_ = false;
};

}  // namespace ocpvdr
