// Cron schedules: next-fire-time search in an IANA time zone (see cron.h for the DST rules).
#include "engine/cron.h"

#include <date/tz.h>

namespace ocpvdr::engine {

Result<CronSchedule> CronSchedule::create(std::string_view expression, std::string_view timeZone) {
  auto parsed = CronExpression::parse(expression);
  if (!parsed.ok())
    return invalidError("cron expression \"" + std::string(expression) +
                        "\": " + parsed.error().message);
  CronExpression expr = std::move(*parsed);
  const date::time_zone* zone = nullptr;
  try {
    zone = date::locate_zone(std::string(timeZone));
  } catch (const std::exception& e) {
    return invalidError("time zone \"" + std::string(timeZone) +
                        "\": not in the time zone database (" + e.what() + ")");
  }
  return CronSchedule(std::move(expr), zone, std::string(timeZone));
}

Result<SystemTime> CronSchedule::next(SystemTime after) const {
  using namespace std::chrono;
  const auto afterSec = date::floor<seconds>(after);
  const date::local_seconds afterLocal = zone_->to_local(afterSec);
  // Candidates are local wall-clock minutes strictly after the local minute of `after`.
  const date::local_seconds first = date::floor<minutes>(afterLocal) + minutes(1);
  const date::local_days firstDay = date::floor<date::days>(first);
  constexpr int kSearchDays = 366 * 8;  // leap days on a given weekday recur within 28 years,
                                        // but parse() only lets through days that exist
  for (int i = 0; i < kSearchDays; ++i) {
    const date::local_days day = firstDay + date::days(i);
    const date::year_month_day ymd{day};
    const int weekday = static_cast<int>(date::weekday{day}.c_encoding());
    if (!expr_.matchesDay(static_cast<int>(static_cast<unsigned>(ymd.month())),
                          static_cast<int>(static_cast<unsigned>(ymd.day())), weekday))
      continue;
    for (int h = 0; h < 24; ++h) {
      if (!expr_.hour(h)) continue;
      for (int m = 0; m < 60; ++m) {
        if (!expr_.minute(m)) continue;
        const date::local_seconds local = day + hours(h) + minutes(m);
        if (local < first) continue;
        const date::local_info info = zone_->get_info(local);
        date::sys_seconds at;
        switch (info.result) {
          case date::local_info::unique:
          case date::local_info::ambiguous:  // the first occurrence only
            at = date::sys_seconds{local.time_since_epoch()} - info.first.offset;
            break;
          case date::local_info::nonexistent:  // moved to the end of the gap
            at = info.second.begin;
            break;
        }
        if (at > afterSec) return SystemTime(at);
      }
    }
  }
  return notFoundError("cron expression \"" + expr_.text() + "\" does not fire within " +
                       std::to_string(kSearchDays / 366) + " years");
}

}  // namespace ocpvdr::engine
