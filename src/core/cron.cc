// The cron grammar: one parser for the five-field expression, used by config validation and by
// the engine's scheduler (see cron.h for the format).
#include "core/cron.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <optional>
#include <vector>

#include "core/text.h"

namespace ocpvdr {
namespace {

struct FieldSpec {
  const char* name;
  int min, max;
  std::vector<std::string_view> names;  // names[i] stands for min + i
};

const std::array<FieldSpec, 5>& fieldSpecs() {
  static const std::array<FieldSpec, 5> specs{{
      {"minute", 0, 59, {}},
      {"hour", 0, 23, {}},
      {"day-of-month", 1, 31, {}},
      {"month",
       1,
       12,
       {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
      {"day-of-week", 0, 7, {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
  }};
  return specs;
}

std::optional<int> number(std::string_view s) {
  if (s.empty() || s.size() > 4) return std::nullopt;
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// A value of the field (number or name), or the reason it is not one.
Result<int> fieldValue(std::string_view text, const FieldSpec& f) {
  if (auto n = number(text)) {
    if (*n < f.min || *n > f.max)
      return invalidError(std::string(text) + " is outside " + std::to_string(f.min) + ".." +
                          std::to_string(f.max));
    return *n;
  }
  const std::string lower = lowerAscii(text);
  for (std::size_t i = 0; i < f.names.size(); ++i)
    if (f.names[i] == lower) return f.min + static_cast<int>(i);
  if (f.names.empty()) return invalidError("\"" + std::string(text) + "\" is not a number");
  return invalidError("\"" + std::string(text) + "\" is not a number or a " + f.name + " name");
}

// Parses one field into the set of values it allows (indices min..max).
Result<std::vector<bool>> parseField(std::string_view text, const FieldSpec& f) {
  std::vector<bool> bits(static_cast<std::size_t>(f.max) + 1, false);
  for (std::string_view item : split(text, ',')) {
    if (item.empty()) return invalidError("an empty list item");
    std::string_view range = item;
    int step = 1;
    bool stepped = false;
    if (auto slash = item.find('/'); slash != std::string_view::npos) {
      range = item.substr(0, slash);
      auto s = number(item.substr(slash + 1));
      if (!s || *s < 1)
        return invalidError("step \"" + std::string(item.substr(slash + 1)) +
                            "\" is not a positive number");
      step = *s;
      stepped = true;
    }
    int lo = f.min, hi = f.max;
    if (range.empty()) return invalidError("\"" + std::string(item) + "\" has no range before /");
    if (range != "*") {
      auto dash = range.find('-');
      if (dash == std::string_view::npos) {
        OCPVDR_ASSIGN_OR_RETURN(lo, fieldValue(range, f));
        hi = stepped ? f.max : lo;  // "5/10" = "5-max/10"
      } else {
        OCPVDR_ASSIGN_OR_RETURN(lo, fieldValue(range.substr(0, dash), f));
        OCPVDR_ASSIGN_OR_RETURN(hi, fieldValue(range.substr(dash + 1), f));
        if (lo > hi) return invalidError("range \"" + std::string(range) + "\" runs backwards");
      }
    }
    for (int v = lo; v <= hi; v += step) bits[static_cast<std::size_t>(v)] = true;
  }
  return bits;
}

int daysIn(int month) {
  static constexpr int kDays[] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return kDays[month];  // February with its leap day: a day that ever occurs
}

}  // namespace

Result<CronExpression> CronExpression::parse(std::string_view text) {
  const auto& specs = fieldSpecs();
  auto fields = splitWhitespace(text);
  if (fields.size() != 5)
    return invalidError("expected 5 fields (minute hour day-of-month month day-of-week), got " +
                        std::to_string(fields.size()));
  CronExpression e;
  e.text_ = std::string(text);
  std::array<std::vector<bool>, 5> bits;
  for (std::size_t i = 0; i < 5; ++i) {
    auto b = parseField(fields[i], specs[i]);
    if (!b.ok())
      return invalidError(std::string(specs[i].name) + " field \"" + std::string(fields[i]) +
                          "\": " + b.error().message);
    bits[i] = std::move(*b);
  }
  for (int m = 0; m < 60; ++m) e.minutes_[static_cast<std::size_t>(m)] = bits[0][m];
  for (int h = 0; h < 24; ++h) e.hours_[static_cast<std::size_t>(h)] = bits[1][h];
  for (int d = 1; d <= 31; ++d) e.daysOfMonth_[static_cast<std::size_t>(d)] = bits[2][d];
  for (int m = 1; m <= 12; ++m) e.months_[static_cast<std::size_t>(m)] = bits[3][m];
  for (int d = 0; d <= 7; ++d)
    if (bits[4][d]) e.daysOfWeek_[static_cast<std::size_t>(d % 7)] = true;
  e.domStar_ = fields[2].front() == '*';
  e.dowStar_ = fields[4].front() == '*';

  // Day-of-month alone decides when day-of-week starts with '*': it must name a day that
  // exists in one of the months ("0 0 30 FEB *" would never run).
  if (e.dowStar_) {
    bool any = false;
    for (int m = 1; m <= 12 && !any; ++m)
      for (int d = 1; d <= daysIn(m) && !any; ++d)
        any = e.months_.test(static_cast<std::size_t>(m)) &&
              e.daysOfMonth_.test(static_cast<std::size_t>(d));
    if (!any)
      return invalidError("never runs (day-of-month \"" + std::string(fields[2]) +
                          "\" does not occur in month \"" + std::string(fields[3]) + "\")");
  }
  return e;
}

bool CronExpression::matchesDay(int month, int dayOfMonth, int weekday) const {
  if (!months_.test(static_cast<std::size_t>(month))) return false;
  const bool dom = daysOfMonth_.test(static_cast<std::size_t>(dayOfMonth));
  const bool dow = daysOfWeek_.test(static_cast<std::size_t>(weekday));
  if (domStar_ || dowStar_) return dom && dow;
  return dom || dow;
}

}  // namespace ocpvdr
