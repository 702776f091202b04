// The HttpClient contract, run on both implementations (CurlHttpClient and HttplibHttpClient)
// against an in-process cpp-httplib server on a kernel-chosen loopback port: methods, headers,
// bodies, connection reuse, streaming and cancellation, timeouts, error kinds, and TLS (CA as
// data and file, wrong CA, skip-verify, server name, client certs).
#include "core/curl_http.h"
#include "core/httplib_client.h"

#include <gtest/gtest.h>

#include <cctype>
#include <condition_variable>
#include <cstring>
#include <future>
#include <thread>

#include "core/json_util.h"
#include "support/http_test_server.h"
#include "support/temp_dir.h"
#include "support/tinyproxy_process.h"
#include "support/tls_material.h"

namespace ocpvdr {
namespace {

using namespace std::chrono_literals;
using ocpvdr::testing::HttpTestServer;
using ocpvdr::testing::TempDir;
using ocpvdr::testing::TlsMaterial;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A one-shot gate handlers can wait on (bounded, so a failing test cannot hang the server).
class Gate {
 public:
  void open() {
    std::lock_guard l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool waitFor(std::chrono::milliseconds d) {
    std::unique_lock l(mu_);
    return cv_.wait_for(l, d, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

void echoHandler(const httplib::Request& req, httplib::Response& res) {
  Json j = {{"method", req.method},
            {"body", req.body},
            {"x-test", req.get_header_value("X-Test")},
            {"has-content-type", req.has_header("Content-Type")},
            {"content-type", req.get_header_value("Content-Type")},
            {"has-authorization", req.has_header("Authorization")},
            {"host", req.get_header_value("Host")}};
  res.set_header("X-Reply", "yes");
  res.set_content(j.dump(), "application/json");
}

void registerEcho(httplib::Server& s) {
  s.Get("/echo", echoHandler);
  s.Post("/echo", echoHandler);
  s.Put("/echo", echoHandler);
  s.Patch("/echo", echoHandler);
  s.Delete("/echo", echoHandler);
}

template <class Client>
class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& s = server_.server();
    registerEcho(s);
    s.Get("/hello", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("X-Multi-Word-Header", "Value Kept");
      res.set_content("hello", "text/plain");
    });
    s.Get("/status/418", [](const httplib::Request&, httplib::Response& res) {
      res.status = 418;
      res.set_content("teapot", "text/plain");
    });
    s.Get("/chunked", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("application/x-ndjson", [](size_t, httplib::DataSink& sink) {
        for (const char* part : {"{\"n\":1}\n{\"n\"", ":2}\n", "{\"n\":3}\n"}) {
          if (!sink.write(part, std::strlen(part))) return false;
          std::this_thread::sleep_for(10ms);  // separate network writes
        }
        sink.done();
        return true;
      });
    });
    s.Get("/forever", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [](size_t, httplib::DataSink& sink) {
        // Ends when the client goes away (write fails) or after 10 s at most.
        for (int i = 0; i < 500; ++i) {
          if (!sink.write("tick\n", 5)) return false;
          std::this_thread::sleep_for(20ms);
        }
        sink.done();
        return true;
      });
    });
    s.Get("/stall", [this](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [this](size_t, httplib::DataSink& sink) {
        sink.write("start\n", 6);
        release_.waitFor(10s);  // silence until the test ends
        sink.done();
        return true;
      });
    });
    s.Get("/slow", [this](const httplib::Request&, httplib::Response& res) {
      arrived_.set_value();
      release_.waitFor(5s);
      res.set_content("late", "text/plain");
    });
    s.Put("/upload", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::to_string(req.body.size()) + ":" +
                          std::to_string(std::hash<std::string>{}(req.body)),
                      "text/plain");
    });
    server_.start();
  }
  void TearDown() override {
    release_.open();
    server_.stop();
  }

  HttpRequest get(const std::string& path) {
    HttpRequest r;
    r.url = server_.url(path);
    return r;
  }

  HttpTestServer server_;
  std::promise<void> arrived_;
  Gate release_;
};

