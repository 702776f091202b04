// SmtpServerProcess: a real SMTP server (Debian's aiosmtpd, tests/support/smtp_server.py) on a
// loopback port for the notify.email tests: STARTTLS with a test CA's certificate, AUTH with one
// user, every accepted message kept as a file. Stopped by its PID (demo::PeerProcess).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "demo/peer_process.h"
#include "support/temp_dir.h"
#include "support/tls_material.h"

namespace ocpvdr::testing {

struct SmtpServerOptions {
  bool starttls = true;         // offer STARTTLS (a certificate from `tls`)
  bool requireStarttls = true;  // refuse mail in clear text
  std::string user, password;   // AUTH required when user is set
};

class SmtpServerProcess {
 public:
  // Throws std::runtime_error when python3-aiosmtpd is missing (`make deps` installs it) or the
  // server does not come up.
  SmtpServerProcess(const TempDir& dir, const TlsMaterial& tls, SmtpServerOptions opts);
  std::string url() const;  // smtp://127.0.0.1:<port>
  // Waits for the server's log to show `pattern` (e.g. "MESSAGE 1 ", "AUTH failed"); the match.
  std::optional<std::string> waitForLog(const std::string& pattern,
                                        std::chrono::milliseconds timeout);
  // The n-th accepted message (1-based) as received, or nullopt when there is none.
  std::optional<std::string> message(int n) const;
  std::string log() const;

 private:
  std::filesystem::path maildir_;
  int port_ = 0;
  std::unique_ptr<demo::PeerProcess> proc_;
};

}  // namespace ocpvdr::testing
