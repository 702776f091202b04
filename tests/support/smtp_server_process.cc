// See smtp_server_process.h.
#include "support/smtp_server_process.h"

#include <regex>
#include <stdexcept>

#include "core/files.h"
#include "support/tinyproxy_process.h"  // unusedLoopbackPort

namespace ocpvdr::testing {

SmtpServerProcess::SmtpServerProcess(const TempDir& dir, const TlsMaterial& tls,
                                     SmtpServerOptions opts)
    : maildir_(dir.path() / "smtp-mail") {
  const auto files = tls.writeTo(dir.path() / "smtp-tls");
  port_ = unusedLoopbackPort();
  std::vector<std::string> argv{"/usr/bin/python3", sourcePath("tests/support/smtp_server.py"),
                                "--port",           std::to_string(port_),
                                "--maildir",        maildir_.string()};
  if (opts.starttls) {
    argv.insert(argv.end(),
                {"--cert", files.serverCert.string(), "--key", files.serverKey.string()});
    if (opts.requireStarttls) argv.push_back("--require-starttls");
  }
  if (!opts.user.empty())
    argv.insert(argv.end(), {"--user", opts.user, "--password", opts.password});
  demo::PeerSpec spec{
      "smtp server (aiosmtpd)", argv, {{"PYTHONUNBUFFERED", "1"}}, dir.path() / "smtp-server.log"};
  auto p = demo::PeerProcess::start(spec);
  if (!p) throw std::runtime_error(p.error().message);
  proc_ = std::move(p).value();
  auto ready = proc_->waitForLog(std::regex("READY ([0-9]+)"), std::chrono::seconds(20));
  if (!ready) {
    const std::string tail = proc_->logTail();
    throw std::runtime_error(
        "the SMTP test server did not start (is python3-aiosmtpd installed? "
        "make deps installs it): " +
        ready.error().message + "\n" + tail);
  }
}

std::string SmtpServerProcess::url() const {
  return "smtp://127.0.0.1:" + std::to_string(port_);
}

std::optional<std::string> SmtpServerProcess::waitForLog(const std::string& pattern,
                                                         std::chrono::milliseconds timeout) {
  auto r = proc_->waitForLog(std::regex(pattern), timeout);
  if (!r) return std::nullopt;
  return *r;
}

std::optional<std::string> SmtpServerProcess::message(int n) const {
  auto text = readFile((maildir_ / (std::to_string(n) + ".eml")).string());
  if (!text.ok()) return std::nullopt;
  return *text;
}

std::string SmtpServerProcess::log() const {
  return proc_->logTail(1 << 16);
}

}  // namespace ocpvdr::testing