using Clients = ::testing::Types<CurlHttpClient, HttplibHttpClient>;
// Test names carry the implementation: HttpTest/curl.*, HttpTest/httplib.*.
struct ClientName {
  template <class T>
  static std::string GetName(int) {
    return std::is_same_v<T, CurlHttpClient> ? "curl" : "httplib";
  }
};
TYPED_TEST_SUITE(HttpTest, Clients, ClientName);

TYPED_TEST(HttpTest, GetReturnsStatusBodyAndLowerCasedHeaders) {
  TypeParam client;
  auto r = client.send(this->get("/hello"));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  EXPECT_FALSE(r->cancelled);
  bool found = false;
  for (const auto& [k, v] : r->headers) {
    EXPECT_EQ(k, lower(k));
    if (k == "x-multi-word-header") found = v == "Value Kept";
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(r->header("X-MULTI-WORD-HEADER"), std::optional<std::string>("Value Kept"));
  EXPECT_EQ(r->header("content-length"), std::optional<std::string>("5"));
  EXPECT_EQ(r->header("x-absent"), std::nullopt);
}

TYPED_TEST(HttpTest, NonSuccessStatusIsStillASuccessfulResult) {
  TypeParam client;
  auto r = client.send(this->get("/status/418"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 418);
  EXPECT_EQ(r->body, "teapot");
  auto nf = client.send(this->get("/no-such-path"));
  ASSERT_TRUE(nf.ok());
  EXPECT_EQ(nf->status, 404);
}

TYPED_TEST(HttpTest, MethodsBodiesAndHeadersRoundTrip) {
  TypeParam client;
  for (std::string method : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
    HttpRequest req = this->get("/echo");
    req.method = method;
    req.headers = {{"X-Test", "value-" + method}, {"Content-Type", "application/merge-patch+json"}};
    if (method != "GET" && method != "DELETE") req.body = R"({"m":")" + method + "\"}";
    auto r = client.send(req);
    ASSERT_TRUE(r.ok()) << method << ": " << r.error().describe();
    EXPECT_EQ(r->status, 200) << method;
    auto j = Json::parse(r->body);
    EXPECT_EQ(j["method"], method);
    EXPECT_EQ(j["body"], req.body);
    EXPECT_EQ(j["x-test"], "value-" + method);
    if (!req.body.empty()) {
      EXPECT_EQ(j["content-type"], "application/merge-patch+json");
    }
    EXPECT_EQ(r->header("x-reply"), std::optional<std::string>("yes"));
  }
}

TYPED_TEST(HttpTest, BodyWithoutContentTypeIsNotLabelledAsForm) {
  TypeParam client;
  HttpRequest req = this->get("/echo");
  req.method = "POST";
  req.body = "a=b";
  auto r = client.send(req);
  ASSERT_TRUE(r.ok());
  auto j = Json::parse(r->body);
  EXPECT_EQ(j["body"], "a=b");
  EXPECT_EQ(j["has-content-type"], false) << r->body;
}

TYPED_TEST(HttpTest, HeadHasHeadersButNoBody) {
  TypeParam client;
  HttpRequest req = this->get("/hello");
  req.method = "HEAD";
  auto r = client.send(req);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(r->header("content-length"), std::optional<std::string>("5"));
}

TYPED_TEST(HttpTest, UploadBodyFromFile) {
  TempDir dir;
  std::string data(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 % 251);
  auto file = dir.write("blob.bin", data);
  TypeParam client;
  HttpRequest req = this->get("/upload");
  req.method = "PUT";
  req.bodyFile = file.string();
  auto r = client.send(req);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->body,
            std::to_string(data.size()) + ":" + std::to_string(std::hash<std::string>{}(data)));

  req.bodyFile = (dir / "missing.bin").string();
  auto missing = client.send(req);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::Invalid);
  EXPECT_NE(missing.error().message.find("missing.bin"), std::string::npos);
}

