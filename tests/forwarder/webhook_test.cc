// WebhookClient against the EDA-like test receiver over loopback: headers (Bearer token, HMAC
// signature in the form ansible.eda.webhook checks), how each answer is classified, Retry-After;
// SecretSource re-reading a rotated token file; the dead-letter file.
#include "forwarder/webhook.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/httplib_client.h"
#include "core/json_util.h"
#include "events/signature.h"
#include "forwarder/dead_letter.h"
#include "forwarder/secret_source.h"
#include "support/temp_dir.h"
#include "support/webhook_receiver.h"

namespace ocpvdr::forwarder {
namespace {

using events::hmacSha256Hex;

using namespace std::chrono_literals;
using ocpvdr::testing::TempDir;
using ocpvdr::testing::WebhookReceiver;

TEST(Hmac, KnownAnswerRfc4231Case2) {
  EXPECT_EQ(hmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

class WebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WebhookReceiver::Options o;
    o.token = "s3cret-token";
    o.hmacSecret = "hmac-key";
    receiver_ = std::make_unique<WebhookReceiver>(o);
    receiver_->start();
  }
  WebhookOptions opts() const {
    WebhookOptions w;
    w.url = receiver_->url();
    w.timeout = 5s;
    return w;
  }

  std::unique_ptr<WebhookReceiver> receiver_;
  HttplibHttpClient http_;  // the forwarder's transport
  SecretSource token_ = SecretSource::fromValue("s3cret-token\n");
  SecretSource hmac_ = SecretSource::fromValue("hmac-key");
};

TEST_F(WebhookTest, DeliversWithBearerTokenAndSignature) {
  WebhookClient client(http_, opts(), token_, hmac_);
  const std::string body = R"({"id":"u:1:ADDED","kind":"PersistentVolume"})";
  DeliveryResult r = client.deliver(body);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.disposition, Disposition::Delivered);
  auto got = receiver_->accepted();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, body) << "sent byte for byte";
  EXPECT_EQ(got[0].headers["authorization"], "Bearer s3cret-token");
  EXPECT_EQ(got[0].headers["x-hub-signature-256"], "sha256=" + hmacSha256Hex("hmac-key", body));
  EXPECT_EQ(got[0].headers["content-type"], "application/json");
}

TEST_F(WebhookTest, WrongTokenOrSignatureIsAnAuthFailure) {
  SecretSource wrong = SecretSource::fromValue("nope");
  WebhookClient badToken(http_, opts(), wrong, hmac_);
  DeliveryResult r = badToken.deliver(R"({"a":1})");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.disposition, Disposition::AuthRetry);

  SecretSource wrongKey = SecretSource::fromValue("other-key");
  WebhookClient badSig(http_, opts(), token_, wrongKey);
  EXPECT_EQ(badSig.deliver(R"({"a":1})").status, 401);

  SecretSource none;
  WebhookClient noToken(http_, opts(), none, hmac_);
  EXPECT_EQ(noToken.deliver(R"({"a":1})").status, 401);
  EXPECT_EQ(receiver_->acceptedCount(), 0u);
}

TEST_F(WebhookTest, ServerAnswersAreClassified) {
  WebhookClient client(http_, opts(), token_, hmac_);
  receiver_->failWith(500, 1);
  EXPECT_EQ(client.deliver("{}").disposition, Disposition::Retry);
  receiver_->failWith(429, 1, 2);
  DeliveryResult r429 = client.deliver("{}");
  EXPECT_EQ(r429.disposition, Disposition::Retry);
  ASSERT_TRUE(r429.retryAfter);
  EXPECT_EQ(*r429.retryAfter, 2000ms);
  receiver_->failWith(403, 1);
  EXPECT_EQ(client.deliver("{}").disposition, Disposition::AuthRetry);
  receiver_->failWith(400, 1);
  DeliveryResult r400 = client.deliver("{}");
  EXPECT_EQ(r400.disposition, Disposition::DeadLetter);
  EXPECT_NE(r400.detail.find("failure injected"), std::string::npos) << r400.detail;
  // The receiver itself refuses a body that is not JSON, as EDA does.
  EXPECT_EQ(client.deliver("not json").status, 400);
  EXPECT_EQ(client.deliver("{}").disposition, Disposition::Delivered);
}

TEST_F(WebhookTest, ReceiverDownIsRetryable) {
  WebhookClient client(http_, opts(), token_, hmac_);
  receiver_->down();
  DeliveryResult r = client.deliver("{}");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.disposition, Disposition::Retry);
  EXPECT_FALSE(r.detail.empty());
  receiver_->up();
  EXPECT_EQ(client.deliver("{}").disposition, Disposition::Delivered);
}

TEST(SecretSource, FileIsReReadWhenItChanges) {
  TempDir dir;
  const auto path = dir.write("token", "first\n").string();
  ManualClock clock;
  SecretSource s = SecretSource::fromFile(path, clock, 1000ms);
  auto v = s.value();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "first") << "trailing newline is not part of the token";
  const auto gen = s.generation();
  dir.write("token", "second-token");
  EXPECT_EQ(*s.value(), "first") << "not re-checked before the interval";
  clock.advance(1000ms);
  EXPECT_EQ(*s.value(), "second-token");
  EXPECT_GT(s.generation(), gen);
  // A Secret volume swaps files; a moment without the file keeps the last token.
  std::filesystem::remove(path);
  clock.advance(1000ms);
  auto kept = s.value();
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, "second-token");
  dir.write("token", "third");
  EXPECT_EQ(*s.reload(), "third") << "reload ignores the interval";
}

TEST(SecretSource, MissingFileAtStartIsNotFound) {
  ManualClock clock;
  SecretSource s = SecretSource::fromFile("/nonexistent/ocpvdr/token", clock);
  auto v = s.value();
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().kind, ErrorKind::NotFound);
  EXPECT_NE(v.error().message.find("/nonexistent/ocpvdr/token"), std::string::npos);
  SecretSource none;
  EXPECT_FALSE(none.configured());
  EXPECT_EQ(*none.value(), "");
}

TEST(DeadLetter, AppendsOneJsonLinePerEvent) {
  TempDir dir;
  DeadLetterFile f(dir.str() + "/dead.ndjson");
  const SystemTime at{std::chrono::seconds(1'800'000'000)};
  ASSERT_TRUE(f.append(at, 400, R"({"detail":"bad"})", R"({"id":"u:1:ADDED"})").ok());
  ASSERT_TRUE(f.append(at, 422, "plain text", "not json").ok());
  std::ifstream in(f.path());
  std::string line;
  std::vector<Json> lines;
  while (std::getline(in, line)) lines.push_back(Json::parse(line));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["status"], 400);
  EXPECT_EQ(lines[0]["event"]["id"], "u:1:ADDED");
  EXPECT_EQ(lines[0]["response"], R"({"detail":"bad"})");
  EXPECT_EQ(lines[0]["at"], "2027-01-15T08:00:00.000Z");
  EXPECT_EQ(lines[1]["event"], "not json");
}

}  // namespace
}  // namespace ocpvdr::forwarder
