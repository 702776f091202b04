// HttpServer: port 0, standard endpoints, JSON errors, the body cap.
#include "server/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

namespace ocpvdr::server {
namespace {

TEST(SplitHostPort, AcceptsHostPortAndBracketedV6) {
  auto a = splitHostPort("127.0.0.1:8080");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->first, "127.0.0.1");
  EXPECT_EQ(a->second, 8080);
  auto b = splitHostPort("[::1]:0");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->first, "::1");
  EXPECT_EQ(b->second, 0);
  auto c = splitHostPort(":9000");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->first, "0.0.0.0");
}

TEST(SplitHostPort, RejectsMalformed) {
  for (const char* bad : {"localhost", "host:", "host:70000", "host:-1", "[::1]8080", "h:8x"}) {
    auto r = splitHostPort(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
    EXPECT_NE(r.error().message.find(bad), std::string::npos) << r.error().message;
  }
}

TEST(HttpServer, StandardEndpointsReflectReadinessAndMetrics) {
  MetricsRegistry metrics;
  metrics.describe("ocpvdr_test_total", "counter", "test counter");
  metrics.inc("ocpvdr_test_total", {{"kind", "pv"}}, 3);
  std::string why = "watches not established";
  HttpServer srv({.listen = "127.0.0.1:0"});
  srv.addStandardEndpoints(metrics, [&why] { return why; });
  auto port = srv.start();
  ASSERT_TRUE(port.ok()) << port.error().message;
  ASSERT_GT(*port, 0);

  httplib::Client cli("127.0.0.1", *port);
  auto h = cli.Get("/healthz");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto r = cli.Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("watches not established"), std::string::npos);
  why.clear();
  r = cli.Get("/readyz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  auto m = cli.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("ocpvdr_test_total{kind=\"pv\"} 3"), std::string::npos) << m->body;
  srv.stop();
}

TEST(HttpServer, OversizedBodyGetsJson413AndServerKeepsServing) {
  MetricsRegistry metrics;
  HttpServer srv({.listen = "127.0.0.1:0", .maxBodyBytes = 1024});
  int calls = 0;
  srv.post("/v1/echo", [&calls](const httplib::Request& req, httplib::Response& res) {
    ++calls;
    respondJson(res, 200, {{"bytes", req.body.size()}});
  });
  auto port = srv.start();
  ASSERT_TRUE(port.ok());
  httplib::Client cli("127.0.0.1", *port);
  auto big = cli.Post("/v1/echo", std::string(10 * 1024 * 1024, 'x'), "application/json");
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  auto body = nlohmann::json::parse(big->body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << big->body;
  EXPECT_NE(body["error"].get<std::string>().find("1024 bytes"), std::string::npos);
  EXPECT_EQ(calls, 0);

  httplib::Client cli2("127.0.0.1", *port);
  auto small = cli2.Post("/v1/echo", std::string(100, 'x'), "application/json");
  ASSERT_TRUE(small);
  EXPECT_EQ(small->status, 200);
  EXPECT_EQ(calls, 1);
  auto missing = cli2.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_TRUE(nlohmann::json::parse(missing->body, nullptr, false).is_object());
}

TEST(HttpServer, SecondServerOnSamePortFailsClearly) {
  HttpServer a({.listen = "127.0.0.1:0"});
  auto port = a.start();
  ASSERT_TRUE(port.ok());
  HttpServer b({.listen = "127.0.0.1:" + std::to_string(*port)});
  auto r = b.start();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Terminal);
}

}  // namespace
}  // namespace ocpvdr::server
