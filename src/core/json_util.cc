// Non-throwing JSON accessors, whole-file reads, atomic writes and RFC 3339 timestamps
// (the Kubernetes forms: "Z" or "+hh:mm" offsets, optional fractional seconds).
#include "core/json_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <iterator>
#include <limits>

namespace ocpvdr {
namespace {

// Walks the dotted path; on failure says which prefix was missing or not an object.
struct Walk {
  const Json* node = nullptr;
  std::string error;  // set when node is null
};

Walk walk(const Json& root, std::string_view dottedPath) {
  const Json* cur = &root;
  std::size_t pos = 0;
  while (pos <= dottedPath.size()) {
    std::size_t dot = dottedPath.find('.', pos);
    if (dot == std::string_view::npos) dot = dottedPath.size();
    std::string_view key = dottedPath.substr(pos, dot - pos);
    if (!cur->is_object()) {
      std::string prefix(dottedPath.substr(0, pos == 0 ? 0 : pos - 1));
      return {nullptr, (prefix.empty() ? std::string("document") : prefix) +
                           ": expected an object, got " + cur->type_name()};
    }
    auto it = cur->find(key);
    if (it == cur->end()) return {nullptr, std::string(dottedPath) + ": missing"};
    cur = &*it;
    pos = dot + 1;
  }
  return {cur, {}};
}

Error typeError(std::string_view path, std::string_view expected, const Json& got) {
  return invalidError(std::string(path) + ": expected " + std::string(expected) + ", got " +
                      got.type_name());
}

std::string errnoText(int err) {
  return std::strerror(err);
}

Error fileError(const std::string& action, const std::string& path, int err) {
  std::string msg = action + " " + path + ": " + errnoText(err);
  if (err == ENOENT) return notFoundError(msg);
  if (err == EISDIR || err == ENOTDIR) return invalidError(msg);
  return terminalError(msg);
}

// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t daysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool isLeap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned daysInMonth(std::int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && isLeap(y) ? 29 : kDays[m - 1];
}

std::string formatTimeImpl(std::chrono::system_clock::time_point t, bool millis) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(t);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms - day};
  char buf[40];
  if (millis) {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", int(ymd.year()),
                  unsigned(ymd.month()), unsigned(ymd.day()), int(hms.hours().count()),
                  int(hms.minutes().count()), int(hms.seconds().count()),
                  int(hms.subseconds().count()));
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", int(ymd.year()),
                  unsigned(ymd.month()), unsigned(ymd.day()), int(hms.hours().count()),
                  int(hms.minutes().count()), int(hms.seconds().count()));
  }
  return buf;
}

}  // namespace

const Json* jsonAt(const Json& root, std::string_view dottedPath) {
  return walk(root, dottedPath).node;
}

Result<std::string> jsonString(const Json& root, std::string_view dottedPath) {
  Walk w = walk(root, dottedPath);
  if (!w.node) return invalidError(w.error);
  if (!w.node->is_string()) return typeError(dottedPath, "a string", *w.node);
  return w.node->get<std::string>();
}

Result<std::int64_t> jsonInt(const Json& root, std::string_view dottedPath) {
  Walk w = walk(root, dottedPath);
  if (!w.node) return invalidError(w.error);
  const Json& n = *w.node;
  if (n.is_number_integer() && !n.is_number_unsigned()) return n.get<std::int64_t>();
  if (n.is_number_unsigned()) {
    auto u = n.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return invalidError(std::string(dottedPath) + ": integer out of range");
    }
    return static_cast<std::int64_t>(u);
  }
  if (n.is_number_float()) {
    // 3.0 is an integer written as a float; 3.5 is not.
    double d = n.get<double>();
    if (d == static_cast<double>(static_cast<std::int64_t>(d)) && d > -9.2e18 && d < 9.2e18) {
      return static_cast<std::int64_t>(d);
    }
    return invalidError(std::string(dottedPath) + ": expected an integer, got fractional number");
  }
  return typeError(dottedPath, "an integer", n);
}

Result<bool> jsonBool(const Json& root, std::string_view dottedPath) {
  Walk w = walk(root, dottedPath);
  if (!w.node) return invalidError(w.error);
  if (!w.node->is_boolean()) return typeError(dottedPath, "a boolean", *w.node);
  return w.node->get<bool>();
}

Result<std::optional<std::string>> jsonOptString(const Json& root, std::string_view dottedPath) {
  Walk w = walk(root, dottedPath);
  // An intermediate that exists but is not an object is a shape error, not absence.
  if (!w.node) {
    if (w.error.ends_with(": missing")) return std::optional<std::string>{};
    return invalidError(w.error);
  }
  if (w.node->is_null()) return std::optional<std::string>{};
  if (!w.node->is_string()) return typeError(dottedPath, "a string", *w.node);
  return std::optional<std::string>{w.node->get<std::string>()};
}