TYPED_TEST(HttpTest, ConnectionsAreReusedSequentiallyAndAcrossThreads) {
  TypeParam client;
  for (int i = 0; i < 10; ++i) {
    auto r = client.send(this->get("/hello"));
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->body, "hello");
  }
  EXPECT_EQ(this->server_.requestCount(), 10u);
  EXPECT_EQ(this->server_.remotePorts().size(), 1u) << "a new connection per request";

  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto r = client.send(this->get("/hello"));
        if (r.ok() && r->body == "hello") ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 100);
  // At most one connection per concurrently used pool slot (plus the first one).
  EXPECT_LE(this->server_.remotePorts().size(), 5u);
}

TYPED_TEST(HttpTest, StreamingDeliversChunkedBodyInOrderAfterHeaders) {
  TypeParam client;
  HttpRequest req = this->get("/chunked");
  std::vector<std::string> events;
  std::string streamed;
  int headerStatus = 0;
  req.onHeaders = [&](int status, const HttpHeaders& h) {
    headerStatus = status;
    events.push_back("headers");
    for (const auto& [k, v] : h) {
      if (k == "content-type") events.push_back("ct=" + v);
    }
  };
  req.onBody = [&](std::string_view chunk) {
    events.push_back("body");
    streamed.append(chunk);
    return true;
  };
  auto r = client.send(req);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(headerStatus, 200);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(streamed, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n");
  EXPECT_EQ(r->body, "");  // consumed by onBody
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events[0], "headers");
  EXPECT_EQ(events[1], "ct=application/x-ndjson");
  EXPECT_EQ(std::count(events.begin(), events.end(), "headers"), 1);
  EXPECT_EQ(events[2], "body");
}

TYPED_TEST(HttpTest, OnHeadersCalledOnceEvenWithoutBody) {
  TypeParam client;
  HttpRequest req = this->get("/hello");
  req.method = "HEAD";
  int calls = 0;
  req.onHeaders = [&](int status, const HttpHeaders&) {
    ++calls;
    EXPECT_EQ(status, 200);
  };
  ASSERT_TRUE(client.send(req).ok());
  EXPECT_EQ(calls, 1);
}

TYPED_TEST(HttpTest, CancelFromOnBody) {
  TypeParam client;
  HttpRequest req = this->get("/forever");
  req.timeout = 0ms;
  int chunks = 0;
  req.onBody = [&](std::string_view) { return ++chunks < 3; };
  auto t0 = std::chrono::steady_clock::now();
  auto r = client.send(req);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->cancelled);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(chunks, 3);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  // The client stays usable after an aborted transfer.
  auto again = client.send(this->get("/hello"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->body, "hello");
}

TYPED_TEST(HttpTest, StopTokenCancelsWhileWaitingForTheServer) {
  TypeParam client;
  std::stop_source stop;
  auto arrived = this->arrived_.get_future();
  std::thread stopper([&] {
    arrived.wait();  // the request is in the server's hands; the client is blocked
    stop.request_stop();
  });
  HttpRequest req = this->get("/slow");
  auto t0 = std::chrono::steady_clock::now();
  auto r = client.send(req, stop.get_token());
  auto elapsed = std::chrono::steady_clock::now() - t0;
  stopper.join();
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->cancelled);
  EXPECT_LT(elapsed, 3s);  // the handler would hold the response for 5 s
}

TYPED_TEST(HttpTest, StopTokenCancelsAStream) {
  TypeParam client;
  std::stop_source stop;
  HttpRequest req = this->get("/forever");
  req.timeout = 0ms;
  int chunks = 0;
  req.onBody = [&](std::string_view) {
    if (++chunks == 2) stop.request_stop();
    return true;
  };
  auto r = client.send(req, stop.get_token());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->cancelled);
  EXPECT_LE(chunks, 3);
}

