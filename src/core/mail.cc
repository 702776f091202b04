// formatMessage and plausibleMailAddress (see mail.h).
#include "core/mail.h"

#include <openssl/rand.h>

#include <algorithm>
#include <ctime>

#include "core/crypto.h"
#include "core/text.h"

namespace ocpvdr {

namespace {

// RFC 5322 date-time in UTC: "Mon, 07 Dec 2026 19:30:00 +0000" (English names, whatever the
// locale).
std::string mailDate(std::chrono::system_clock::time_point now) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

// A header value on one line: CR, LF and other control characters become spaces (no header
// injection through a PV name in a subject).
std::string oneLine(std::string_view s) {
  std::string out(s);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }, ' ');
  return out;
}

// RFC 2047 encoded-word when the subject is not plain ASCII.
std::string encodedSubject(const std::string& subject) {
  const bool ascii = std::all_of(subject.begin(), subject.end(),
                                 [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) return subject;
  return "=?UTF-8?B?" + base64Encode(subject) + "?=";
}

}  // namespace

bool plausibleMailAddress(std::string_view a) {
  if (a.empty() || a.size() > 254) return false;
  for (char c : a) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '<' || c == '>' || c == ',' || c == '"' || c == '\\')
      return false;
  }
  const auto at = a.find('@');
  return at != std::string_view::npos && at > 0 && at + 1 < a.size() &&
         a.find('@', at + 1) == std::string_view::npos;
}

std::string formatMessage(const MailMessage& m, std::chrono::system_clock::time_point now,
                          const std::string& messageIdHost) {
  unsigned char rnd[12];
  if (RAND_bytes(rnd, sizeof rnd) != 1) std::fill(std::begin(rnd), std::end(rnd), 0);
  std::string out;
  out += "Date: " + mailDate(now) + "\r\n";
  out += "From: <" + m.from + ">\r\n";
  std::vector<std::string> to;
  for (const auto& r : m.to) to.push_back("<" + r + ">");
  out += "To: " + join(to, ", ") + "\r\n";
  out += "Subject: " + encodedSubject(oneLine(m.subject)) + "\r\n";
  out += "Message-ID: <" + hexEncode(std::string_view(reinterpret_cast<char*>(rnd), sizeof rnd)) +
         "@" + messageIdHost + ">\r\n";
  out += "MIME-Version: 1.0\r\n";
  out += "Content-Type: text/plain; charset=utf-8\r\n";
  out += "Content-Transfer-Encoding: 8bit\r\n";
  out += "\r\n";
  // CRLF line ends; a bare CR would be a protocol error at some servers.
  for (size_t i = 0; i < m.body.size(); ++i) {
    const char c = m.body[i];
    if (c == '\r') continue;
    if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  if (!out.ends_with("\r\n")) out += "\r\n";
  return out;
}

}  // namespace ocpvdr
