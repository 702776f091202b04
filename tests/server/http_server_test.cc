// HttpServer: port 0, standard endpoints, JSON errors, the body cap — for every framing of a
// body (Content-Length, chunked, none), compressed bodies, bodies sent to routes that take none,
// endless header lines, over plain HTTP and TLS — and PV labels of /metrics for the allowed only.
#include "server/http_server.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>

#include "support/raw_http.h"
#include "support/temp_dir.h"
#include "support/tls_material.h"

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

// An echo route with a 64 KiB cap; counts the handler calls.
class BodyCapTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kCap = 64 * 1024;
  // Far more than any socket buffer holds: a sender can only finish this when the server reads.
  static constexpr std::size_t kHuge = 256u << 20;

  void SetUp() override {
    srv =
        std::make_unique<HttpServer>(ServerOptions{.listen = "127.0.0.1:0", .maxBodyBytes = kCap});
    srv->post("/v1/echo", [this](const httplib::Request& req, httplib::Response& res) {
      ++calls;
      respondJson(res, 200, {{"bytes", req.body.size()}});
    });
    srv->addStandardEndpoints(metrics, [] { return std::string(); });
    auto p = srv->start();
    ASSERT_TRUE(p.ok()) << p.error().message;
    port = *p;
  }

  // The server still answers: a body under the cap is echoed.
  void expectStillServing() {
    httplib::Client cli("127.0.0.1", port);
    const int before = calls;
    auto ok = cli.Post("/v1/echo", std::string(1000, 'x'), "application/json");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    EXPECT_EQ(ok->body, "{\"bytes\":1000}\n");
    EXPECT_EQ(calls, before + 1);
  }

  static std::string errorOf(const testing::RawAnswer& a) {
    auto doc = nlohmann::json::parse(a.body, nullptr, false);
    return doc.is_object() && doc["error"].is_string() ? doc["error"].get<std::string>() : "";
  }

  MetricsRegistry metrics;
  std::unique_ptr<HttpServer> srv;
  std::atomic<int> calls{0};
  int port = 0;
};

TEST_F(BodyCapTest, EndlessChunkedBodyIsAnswered413WhileStillArriving) {
  testing::RawRequest r;
  r.head = "POST /v1/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked";
  r.unit = std::string(16 * 1024, 'c');
  r.bodyBytes = kHuge;
  r.chunked = true;
  auto a = testing::rawRequest(port, r);
  EXPECT_EQ(a.status, 413) << a.head;
  EXPECT_FALSE(a.senderFinished) << "the server read the whole body before answering";
  EXPECT_NE(errorOf(a).find("65536 bytes"), std::string::npos) << a.body;
  EXPECT_NE(a.head.find("Connection: close"), std::string::npos) << a.head;
  EXPECT_EQ(calls, 0);
  expectStillServing();
}

TEST_F(BodyCapTest, BodyWithoutLengthIsAnswered413WhileStillArriving) {
  testing::RawRequest r;
  r.head = "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json";
  r.unit = std::string(16 * 1024, 'n');
  r.bodyBytes = kHuge;
  auto a = testing::rawRequest(port, r);
  EXPECT_EQ(a.status, 413) << a.head;
  EXPECT_FALSE(a.senderFinished) << "the server read to EOF before answering";
  EXPECT_EQ(calls, 0);
  expectStillServing();
}

TEST_F(BodyCapTest, ABodyWithoutLengthUnderTheCapIsReadToItsEnd) {
  testing::RawRequest r;
  r.head = "POST /v1/echo HTTP/1.1\r\nHost: t\r\nConnection: close";
  r.unit = std::string(5000, 'n');
  r.bodyBytes = 5000;
  auto a = testing::rawRequest(port, r);
  EXPECT_EQ(a.status, 200) << a.head << a.body;
  EXPECT_EQ(a.body, "{\"bytes\":5000}\n");
}

TEST_F(BodyCapTest, ALyingContentLengthIsAnswered413WithoutReadingTheBody) {
  testing::RawRequest r;
  r.head = "POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1099511627776";
  r.unit = std::string(16 * 1024, 'l');
  r.bodyBytes = kHuge;
  auto a = testing::rawRequest(port, r);
  EXPECT_EQ(a.status, 413) << a.head;
  EXPECT_FALSE(a.senderFinished);
  EXPECT_EQ(calls, 0);
  expectStillServing();
}

TEST_F(BodyCapTest, CompressedBodiesAreRefusedWith415) {
  for (const char* enc : {"gzip", "deflate", "br", "GZIP"}) {
    testing::RawRequest r;
    r.head = std::string("POST /v1/echo HTTP/1.1\r\nHost: t\r\nContent-Encoding: ") + enc +
             "\r\nContent-Length: 20";
    r.unit = std::string(20, 'z');
    r.bodyBytes = 20;
    auto a = testing::rawRequest(port, r);
    EXPECT_EQ(a.status, 415) << enc << " " << a.head;
    EXPECT_NE(errorOf(a).find("Content-Encoding"), std::string::npos) << a.body;
  }
  EXPECT_EQ(calls, 0);
  expectStillServing();
}