TYPED_TEST(HttpTest, TotalTimeoutIsRetryable) {
  TypeParam client;
  HttpRequest req = this->get("/slow");
  req.timeout = 300ms;
  auto t0 = std::chrono::steady_clock::now();
  auto r = client.send(req);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Retryable);
  EXPECT_NE(r.error().message.find("GET " + this->server_.url("/slow")), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("imeout"), std::string::npos) << r.error().message;
  EXPECT_GE(elapsed, 250ms);  // curl's millisecond timers may fire a fraction early
  EXPECT_LT(elapsed, 3s);
}

TYPED_TEST(HttpTest, LowSpeedTimeAbortsAStalledStream) {
  TypeParam client;
  HttpRequest req = this->get("/stall");
  req.timeout = 0ms;
  req.lowSpeedTime = 1000ms;
  auto t0 = std::chrono::steady_clock::now();
  auto r = client.send(req);
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Retryable);
  EXPECT_NE(r.error().message.find("stalled"), std::string::npos) << r.error().message;
  EXPECT_GE(elapsed, 1000ms);
  EXPECT_LT(elapsed, 3s);
}

TYPED_TEST(HttpTest, LowSpeedTimeLeavesASteadyTrickleAlone) {
  // /forever sends a few bytes every 20 ms: slow, but never silent for 300 ms.
  TypeParam client;
  HttpRequest req = this->get("/forever");
  req.timeout = 0ms;
  req.lowSpeedTime = 300ms;
  int chunks = 0;
  req.onBody = [&](std::string_view) { return ++chunks < 50; };
  auto r = client.send(req);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->cancelled);
  EXPECT_EQ(chunks, 50);
}

template <class Client>
class HttpErrorTest : public ::testing::Test {};
TYPED_TEST_SUITE(HttpErrorTest, Clients, ClientName);

TYPED_TEST(HttpErrorTest, ConnectionRefusedIsRetryableAndHidesCredentials) {
  TypeParam client;
  HttpRequest req;
  req.url =
      "http://admin:hunter2pw@127.0.0.1:" + std::to_string(ocpvdr::testing::unusedLoopbackPort()) +
      "/api";
  req.headers = {{"Authorization", "Bearer very-secret-token"}};
  auto r = client.send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Retryable);
  EXPECT_NE(r.error().message.find("127.0.0.1"), std::string::npos);
  EXPECT_EQ(r.error().message.find("hunter2pw"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("very-secret-token"), std::string::npos);
}

TYPED_TEST(HttpErrorTest, BadRequestsAreInvalid) {
  TypeParam client;
  for (const char* url : {"not a url", "ftp://127.0.0.1/x", "http://", "://x"}) {
    HttpRequest req;
    req.url = url;
    auto r = client.send(req);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid) << url << ": " << r.error().message;
  }
  HttpRequest badMethod;
  badMethod.url = "http://127.0.0.1:1/";
  badMethod.method = "GET /x HTTP/1.1\r\n";
  EXPECT_EQ(client.send(badMethod).error().kind, ErrorKind::Invalid);
  HttpRequest badHeader;
  badHeader.url = "http://127.0.0.1:1/";
  badHeader.headers = {{"X-Injected", "a\r\nEvil: yes"}};
  EXPECT_EQ(client.send(badHeader).error().kind, ErrorKind::Invalid);
}

TYPED_TEST(HttpErrorTest, UnresolvableHostIsRetryable) {
  TypeParam client;
  HttpRequest req;
  req.url = "http://ocpvdr-no-such-host.invalid/";
  req.connectTimeout = 3000ms;
  auto r = client.send(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Retryable) << r.error().message;
}

// --- TLS -------------------------------------------------------------------------------------

