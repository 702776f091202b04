// formatMessage and plausibleMailAddress (see mail.h).
#include "core/mail.h"

#include <openssl/rand.h>

#include <algorithm>

#include "core/crypto.h"
#include "core/text.h"
#include "core/time.h"

namespace ocpvdr {

namespace {

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
  out += "Date: " + formatMailDate(now) + "\r\n";
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
