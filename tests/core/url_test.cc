// parseHttpUrl / redactUrl: what the configuration accepts as a URL and what the cpp-httplib
// transport connects to.
#include "core/url.h"

#include <gtest/gtest.h>

namespace ocpvdr {
namespace {

TEST(HttpUrl, SplitsSchemeHostPortAndTarget) {
  auto u = parseHttpUrl("HTTPS://eda.example.com:5000/endpoint?x=1&y=%2C#frag");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "eda.example.com");
  EXPECT_EQ(u->port, 5000);
  EXPECT_TRUE(u->explicitPort);
  EXPECT_EQ(u->target, "/endpoint?x=1&y=%2C");  // the fragment is never sent
  EXPECT_EQ(u->authority(), "eda.example.com:5000");
}

TEST(HttpUrl, DefaultsPortAndPath) {
  auto h = parseHttpUrl("http://10.0.0.7");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->port, 80);
  EXPECT_FALSE(h->explicitPort);
  EXPECT_EQ(h->target, "/");
  EXPECT_EQ(h->authority(), "10.0.0.7");
  auto s = parseHttpUrl("https://api.ocp.example?watch=1");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->port, 443);
  EXPECT_EQ(s->target, "/?watch=1");
}

TEST(HttpUrl, Ipv6HostsKeepTheirBracketsInTheAuthorityOnly) {
  auto u = parseHttpUrl("http://[fd00::1]:8080/healthz");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->host, "fd00::1");
  EXPECT_TRUE(u->ipv6());
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->authority(), "[fd00::1]:8080");
}

TEST(HttpUrl, UserInfoIsParsedButNeverEchoed) {
  auto u = parseHttpUrl("https://admin:hunter2@s3.example/bucket");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->userinfo, "admin:hunter2");
  EXPECT_EQ(u->host, "s3.example");
  auto bad = parseHttpUrl("https://admin:hunter2@s3.example/a b");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message.find("hunter2"), std::string::npos) << bad.error().message;
  EXPECT_EQ(redactUrl("http://u:p@h:1/x?q=1"), "http://h:1/x?q=1");
  EXPECT_EQ(redactUrl("http://h/x@y"), "http://h/x@y");  // '@' after the authority is path
}

TEST(HttpUrl, RefusesWhatARequestLineCannotCarry) {
  for (const char* text :
       {"", "not a url", "://x", "http://", "http:///path", "ftp://host/", "http//host",
        "http://host:99999/", "http://host:8x/", "http://[fd00::1/", "http://[zz::1]/",
        "http://ho st/", "http://host/a b", "http://host/\x01", "http://host/%zz", "http://host/%4",
        "http://host/<script>", "http://ho\"st/"}) {
    auto u = parseHttpUrl(text);
    EXPECT_FALSE(u.ok()) << "accepted: " << text;
    if (!u.ok()) {
      EXPECT_EQ(u.error().kind, ErrorKind::Invalid) << text;
    }
  }
}

}  // namespace
}  // namespace ocpvdr