template <class Client>
class HttpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new TlsMaterial(TlsMaterial::generate({"localhost", "127.0.0.1"}));
    otherPki_ = new TlsMaterial(TlsMaterial::generate({"localhost", "127.0.0.1"}, "other CA"));
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete otherPki_;
  }
  static void addRoutes(HttpTestServer& s) {
    registerEcho(s.server());
    s.server().Get("/hello", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("secure hello", "text/plain");
    });
  }
  static HttpRequest get(const HttpTestServer& s, const std::string& path = "/hello") {
    HttpRequest r;
    r.url = s.url(path);
    return r;
  }
  static TlsMaterial* pki_;
  static TlsMaterial* otherPki_;
};
template <class Client>
TlsMaterial* HttpsTest<Client>::pki_ = nullptr;
template <class Client>
TlsMaterial* HttpsTest<Client>::otherPki_ = nullptr;

TYPED_TEST_SUITE(HttpsTest, Clients, ClientName);

TYPED_TEST(HttpsTest, CaAsDataAndAsFile) {
  HttpTestServer server({this->pki_->serverCert, this->pki_->serverKey, ""});
  TestFixture::addRoutes(server);
  server.start();

  TlsOptions data;
  data.caData = this->pki_->caCert;
  auto r = TypeParam(data).send(this->get(server));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->body, "secure hello");

  TempDir dir;
  auto files = this->pki_->writeTo(dir.path());
  TlsOptions file;
  file.caFile = files.caCert.string();
  auto rf = TypeParam(file).send(this->get(server));
  ASSERT_TRUE(rf.ok()) << rf.error().describe();
  EXPECT_EQ(rf->body, "secure hello");

  TlsOptions missingFile;
  missingFile.caFile = (dir / "nope.crt").string();
  auto rm = TypeParam(missingFile).send(this->get(server));
  ASSERT_FALSE(rm.ok());
  EXPECT_EQ(rm.error().kind, ErrorKind::Terminal) << rm.error().message;
}

TYPED_TEST(HttpsTest, WrongCaIsTerminalAndSkipVerifyConnects) {
  HttpTestServer server({this->pki_->serverCert, this->pki_->serverKey, ""});
  TestFixture::addRoutes(server);
  server.start();

  TlsOptions wrong;
  wrong.caData = this->otherPki_->caCert;
  auto r = TypeParam(wrong).send(this->get(server));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Terminal) << r.error().message;
  EXPECT_NE(r.error().message.find(server.url("/hello")), std::string::npos);

  TlsOptions noCa;  // system CAs do not know our test CA either
  auto rn = TypeParam(noCa).send(this->get(server));
  ASSERT_FALSE(rn.ok());
  EXPECT_EQ(rn.error().kind, ErrorKind::Terminal) << rn.error().message;

  TlsOptions skip;
  skip.caData = this->otherPki_->caCert;
  skip.insecureSkipVerify = true;
  auto rs = TypeParam(skip).send(this->get(server));
  ASSERT_TRUE(rs.ok()) << rs.error().describe();
  EXPECT_EQ(rs->body, "secure hello");
}

TYPED_TEST(HttpsTest, ServerNameOverridesVerificationName) {
  // The certificate names only dr-api.example; we connect to 127.0.0.1.
  TlsMaterial named = TlsMaterial::generate({"dr-api.example"});
  HttpTestServer server({named.serverCert, named.serverKey, ""});
  TestFixture::addRoutes(server);
  server.start();

  TlsOptions plain;
  plain.caData = named.caCert;
  auto mismatch = TypeParam(plain).send(this->get(server));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().kind, ErrorKind::Terminal) << mismatch.error().message;

  TlsOptions withName = plain;
  withName.serverName = "dr-api.example";
  auto r = TypeParam(withName).send(this->get(server, "/echo"));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->status, 200);
  // The Host header still names the address we were asked to reach.
  EXPECT_EQ(Json::parse(r->body)["host"], "127.0.0.1:" + std::to_string(server.port()));
}

