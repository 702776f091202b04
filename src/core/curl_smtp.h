// CurlSmtpSender: MailSender on libcurl's SMTP client (see core/mail.h). smtp://host:port with
// STARTTLS (required unless turned off), or smtps:// (TLS from the first byte); AUTH with a user
// and password read from a file when one is given (the file's first line is the user, the second
// the password; re-read on every send so a rotated secret is picked up).
#pragma once

#include <chrono>
#include <string>

#include "core/http.h"
#include "core/mail.h"

namespace ocpvdr {

struct SmtpSettings {
  std::string url;       // smtp://host[:port] or smtps://host[:port]
  bool starttls = true;  // smtp:// only: refuse to send unless the server upgrades to TLS
  std::string authFile;  // "" = no AUTH
  TlsOptions tls;        // trust (caFile) and insecureSkipVerify
  std::string heloName = "ocpv-dr";
  std::chrono::milliseconds timeout{30000};
};

class CurlSmtpSender final : public MailSender {
 public:
  explicit CurlSmtpSender(SmtpSettings settings);
  [[nodiscard]] Status send(const MailMessage& message, std::stop_token stop = {}) override;

 private:
  SmtpSettings s_;
};

}  // namespace ocpvdr
