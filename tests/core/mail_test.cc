// The report mail: formatMessage (headers, CRLF, no header injection) and CurlSmtpSender against
// a real SMTP server (Debian's aiosmtpd, support/smtp_server_process.h) on loopback: STARTTLS
// with a test CA, AUTH from a file, a wrong password, a server that offers no STARTTLS, a
// certificate that is not trusted. "Not sent" is checked by what the server logged and by the
// next message arriving as message 1.
#include <gtest/gtest.h>

#include <chrono>

#include "core/curl_http.h"
#include "core/curl_smtp.h"
#include "core/mail.h"
#include "support/smtp_server_process.h"
#include "support/temp_dir.h"
#include "support/tls_material.h"

namespace ocpvdr::testing {
namespace {

using namespace std::chrono_literals;

MailMessage sample(const std::string& subject) {
  return MailMessage{"ocpv-dr@dr.example.com",
                     {"dr-team@example.com", "oncall@example.com"},
                     subject,
                     "reconcile run 7: ok\n- pvc-a synced\n.\n..leading dots\n"};
}

TEST(MailFormat, HeadersAndCrlfBodyAndNoHeaderInjection) {
  MailMessage m = sample("run 7\r\nBcc: attacker@example.com");
  const auto t = std::chrono::sys_days{std::chrono::year{2026} / 12 / 7} + 19h + 5min + 3s;
  const std::string text = formatMessage(m, t, "dr-host");
  EXPECT_NE(text.find("Date: Mon, 07 Dec 2026 19:05:03 +0000\r\n"), std::string::npos) << text;
  EXPECT_NE(text.find("From: <ocpv-dr@dr.example.com>\r\n"), std::string::npos);
  EXPECT_NE(text.find("To: <dr-team@example.com>, <oncall@example.com>\r\n"), std::string::npos);
  EXPECT_NE(text.find("Subject: run 7  Bcc: attacker@example.com\r\n"), std::string::npos)
      << "a CR LF in the subject must not start a header: " << text;
  EXPECT_EQ(text.find("\r\nBcc:"), std::string::npos);
  EXPECT_NE(text.find("@dr-host>\r\n"), std::string::npos);
  EXPECT_NE(text.find("\r\n\r\nreconcile run 7: ok\r\n- pvc-a synced\r\n"), std::string::npos);
  EXPECT_EQ(text.find("\n", 0), text.find("\r\n") + 1) << "every line ends with CRLF";
  EXPECT_EQ(
      formatMessage(sample("Übersicht"), t, "h").find("Subject: =?UTF-8?B?w5xiZXJzaWNodA==?="),
      formatMessage(sample("Übersicht"), t, "h").find("Subject: "));
}

TEST(MailFormat, AddressCheck) {
  EXPECT_TRUE(plausibleMailAddress("dr-team@example.com"));
  for (const char* bad : {"", "no-at", "@example.com", "a@", "a@b@c", "a b@example.com",
                          "<a@example.com>", "a@example.com,b@example.com", "a@ex\r\nample.com"})
    EXPECT_FALSE(plausibleMailAddress(bad)) << bad;
}

class SmtpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { initHttpGlobal(); }
  SmtpSettings settings(const SmtpServerProcess& server) const {
    SmtpSettings s;
    s.url = server.url();
    s.tls.caFile = (tmp.path() / "client-ca.crt").string();
    s.timeout = 20s;
    return s;
  }
  void SetUp() override { tmp.write("client-ca.crt", tls.caCert); }
  TempDir tmp;
  TlsMaterial tls = TlsMaterial::generate({"127.0.0.1", "localhost"});
};

TEST_F(SmtpTest, SendsOverStarttlsWithAuthFromAFile) {
  SmtpServerProcess server(tmp, tls, {true, true, "dr-bot", "s3cret pass"});
  SmtpSettings s = settings(server);
  s.authFile = tmp.write("smtp-auth", "dr-bot\ns3cret pass\n").string();
  CurlSmtpSender sender(s);
  Status sent = sender.send(sample("[ocpv-dr] reconcile run 7: ok"));
  ASSERT_TRUE(sent.ok()) << sent.error().message << "\n" << server.log();
  ASSERT_TRUE(server.waitForLog("AUTH ok dr-bot", 10s)) << server.log();
  auto line = server.waitForLog("MESSAGE 1 [^\n]*", 10s);
  ASSERT_TRUE(line) << server.log();
  EXPECT_NE(line->find("from=ocpv-dr@dr.example.com"), std::string::npos) << *line;
  EXPECT_NE(line->find("to=dr-team@example.com,oncall@example.com"), std::string::npos);
  EXPECT_NE(line->find("tls=yes"), std::string::npos) << "sent before STARTTLS: " << *line;
  auto msg = server.message(1);
  ASSERT_TRUE(msg);
  EXPECT_NE(msg->find("Subject: [ocpv-dr] reconcile run 7: ok\r\n"), std::string::npos) << *msg;
  EXPECT_NE(msg->find("\r\n- pvc-a synced\r\n.\r\n..leading dots\r\n"), std::string::npos)
      << "the body arrives as written (dot-stuffing undone by the server): " << *msg;
}

TEST_F(SmtpTest, WrongPasswordIsRefusedNamingTheAuthFileAndNothingIsSent) {
  SmtpServerProcess server(tmp, tls, {true, true, "dr-bot", "right"});
  SmtpSettings s = settings(server);
  s.authFile = tmp.write("smtp-auth", "dr-bot\nwrong\n").string();
  Status sent = CurlSmtpSender(s).send(sample("first"));
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.error().kind, ErrorKind::Refused) << sent.error().message;
  EXPECT_NE(sent.error().message.find("notify.email.auth_file"), std::string::npos)
      << sent.error().message;
  EXPECT_EQ(sent.error().message.find("wrong"), std::string::npos) << "the password leaked";
  ASSERT_TRUE(server.waitForLog("AUTH failed dr-bot", 10s)) << server.log();
  // The right password afterwards: its message is the server's first.
  s.authFile = tmp.write("smtp-auth", "dr-bot\nright\n").string();
  ASSERT_TRUE(CurlSmtpSender(s).send(sample("second")).ok()) << server.log();
  ASSERT_TRUE(server.waitForLog("MESSAGE 1 ", 10s));
  EXPECT_NE(server.message(1)->find("Subject: second\r\n"), std::string::npos);
}