TEST_F(BodyCapTest, BodiesForRoutesThatTakeNoneAreNotRead) {
  for (const char* target : {"POST /healthz", "PUT /v1/echo", "DELETE /metrics", "POST /nope"}) {
    testing::RawRequest r;
    r.head = std::string(target) + " HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked";
    r.unit = std::string(16 * 1024, 'r');
    r.bodyBytes = kHuge;
    r.chunked = true;
    auto a = testing::rawRequest(port, r);
    EXPECT_TRUE(a.status == 404 || a.status == 405) << target << ": " << a.head;
    EXPECT_FALSE(a.senderFinished) << target;
    EXPECT_NE(errorOf(a).find("no such endpoint"), std::string::npos) << a.body;
  }
  expectStillServing();
}

TEST_F(BodyCapTest, AnEndlessHeaderLineEndsTheConnection) {
  testing::RawRequest r;
  r.head = "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Fill: ";
  r.endHeaders = false;
  r.unit = std::string(16 * 1024, 'h');
  r.bodyBytes = kHuge;
  auto a = testing::rawRequest(port, r);
  EXPECT_FALSE(a.senderFinished) << "the server kept reading one header line";
  EXPECT_NE(a.status, 200) << a.head;
  expectStillServing();
}

TEST(HttpServerTls, EndlessChunkedBodyOverTlsIsCutOff) {
  testing::TempDir dir;
  auto files = testing::TlsMaterial::generate().writeTo(dir.path());
  HttpServer srv({.listen = "127.0.0.1:0",
                  .certFile = files.serverCert.string(),
                  .keyFile = files.serverKey.string(),
                  .maxBodyBytes = 64 * 1024});
  std::atomic<int> calls{0};
  srv.post("/v1/echo", [&calls](const httplib::Request&, httplib::Response& res) {
    ++calls;
    res.status = 204;
  });
  auto port = srv.start();
  ASSERT_TRUE(port.ok()) << port.error().message;
  httplib::SSLClient cli("127.0.0.1", *port);
  cli.set_ca_cert_path(files.caCert.string().c_str());
  std::size_t produced = 0;
  const std::string unit(16 * 1024, 't');
  // httplib sends a provider without length as a chunked body; this one would never end.
  auto res = cli.Post(
      "/v1/echo",
      [&](size_t, httplib::DataSink& sink) {
        if (produced >= (256u << 20)) return false;
        produced += unit.size();
        return sink.write(unit.data(), unit.size());
      },
      "application/json");
  if (res) {
    EXPECT_EQ(res->status, 413);
  }
  EXPECT_LT(produced, 256u << 20) << "the server read the whole body";
  EXPECT_EQ(calls, 0);
  httplib::SSLClient next("127.0.0.1", *port);
  next.set_ca_cert_path(files.caCert.string().c_str());
  auto ok = next.Post("/v1/echo", std::string(100, 'x'), "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 204);
  EXPECT_EQ(calls, 1);
}

TEST(HttpServer, PrivateMetricLabelsAreShownOnlyToAllowedRequests) {
  MetricsRegistry metrics;
  metrics.describe("ocpvdr_replica_rpo_seconds", "gauge", "rpo");
  metrics.set("ocpvdr_replica_rpo_seconds", 12, {{"pv", "pvc-secret-name"}});
  metrics.describe("ocpvdr_engine_syncs_total", "counter", "syncs");
  metrics.inc("ocpvdr_engine_syncs_total", {{"kind", "pv"}, {"result", "synced"}});
  HttpServer srv({.listen = "127.0.0.1:0"});
  srv.setPrivateMetricLabels({"pv"}, [](const httplib::Request& req) {
    return req.get_header_value("Authorization") == "Bearer ok";
  });
  srv.addStandardEndpoints(metrics, [] { return std::string(); });
  auto port = srv.start();
  ASSERT_TRUE(port.ok());
  httplib::Client cli("127.0.0.1", *port);
  auto anon = cli.Get("/metrics");
  ASSERT_TRUE(anon);
  EXPECT_EQ(anon->body.find("pvc-secret-name"), std::string::npos) << anon->body;
  EXPECT_NE(anon->body.find("ocpvdr_engine_syncs_total{kind=\"pv\",result=\"synced\"} 1"),
            std::string::npos)
      << anon->body;
  EXPECT_NE(anon->body.find("# TYPE ocpvdr_replica_rpo_seconds gauge"), std::string::npos);
  auto authed = cli.Get("/metrics", {{"Authorization", "Bearer ok"}});
  ASSERT_TRUE(authed);
  EXPECT_NE(authed->body.find("ocpvdr_replica_rpo_seconds{pv=\"pvc-secret-name\"} 12"),
            std::string::npos)
      << authed->body;
}

}  // namespace
}  // namespace ocpvdr::server
