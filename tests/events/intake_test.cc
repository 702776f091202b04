// /v1/events payload parsing and webhook authentication: every malformed payload is Invalid with a
// message naming the problem; bearer token and HMAC checks as the EDA webhook does them.
#include "events/intake.h"
#include "events/signature.h"

#include <gtest/gtest.h>

namespace ocpvdr::events {
namespace {

const char* kValidPv = R"({"id":"u1:42:MODIFIED","kind":"PersistentVolume","apiVersion":"v1",
  "type":"MODIFIED","cluster":"primary","observedAt":"2026-11-24T00:12:21.123Z","initial":false,
  "resource":{"kind":"PersistentVolume","metadata":{"name":"pvc-1","uid":"u1"},"spec":{}}})";

TEST(EventPayloadTest, ParsesTheForwardersPayload) {
  auto e = parseEventPayload(kValidPv);
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->kind, "PersistentVolume");
  EXPECT_EQ(e->type, "MODIFIED");
  EXPECT_EQ(e->id, "u1:42:MODIFIED");
  EXPECT_EQ(e->cluster, "primary");
  EXPECT_EQ(e->key, "pv/pvc-1");
  ASSERT_TRUE(e->observedAt.has_value());
  EXPECT_EQ(formatTimeMillis(*e->observedAt), "2026-11-24T00:12:21.123Z");
  EXPECT_EQ(e->resource["metadata"]["uid"], "u1");

  auto s = parseEventPayload(R"({"kind":"VolumeSnapshot","type":"DELETED","initial":true,
    "resource":{"metadata":{"name":"nightly","namespace":"vms","uid":"x"}}})");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->key, "snap/vms/nightly");
  EXPECT_TRUE(s->initial);
  EXPECT_TRUE(s->id.empty());
}

struct Bad {
  const char* body;
  const char* message;
};

class EventPayloadInvalidTest : public ::testing::TestWithParam<Bad> {};

TEST_P(EventPayloadInvalidTest, SaysWhatIsWrong) {
  auto e = parseEventPayload(GetParam().body);
  ASSERT_FALSE(e.ok()) << GetParam().body;
  EXPECT_EQ(e.error().kind, ErrorKind::Invalid);
  EXPECT_NE(e.error().message.find(GetParam().message), std::string::npos)
      << "got: " << e.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Table, EventPayloadInvalidTest,
    ::testing::Values(
        Bad{"", "invalid JSON"}, Bad{"{\"kind\":", "invalid JSON"},
        Bad{"not json at all", "invalid JSON"}, Bad{"[1,2]", "must be a JSON object"},
        Bad{R"({"type":"ADDED","resource":{}})", "missing \"kind\""},
        Bad{R"({"kind":"Pod","type":"ADDED","resource":{}})",
            "unknown kind \"Pod\": expected PersistentVolume or VolumeSnapshot"},
        Bad{R"({"kind":42,"type":"ADDED","resource":{}})",
            "\"kind\": expected a string, got number"},
        Bad{R"({"kind":"PersistentVolume","resource":{}})", "missing \"type\""},
        Bad{R"({"kind":"PersistentVolume","type":"UPDATED","resource":{}})",
            "unknown type \"UPDATED\""},
        Bad{R"({"kind":"VolumeSnapshot","type":"LEFT_SELECTION","resource":{}})",
            "type LEFT_SELECTION is for a PersistentVolume, not a VolumeSnapshot"},
        Bad{R"({"kind":"PersistentVolume","type":"ADDED"})",
            "missing \"resource\" (the PersistentVolume object)"},
        Bad{R"({"kind":"PersistentVolume","type":"ADDED","resource":"pv-a"})",
            "\"resource\": expected an object, got string"},
        Bad{R"({"kind":"PersistentVolume","type":"ADDED","resource":{"spec":{}}})",
            "resource.metadata"},
        Bad{R"({"kind":"PersistentVolume","type":"ADDED","resource":{"metadata":{}}})",
            "resource.metadata.name"},
        Bad{R"({"kind":"PersistentVolume","type":"ADDED","resource":{"metadata":{"name":7}}})",
            "resource.metadata.name"},
        Bad{R"({"kind":"PersistentVolume","type":"ADDED","resource":{"metadata":{"name":"a/b"}}})",
            "is not a valid object name"},
        Bad{R"({"kind":"VolumeSnapshot","type":"ADDED","resource":{"metadata":{"name":"s"}}})",
            "a VolumeSnapshot is namespaced"},
        Bad{R"({"kind":"PersistentVolume","type":"ADDED","resource":{"kind":"VolumeSnapshot",
            "metadata":{"name":"a"}}})",
            "resource.kind \"VolumeSnapshot\" does not match kind \"PersistentVolume\""},
        Bad{R"({"kind":"PersistentVolume","type":"ADDED","id":5,"resource":{"metadata":{"name":"a"}}})",
            "\"id\": expected a string, got number"},
        Bad{R"({"kind":"PersistentVolume","type":"ADDED","initial":"yes",
            "resource":{"metadata":{"name":"a"}}})",
            "\"initial\": expected a boolean, got string"},
        Bad{R"({"kind":"PersistentVolume","type":"ADDED","observedAt":"yesterday",
            "resource":{"metadata":{"name":"a"}}})",
            "\"observedAt\""}));