TEST_F(SmtpTest, AServerWithoutStarttlsGetsNoPasswordAndNoMail) {
  SmtpServerProcess server(tmp, tls, {false, false, "", ""});
  SmtpSettings s = settings(server);
  s.authFile = tmp.write("smtp-auth", "dr-bot\nright\n").string();
  Status sent = CurlSmtpSender(s).send(sample("clear text?"));
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.error().kind, ErrorKind::Refused) << sent.error().message;
  EXPECT_NE(sent.error().message.find("STARTTLS"), std::string::npos) << sent.error().message;
  // Only with STARTTLS turned off (and no credentials) does it go out in clear text.
  s.starttls = false;
  s.authFile.clear();
  ASSERT_TRUE(CurlSmtpSender(s).send(sample("plain")).ok()) << server.log();
  ASSERT_TRUE(server.waitForLog("MESSAGE 1 [^\n]*tls=no", 10s)) << server.log();
  EXPECT_NE(server.message(1)->find("Subject: plain\r\n"), std::string::npos);
  EXPECT_EQ(server.log().find("AUTH"), std::string::npos) << server.log();
}

TEST_F(SmtpTest, AnUntrustedCertificateIsRefused) {
  SmtpServerProcess server(tmp, tls, {true, true, "", ""});
  SmtpSettings s = settings(server);
  s.tls.caFile = tmp.write("other-ca.crt", TlsMaterial::generate().caCert).string();
  Status sent = CurlSmtpSender(s).send(sample("x"));
  ASSERT_FALSE(sent.ok());
  EXPECT_EQ(sent.error().kind, ErrorKind::Refused) << sent.error().message;
  EXPECT_NE(sent.error().message.find("ca_file"), std::string::npos) << sent.error().message;
}

TEST_F(SmtpTest, BadAddressesAndAMissingAuthFileAreInvalidBeforeAnyConnection) {
  SmtpSettings s;
  s.url = "smtp://127.0.0.1:1";
  MailMessage m = sample("x");
  m.to.push_back("not an address");
  Status bad = CurlSmtpSender(s).send(m);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::Invalid);
  EXPECT_NE(bad.error().message.find("not an address"), std::string::npos);
  s.authFile = (tmp.path() / "absent").string();
  Status noFile = CurlSmtpSender(s).send(sample("x"));
  ASSERT_FALSE(noFile.ok());
  EXPECT_EQ(noFile.error().kind, ErrorKind::Invalid);
  EXPECT_NE(noFile.error().message.find("auth_file"), std::string::npos);
}

}  // namespace
}  // namespace ocpvdr::testing