TYPED_TEST(HttpsTest, ClientCertificateRequiredByServer) {
  HttpTestServer server({this->pki_->serverCert, this->pki_->serverKey, this->pki_->caCert});
  TestFixture::addRoutes(server);
  server.start();

  TlsOptions withCert;
  withCert.caData = this->pki_->caCert;
  withCert.certData = this->pki_->clientCert;
  withCert.keyData = this->pki_->clientKey;
  TypeParam good(withCert);
  auto r = good.send(this->get(server));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->body, "secure hello");
  auto again = good.send(this->get(server));  // reuses the authenticated connection
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(server.remotePorts().size(), 1u);

  TempDir dir;
  auto files = this->pki_->writeTo(dir.path());
  TlsOptions asFiles;
  asFiles.caFile = files.caCert.string();
  asFiles.certFile = files.clientCert.string();
  asFiles.keyFile = files.clientKey.string();
  auto rf = TypeParam(asFiles).send(this->get(server));
  ASSERT_TRUE(rf.ok()) << rf.error().describe();

  // Rejected by the server. Under TLS 1.3 the rejection can arrive as a dropped connection
  // rather than a readable alert, so the kind is Terminal or Retryable (see http.h); what
  // matters is that no response is mistaken for success.
  TlsOptions noCert;
  noCert.caData = this->pki_->caCert;
  auto rn = TypeParam(noCert).send(this->get(server));
  ASSERT_FALSE(rn.ok());
  EXPECT_TRUE(rn.error().kind == ErrorKind::Terminal || rn.error().kind == ErrorKind::Retryable)
      << rn.error().describe();

  TlsOptions foreignCert = withCert;  // signed by a CA the server does not trust
  foreignCert.certData = this->otherPki_->clientCert;
  foreignCert.keyData = this->otherPki_->clientKey;
  auto rx = TypeParam(foreignCert).send(this->get(server));
  ASSERT_FALSE(rx.ok());
  EXPECT_TRUE(rx.error().kind == ErrorKind::Terminal || rx.error().kind == ErrorKind::Retryable)
      << rx.error().describe();

  // A key that does not match the certificate is our own misconfiguration: Terminal.
  TlsOptions mismatchedKey = withCert;
  mismatchedKey.keyData = this->otherPki_->clientKey;
  auto rk = TypeParam(mismatchedKey).send(this->get(server));
  ASSERT_FALSE(rk.ok());
  EXPECT_EQ(rk.error().kind, ErrorKind::Terminal) << rk.error().message;

  TlsOptions garbageKey = withCert;
  garbageKey.keyData = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
  auto rg = TypeParam(garbageKey).send(this->get(server));
  ASSERT_FALSE(rg.ok());
  EXPECT_EQ(rg.error().kind, ErrorKind::Terminal) << rg.error().message;
}

TYPED_TEST(HttpsTest, ConcurrentMutualTlsRequestsShareOneClient) {
  HttpTestServer server({this->pki_->serverCert, this->pki_->serverKey, this->pki_->caCert});
  TestFixture::addRoutes(server);
  server.start();
  TlsOptions tls;
  tls.caData = this->pki_->caCert;
  tls.certData = this->pki_->clientCert;
  tls.keyData = this->pki_->clientKey;
  TypeParam client(tls);
  std::atomic<int> ok{0};
  std::mutex errMu;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 15; ++i) {
        auto r = client.send(this->get(server));
        if (r.ok() && r->status == 200 && r->body == "secure hello") {
          ++ok;
        } else {
          std::lock_guard l(errMu);
          errors.push_back(r.ok() ? "status " + std::to_string(r->status) + ": " + r->body
                                  : r.error().describe());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 90) << (errors.empty() ? "" : errors.front());
  EXPECT_LE(server.remotePorts().size(), 6u);  // one connection per pool slot at most
}

}  // namespace
}  // namespace ocpvdr
