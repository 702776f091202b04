// ChangeRelay (engine/change_relay.h): data changes become webhook events — at most one per PV per
// window plus one trailing event for what changed during it — on a ManualClock with a recording
// delivery; then through the forwarder's WebhookClient to a receiver that checks the Bearer token
// and the HMAC signature as ansible.eda.webhook does.
#include "engine/change_relay.h"

#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "core/clock.h"
#include "core/httplib_client.h"
#include "core/time.h"
#include "forwarder/secret_source.h"
#include "forwarder/webhook.h"
#include "support/webhook_receiver.h"

namespace ocpvdr::engine {
namespace {

using namespace std::chrono_literals;

Json pvObject(const std::string& name) {
  return Json{{"apiVersion", "v1"},
              {"kind", "PersistentVolume"},
              {"metadata", {{"name", name}}},
              {"spec", {{"nfs", {{"server", "nfs-primary"}, {"path", "/exports/ocp/" + name}}}}}};
}

struct Recorder {
  std::mutex mu;
  std::vector<Json> sent;
  int failNext = 0;
  Status deliver(const std::string& body) {
    std::lock_guard<std::mutex> g(mu);
    if (failNext > 0) {
      --failNext;
      return retryableError("HTTP 503");
    }
    sent.push_back(Json::parse(body));
    return Status::success();
  }
  std::vector<Json> of(const std::string& pv) {
    std::lock_guard<std::mutex> g(mu);
    std::vector<Json> out;
    for (const auto& j : sent)
      if (j["pv"] == pv) out.push_back(j);
    return out;
  }
};

class ChangeRelayTest : public ::testing::Test {
 protected:
  ChangeRelayTest()
      : relay(
            {60s, 5s}, clock,
            [this](const std::string& pv) -> Result<Json> {
              if (pv == "gone") return notFoundError("persistentvolumes \"gone\" not found");
              return pvObject(pv);
            },
            [this](const std::string& body, std::stop_token) { return rec.deliver(body); }) {}
  ManualClock clock;
  Recorder rec;
  ChangeRelay relay;
};

TEST_F(ChangeRelayTest, AStormIsOneLeadingAndOneTrailingEventPerWindow) {
  const SystemTime t0 = clock.now();
  relay.onChange("pvc-a", t0, "changed");
  relay.pump();
  auto a = rec.of("pvc-a");
  ASSERT_EQ(a.size(), 1u) << "the first change is sent at once";
  EXPECT_EQ(a[0]["kind"], "DataChange");
  EXPECT_EQ(a[0]["type"], "CHANGED");
  EXPECT_EQ(a[0]["changed_at"], formatTimeMillis(t0));
  EXPECT_EQ(a[0]["resource"], pvObject("pvc-a")) << "the job template reads the PV object";
  // 500 changes in the next 59 s: nothing more until the window closes.
  for (int i = 0; i < 500; ++i) {
    clock.advance(118ms);
    relay.onChange("pvc-a", clock.now(), "changed");
    relay.pump();
  }
  EXPECT_EQ(rec.of("pvc-a").size(), 1u);
  const std::string firstOfTheWindow = formatTimeMillis(t0 + 118ms);
  clock.advance(1100ms);  // 60.1 s after the first event
  relay.pump();
  a = rec.of("pvc-a");
  ASSERT_EQ(a.size(), 2u) << "one trailing event for the whole storm";
  EXPECT_EQ(a[1]["changed_at"], firstOfTheWindow) << "it covers the storm's first change";
  EXPECT_NE(a[0]["id"], a[1]["id"]) << "ids are unique (EDA jobs dedupe by id)";
  // A quiet window: nothing more, ever.
  clock.advance(10min);
  EXPECT_FALSE(relay.pump().has_value());
  EXPECT_EQ(rec.of("pvc-a").size(), 2u);
  EXPECT_EQ(relay.stats().changes, 501u);
  EXPECT_EQ(relay.stats().sent, 2u);
}

TEST_F(ChangeRelayTest, AChangeAfterTheLastEventIsNeverDropped) {
  relay.onChange("pvc-a", clock.now(), "changed");
  relay.pump();
  clock.advance(59s);
  relay.onChange("pvc-a", clock.now(), "changed");  // a write after the job may have started
  auto next = relay.pump();
  ASSERT_TRUE(next.has_value()) << "pending: the next event has a due time";
  EXPECT_EQ(rec.of("pvc-a").size(), 1u);
  clock.advance(1s);
  relay.pump();
  EXPECT_EQ(rec.of("pvc-a").size(), 2u);
}

TEST_F(ChangeRelayTest, WindowsArePerPvAndARescanNamesItsReason) {
  relay.onChange("pvc-a", clock.now(), "changed");
  relay.onChange("pvc-b", clock.now(), "overflow");
  relay.pump();
  ASSERT_EQ(rec.of("pvc-a").size(), 1u);
  ASSERT_EQ(rec.of("pvc-b").size(), 1u);
  EXPECT_EQ(rec.of("pvc-b")[0]["reason"], "overflow");
  clock.advance(30s);
  relay.onChange("pvc-c", clock.now(), "changed");
  relay.onChange("pvc-a", clock.now(), "changed");
  relay.pump();
  EXPECT_EQ(rec.of("pvc-c").size(), 1u) << "pvc-a's window does not hold pvc-c back";
  EXPECT_EQ(rec.of("pvc-a").size(), 1u);
}

TEST_F(ChangeRelayTest, AFailedDeliveryKeepsTheChangeAndRetries) {
  rec.failNext = 2;
  const SystemTime t0 = clock.now();
  relay.onChange("pvc-a", t0, "changed");
  relay.pump();
  EXPECT_TRUE(rec.of("pvc-a").empty());
  EXPECT_EQ(relay.stats().failed, 1u);
  EXPECT_EQ(relay.stats().lastError, "HTTP 503");
  clock.advance(2s);
  relay.onChange("pvc-a", clock.now(), "changed");
  relay.pump();
  EXPECT_TRUE(rec.of("pvc-a").empty()) << "retried only after the retry interval";
  clock.advance(3s);
  relay.pump();  // second failure
  EXPECT_TRUE(rec.of("pvc-a").empty());
  clock.advance(5s);
  relay.pump();
  auto a = rec.of("pvc-a");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]["changed_at"], formatTimeMillis(t0)) << "the earliest unsent change";
}

