// Mail: the seam through which reports reach people by email (notify.email). MailSender is the
// interface; CurlSmtpSender (core/curl_smtp.h) is the product's implementation, on libcurl's SMTP
// client (STARTTLS, AUTH). formatMessage builds the RFC 5322 text both sides agree on.
#pragma once

#include <chrono>
#include <stop_token>
#include <string>
#include <vector>

#include "core/result.h"

namespace ocpvdr {

struct MailMessage {
  std::string from;             // envelope sender and From:
  std::vector<std::string> to;  // envelope recipients and To:
  std::string subject;          // one line; control characters are replaced
  std::string body;             // UTF-8 text; lines end with '\n' (sent as CRLF)
};

class MailSender {
 public:
  virtual ~MailSender() = default;
  // Sends one message to all of message.to. Errors: invalid (a bad address or message),
  // refused (the server rejected authentication or a recipient), retryable (connection, TLS,
  // timeout), terminal (anything else the server answered).
  [[nodiscard]] virtual Status send(const MailMessage& message, std::stop_token stop = {}) = 0;
};

// The message as sent: Date, From, To, Subject, Message-ID, MIME-Version and a text/plain UTF-8
// body with CRLF line ends. `now` is the Date header's time; `messageIdHost` the right-hand side
// of the Message-ID.
std::string formatMessage(const MailMessage& message, std::chrono::system_clock::time_point now,
                          const std::string& messageIdHost);

// "user@example.com" with no spaces, angle brackets, control characters or commas, one '@'
// with text on both sides. Used by the config check and the sender.
bool plausibleMailAddress(std::string_view address);

}  // namespace ocpvdr
