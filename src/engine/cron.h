// Cron schedules: a five-field expression (core/cron.h) evaluated in an IANA time zone.
// Time zone and DST (local wall-clock minutes are what the fields match):
//   - a local time that does not exist (spring forward: 02:30 on a New York March day) fires at
//     the first instant after the gap (03:00 local), and all matches inside one gap fire once;
//   - a local time that occurs twice (fall back: 01:30 on a New York November day) fires once,
//     at its first occurrence; the repeated hour does not fire again.
// The zone database is the OS one (/usr/share/zoneinfo) through Howard Hinnant's date/tz
// (libhowardhinnant-date-dev): GCC 12's <chrono> has no time zones yet.
#pragma once

#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/cron.h"
#include "core/result.h"

namespace date {
class time_zone;
}

namespace ocpvdr::engine {

class CronSchedule {
 public:
  // Parses the expression and finds the zone; Invalid naming whichever is wrong.
  [[nodiscard]] static Result<CronSchedule> create(std::string_view expression,
                                                   std::string_view timeZone);

  // The first instant strictly after `after` at which the schedule fires (DST rules above).
  // NotFound only when nothing matches within the next eight years (cannot happen for an
  // expression parse() accepted, but callers should not spin on it).
  [[nodiscard]] Result<SystemTime> next(SystemTime after) const;

  const CronExpression& expression() const { return expr_; }
  const std::string& timeZone() const { return zoneName_; }

 private:
  CronSchedule(CronExpression e, const date::time_zone* z, std::string name)
      : expr_(std::move(e)), zone_(z), zoneName_(std::move(name)) {}
  CronExpression expr_;
  const date::time_zone* zone_;
  std::string zoneName_;
};

}  // namespace ocpvdr::engine