TEST_F(ChangeRelayTest, APvThePrimaryNoLongerHasIsDropped) {
  relay.onChange("gone", clock.now(), "changed");
  EXPECT_FALSE(relay.pump().has_value());
  EXPECT_TRUE(rec.of("gone").empty());
  EXPECT_EQ(relay.stats().dropped, 1u);
}

TEST(ChangeRelayWebhook, EventsAreSignedLikeTheForwardersAndRetriedOnRefusal) {
  testing::WebhookReceiver::Options ro;
  ro.token = "relay-t0ken";
  ro.hmacSecret = "relay-hmac";
  testing::WebhookReceiver receiver(ro);
  receiver.start();
  auto http = httplibHttpClients()(TlsOptions{});
  auto token = forwarder::SecretSource::fromValue("relay-t0ken");
  auto hmac = forwarder::SecretSource::fromValue("relay-hmac");
  forwarder::WebhookOptions wo;
  wo.url = receiver.url();
  forwarder::WebhookClient client(*http, wo, token, hmac);
  RealClock clock;
  ChangeRelay relay(
      {200ms, 100ms}, clock, [](const std::string& pv) -> Result<Json> { return pvObject(pv); },
      [&client](const std::string& body, std::stop_token stop) -> Status {
        auto r = client.deliver(body, stop);
        if (r.disposition == forwarder::Disposition::Delivered) return Status::success();
        return retryableError("HTTP " + std::to_string(r.status) + " " + r.detail);
      });
  std::jthread pump([&relay](std::stop_token st) { relay.run(st); });
  receiver.failWith(401, 1);  // a wrong token, say: kept and retried
  relay.onChange("pvc-a", clock.now(), "changed");
  ASSERT_TRUE(receiver.waitFor([&] { return receiver.acceptedCount() >= 1; }, 10s))
      << relay.status().dump();
  const auto got = receiver.accepted();
  EXPECT_EQ(got[0].json["kind"], "DataChange");
  EXPECT_EQ(got[0].json["resource"]["metadata"]["name"], "pvc-a");
  EXPECT_EQ(got[0].headers.at("x-hub-signature-256"),
            "sha256=" + testing::hmacSha256HexForTest("relay-hmac", got[0].body));
  EXPECT_EQ(receiver.answers()[401], 1u);
  EXPECT_GE(relay.stats().failed, 1u);
}

}  // namespace
}  // namespace ocpvdr::engine