TEST(WebhookAuthTest, BearerTokenMustMatchExactly) {
  EXPECT_TRUE(checkBearer(std::string("Bearer s3cret-token"), "s3cret-token").ok());
  auto missing = checkBearer(std::nullopt, "s3cret-token");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::Refused);
  EXPECT_NE(missing.error().message.find("missing Authorization"), std::string::npos);
  EXPECT_FALSE(checkBearer(std::string("Bearer wrong"), "s3cret-token").ok());
  EXPECT_FALSE(checkBearer(std::string("Bearer s3cret-token "), "s3cret-token").ok());
  EXPECT_FALSE(checkBearer(std::string("Bearer  s3cret-token"), "s3cret-token").ok());
  EXPECT_FALSE(checkBearer(std::string("bearer s3cret-token"), "s3cret-token").ok());
  EXPECT_FALSE(checkBearer(std::string("Basic czNjcmV0"), "s3cret-token").ok());
  EXPECT_FALSE(checkBearer(std::string("Bearer "), "s3cret-token").ok());
}

TEST(WebhookAuthTest, HmacSignatureOverTheRawBody) {
  // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
  EXPECT_EQ(hmacSha256Hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  const std::string body = R"({"kind":"PersistentVolume"})";
  const std::string sig = hmacSha256Hex("k3y", body);
  EXPECT_TRUE(checkSignature(sig, body, "k3y").ok());
  EXPECT_TRUE(checkSignature("sha256=" + sig, body, "k3y").ok());
  std::string upper = sig;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(checkSignature(upper, body, "k3y").ok());
  EXPECT_FALSE(checkSignature(sig, body + " ", "k3y").ok());  // body changed
  EXPECT_FALSE(checkSignature(sig, body, "other").ok());
  auto none = checkSignature(std::nullopt, body, "k3y");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("missing x-hub-signature-256"), std::string::npos);
  auto notHex = checkSignature(std::string("sha256=zz"), body, "k3y");
  ASSERT_FALSE(notHex.ok());
  EXPECT_NE(notHex.error().message.find("not a hex"), std::string::npos);
}

TEST(EventCluster, ExpectedClusterMakesTheFieldRequired) {
  EventPayload ev;
  // Without server.expected_cluster: optional, and when present it must be the primary's name.
  EXPECT_TRUE(checkEventCluster(ev, "", "site-a").ok());
  ev.cluster = "site-a";
  EXPECT_TRUE(checkEventCluster(ev, "", "site-a").ok());
  ev.cluster = "site-b";
  auto other = checkEventCluster(ev, "", "site-a");
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().kind, ErrorKind::Invalid);
  EXPECT_NE(other.error().message.find("sites.primary.name"), std::string::npos);
  // With it: required and equal.
  ev.cluster.clear();
  auto missing = checkEventCluster(ev, "site-a", "site-a");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::Invalid);
  EXPECT_NE(missing.error().message.find("event has no \"cluster\""), std::string::npos)
      << missing.error().message;
  EXPECT_NE(missing.error().message.find("server.expected_cluster"), std::string::npos);
  ev.cluster = "site-b";
  auto wrong = checkEventCluster(ev, "site-a", "");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("\"site-b\""), std::string::npos);
  EXPECT_NE(wrong.error().message.find("\"site-a\""), std::string::npos);
  ev.cluster = "site-a";
  EXPECT_TRUE(checkEventCluster(ev, "site-a", "").ok());
}

}  // namespace
}  // namespace ocpvdr::events