Result<std::optional<bool>> jsonOptBool(const Json& root, std::string_view dottedPath) {
  Walk w = walk(root, dottedPath);
  if (!w.node) {
    if (w.error.ends_with(": missing")) return std::optional<bool>{};
    return invalidError(w.error);
  }
  if (w.node->is_null()) return std::optional<bool>{};
  if (!w.node->is_boolean()) return typeError(dottedPath, "a boolean", *w.node);
  return std::optional<bool>{w.node->get<bool>()};
}

Result<Json> parseJson(std::string_view text, std::string_view what) {
  // nlohmann reports positions only through its exception; it is caught here, at the library
  // boundary, and turned into a value.
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    std::string detail = e.what();
    // Drop the "[json.exception.parse_error.101] " tag; keep the parser's description.
    if (auto close = detail.find("] ");
        detail.starts_with("[json.exception") && close != std::string::npos) {
      detail = detail.substr(close + 2);
    }
    return invalidError(std::string(what) + ": invalid JSON at byte " + std::to_string(e.byte) +
                        ": " + detail);
  }
}

Result<std::string> readFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fileError("reading", path, errno);
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return invalidError("reading " + path + ": is a directory");
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return fileError("reading", path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<std::string> readFileOrStdin(const std::string& path) {
  if (path != "-") return readFile(path);
  std::string out{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  if (std::cin.bad()) return terminalError("reading standard input failed");
  return out;
}

Status writeFileAtomic(const std::string& path, std::string_view data, unsigned mode) {
  const auto slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty()) return invalidError("writing " + path + ": path names a directory");
  std::string tmp = (dir == "/" ? "" : dir) + "/." + base + ".tmp.XXXXXX";
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);
  if (fd < 0) return fileError("creating temporary file in", dir, errno);
  auto fail = [&](const std::string& action) -> Status {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return fileError(action, path, err);
  };
  if (::fchmod(fd, static_cast<mode_t>(mode)) != 0) return fail("setting mode of");
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("writing");
    }
    off += static_cast<std::size_t>(n);
  }
  // fsync before rename: otherwise a crash can leave the new name pointing at empty data.
  if (::fsync(fd) != 0) return fail("syncing");
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fileError("closing", path, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fileError("renaming into", path, err);
  }
  // The rename itself is durable only once the directory is synced.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return fileError("opening directory", dir, errno);
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0 && err != EINVAL) return fileError("syncing directory", dir, err);
  return Status::success();
}

Status writeFileAtomic(const std::string& path, std::string_view data) {
  return writeFileAtomic(path, data, 0644);
}

std::string formatTime(std::chrono::system_clock::time_point t) {
  return formatTimeImpl(t, false);
}

std::string formatTimeMillis(std::chrono::system_clock::time_point t) {
  return formatTimeImpl(t, true);
}

Result<std::chrono::system_clock::time_point> parseTime(std::string_view s) {
  auto bad = [&](std::string_view why) {
    return invalidError("invalid timestamp \"" + std::string(s) + "\": " + std::string(why) +
                        " (expected RFC 3339, e.g. 2026-11-24T00:12:21Z)");
  };
  std::size_t i = 0;
  auto digits = [&](std::size_t n, int& out) {
    if (i + n > s.size()) return false;
    int v = 0;
    for (std::size_t k = 0; k < n; ++k) {
      char c = s[i + k];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    out = v;
    i += n;
    return true;
  };
  auto expect = [&](char c) {
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(4, year) || !expect('-') || !digits(2, month) || !expect('-') || !digits(2, day)) {
    return bad("bad date");
  }
  if (i >= s.size() || (s[i] != 'T' && s[i] != 't' && s[i] != ' ')) return bad("missing 'T'");
  ++i;
  if (!digits(2, hour) || !expect(':') || !digits(2, minute) || !expect(':') ||
      !digits(2, second)) {
    return bad("bad time of day");
  }
  if (month < 1 || month > 12) return bad("month out of range");
  if (day < 1 || static_cast<unsigned>(day) > daysInMonth(year, static_cast<unsigned>(month))) {
    return bad("day out of range");
  }
  if (hour > 23 || minute > 59 || second > 59) return bad("time of day out of range");
  std::int64_t nanos = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    std::size_t start = i;
    std::int64_t scale = 100'000'000;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      nanos += (s[i] - '0') * scale;  // digits beyond nanoseconds contribute 0
      scale /= 10;
      ++i;
    }
    if (i == start) return bad("empty fraction");
  }
  std::int64_t offsetSeconds = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int sign = s[i] == '-' ? -1 : 1;
    ++i;
    int oh = 0, om = 0;
    if (!digits(2, oh) || !expect(':') || !digits(2, om) || oh > 23 || om > 59) {
      return bad("bad UTC offset");
    }
    offsetSeconds = sign * (oh * 3600 + om * 60);
  } else {
    return bad("missing time zone ('Z' or +hh:mm)");
  }
  if (i != s.size()) return bad("trailing characters");
  std::int64_t secs =
      daysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      hour * 3600 + minute * 60 + second - offsetSeconds;
  using namespace std::chrono;
  return system_clock::time_point{
      duration_cast<system_clock::duration>(seconds{secs} + nanoseconds{nanos})};
}

}  // namespace ocpvdr
