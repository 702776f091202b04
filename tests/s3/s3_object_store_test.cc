// S3ObjectStore request formation, paging, retries (through a ManualClock), error decoding and
// the atomic download, against a scripted HttpClient; plus one real HTTP server answering 403.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "core/clock.h"
#include "core/curl_http.h"
#include "s3/fakes.h"
#include "s3/s3_object_store.h"
#include "support/temp_dir.h"

namespace ocpvdr::s3 {
namespace {

using testing::requestHeader;
using testing::ScriptedHttpClient;

const AwsCredentials kCreds{"AKIDTEST", "test-secret-key-do-not-print", "", "test creds"};
const SystemTime kNow = SystemTime{std::chrono::seconds{1'795'948'830}};  // 2026-11-30T...

S3Options opts(std::string endpoint = "http://127.0.0.1:9000", bool pathStyle = true) {
  S3Options o;
  o.endpoint = std::move(endpoint);
  o.bucket = "backups";
  o.pathStyle = pathStyle;
  o.maxAttempts = 4;
  return o;
}

std::unique_ptr<S3ObjectStore> makeStore(HttpClient& http, Clock& clock, S3Options o = opts(),
                                         AwsCredentials c = kCreds) {
  auto s = S3ObjectStore::create(std::move(o), std::move(c), http, clock);
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().describe());
  return s.ok() ? std::move(s).value() : nullptr;
}

std::string errorXml(const std::string& code, const std::string& msg) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code + "</Code><Message>" +
         msg + "</Message><RequestId>REQ123</RequestId></Error>";
}

std::string listXml(const std::vector<std::string>& keys, const std::vector<std::string>& prefixes,
                    const std::string& next = "") {
  std::string x = "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (const auto& k : keys) x += "<Contents><Key>" + k + "</Key><Size>3</Size></Contents>";
  for (const auto& p : prefixes) x += "<CommonPrefixes><Prefix>" + p + "</Prefix></CommonPrefixes>";
  x += next.empty() ? "<IsTruncated>false</IsTruncated>"
                    : "<IsTruncated>true</IsTruncated><NextContinuationToken>" + next +
                          "</NextContinuationToken>";
  return x + "</ListBucketResult>";
}

// Polls (briefly, in real time) until `cond` holds; the code under test itself only waits on the
// ManualClock.
template <class F>
bool eventually(F cond) {
  for (int i = 0; i < 5000; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

TEST(S3ObjectStore, PathStyleRequestIsSignedAndEncoded) {
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  http.push(200, "abc");
  auto store = makeStore(http, clock);
  auto r = store->get("velero/backups/a b+c=d.json", 1024);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(*r, "abc");
  ASSERT_EQ(http.requests.size(), 1u);
  const HttpRequest& q = http.requests[0];
  EXPECT_EQ(q.method, "GET");
  EXPECT_EQ(q.url, "http://127.0.0.1:9000/backups/velero/backups/a%20b%2Bc%3Dd.json");
  EXPECT_EQ(requestHeader(q, "host"), "127.0.0.1:9000");
  EXPECT_EQ(requestHeader(q, "x-amz-date"), formatAmzDate(kNow));
  EXPECT_EQ(requestHeader(q, "x-amz-content-sha256"), std::string(kEmptyPayloadSha256));
  EXPECT_FALSE(requestHeader(q, "x-amz-security-token").has_value());
  auto auth = requestHeader(q, "authorization");
  ASSERT_TRUE(auth.has_value());
  EXPECT_EQ(auth->rfind("AWS4-HMAC-SHA256 Credential=AKIDTEST/" + formatAmzDate(kNow).substr(0, 8) +
                            "/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;"
                            "x-amz-date, Signature=",
                        0),
            0u)
      << *auth;
}

TEST(S3ObjectStore, VirtualHostedAddressingAndSessionToken) {
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  http.push(200, "x");
  AwsCredentials c = kCreds;
  c.sessionToken = "session-token-value";
  auto store = makeStore(http, clock, opts("https://S3.Example.com", false), c);
  ASSERT_TRUE(store->get("k/v.json", 10).ok());
  const HttpRequest& q = http.requests[0];
  EXPECT_EQ(q.url, "https://backups.s3.example.com/k/v.json");
  EXPECT_EQ(requestHeader(q, "host"), "backups.s3.example.com");
  EXPECT_EQ(requestHeader(q, "x-amz-security-token"), "session-token-value");
  EXPECT_NE(requestHeader(q, "authorization")
                ->find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"),
            std::string::npos);
}

TEST(S3ObjectStore, DefaultPortIsNotInTheHostHeaderAndBasePathIsKept) {
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  http.push(200, "x");
  auto store = makeStore(http, clock, opts("https://minio.example:443/s3/"));
  ASSERT_TRUE(store->get("k", 10).ok());
  EXPECT_EQ(http.requests[0].url, "https://minio.example/s3/backups/k");
  EXPECT_EQ(requestHeader(http.requests[0], "host"), "minio.example");
}

TEST(S3ObjectStore, ListFollowsContinuationTokensAndEncodesThem) {
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  http.push(200, listXml({"p/a"}, {"p/d1/"}, "tok/+="));
  http.push(200, listXml({"p/b"}, {"p/d2/"}));
  auto store = makeStore(http, clock);
  auto r = store->list({"p/", "/", 2});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->pages, 2);
  ASSERT_EQ(r->objects.size(), 2u);
  EXPECT_EQ(r->objects[0].key, "p/a");
  EXPECT_EQ(r->objects[1].key, "p/b");
  EXPECT_EQ(r->commonPrefixes, (std::vector<std::string>{"p/d1/", "p/d2/"}));
  ASSERT_EQ(http.requests.size(), 2u);
  EXPECT_EQ(http.requests[0].url,
            "http://127.0.0.1:9000/backups?delimiter=%2F&list-type=2&max-keys=2&prefix=p%2F");
  EXPECT_EQ(http.requests[1].url,
            "http://127.0.0.1:9000/backups?continuation-token=tok%2F%2B%3D&delimiter=%2F&"
            "list-type=2&max-keys=2&prefix=p%2F");
}

TEST(S3ObjectStore, ListRefusesARepeatedContinuationToken) {
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  http.push(200, listXml({"a"}, {}, "same"));  // repeats forever
  auto store = makeStore(http, clock);
  auto r = store->list({"", "", 1});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Terminal);
  EXPECT_NE(r.error().message.find("repeated a continuation token"), std::string::npos);
  EXPECT_EQ(http.requests.size(), 2u);
}

TEST(S3ObjectStore, ListRejectsMalformedXmlNamingTheRequest) {
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  http.push(200, "<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>");
  auto store = makeStore(http, clock);
  auto r = store->list({"pre/", "", 10});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
  EXPECT_NE(r.error().message.find("list s3://backups/pre/"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("has no Size"), std::string::npos) << r.error().message;
}

TEST(S3ObjectStore, RetriesThrottlingAndServerErrorsWithDoublingBackoffOnTheClock) {
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  http.push(503, errorXml("SlowDown", "Please reduce your request rate."));
  http.push(500, errorXml("InternalError", "We encountered an internal error."));
  http.push(200, "payload");
  auto store = makeStore(http, clock);
  auto fut = std::async(std::launch::async, [&] { return store->get("k", 100); });

  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 1; }));
  EXPECT_EQ(http.requests.size(), 1u);
  clock.advance(std::chrono::milliseconds(199));  // first backoff is 200 ms
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(http.requests.size(), 1u);
  clock.advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(eventually([&] { return http.requests.size() == 2 && clock.sleepers() == 1; }));
  clock.advance(std::chrono::milliseconds(399));  // second backoff is 400 ms
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(http.requests.size(), 2u);
  clock.advance(std::chrono::milliseconds(1));
  auto r = fut.get();
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(*r, "payload");
  EXPECT_EQ(http.requests.size(), 3u);
  // Each attempt is signed afresh with the clock's time.
  EXPECT_EQ(requestHeader(http.requests[2], "x-amz-date"),
            formatAmzDate(kNow + std::chrono::milliseconds(600)));
}

TEST(S3ObjectStore, HonoursRetryAfterAndRetriesTransportErrors) {
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  http.pushError(retryableError("connect to 127.0.0.1:9000: refused"));
  http.push(503, "", {{"retry-after", "3"}});
  http.push(200, "ok");
  auto store = makeStore(http, clock);
  auto fut = std::async(std::launch::async, [&] { return store->get("k", 100); });
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 1; }));
  clock.advance(std::chrono::milliseconds(200));
  ASSERT_TRUE(eventually([&] { return http.requests.size() == 2 && clock.sleepers() == 1; }));
  clock.advance(std::chrono::milliseconds(2999));  // Retry-After: 3 beats the 400 ms backoff
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(http.requests.size(), 2u);
  clock.advance(std::chrono::milliseconds(1));
  auto r = fut.get();
  ASSERT_TRUE(r.ok()) << r.error().describe();
}

TEST(S3ObjectStore, GivesUpAfterMaxAttemptsAndStopsOnCancellation) {
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  http.push(503, errorXml("ServiceUnavailable", "busy"));
  S3Options o = opts();
  o.maxAttempts = 2;
  auto store = makeStore(http, clock, o);
  auto fut = std::async(std::launch::async, [&] { return store->head("k"); });
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 1; }));
  clock.advance(std::chrono::seconds(1));
  auto r = fut.get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Retryable);
  EXPECT_NE(r.error().message.find("gave up after 2 attempts"), std::string::npos)
      << r.error().message;

  // A stop request ends the backoff wait at once.
  ScriptedHttpClient http2;
  http2.push(503, "");
  auto store2 = makeStore(http2, clock);
  std::stop_source stop;
  auto fut2 =
      std::async(std::launch::async, [&] { return store2->get("k", 10, {}, stop.get_token()); });
  ASSERT_TRUE(eventually([&] { return clock.sleepers() == 1; }));
  stop.request_stop();
  auto r2 = fut2.get();
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("cancelled"), std::string::npos) << r2.error().message;
  EXPECT_EQ(http2.requests.size(), 1u);
}

struct ErrorCase {
  int status;
  std::string code;
  ErrorKind kind;
  std::string needle;  // part of the operator-facing message
};

TEST(S3ObjectStore, DecodesS3ErrorsIntoKindsWithOperatorHints) {
  const std::vector<ErrorCase> cases = {
      {404, "NoSuchKey", ErrorKind::NotFound, "NoSuchKey: msg"},
      {404, "NoSuchBucket", ErrorKind::NotFound, "check backup_store.bucket"},
      {403, "AccessDenied", ErrorKind::Refused, "s3:GetObject"},
      {403, "InvalidAccessKeyId", ErrorKind::Refused, "backup_store.credentials_file"},
      {403, "SignatureDoesNotMatch", ErrorKind::Refused, "secret access key from test creds"},
      {400, "ExpiredToken", ErrorKind::Refused, "session token"},
      {403, "RequestTimeTooSkewed", ErrorKind::Refused, "NTP"},
      {400, "AuthorizationHeaderMalformed", ErrorKind::Refused, "backup_store.region"},
      {301, "PermanentRedirect", ErrorKind::Terminal, "another region"},
      {416, "InvalidRange", ErrorKind::Invalid, "InvalidRange"},
      {409, "BucketAlreadyExists", ErrorKind::Conflict, "BucketAlreadyExists"},
      {501, "NotImplemented", ErrorKind::Terminal, "NotImplemented"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.code);
    ScriptedHttpClient http;
    ManualClock clock(kNow);
    http.push(c.status, errorXml(c.code, "msg"));
    auto store = makeStore(http, clock);
    auto r = store->get("velero/x", 100);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, c.kind) << r.error().message;
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("GET s3://backups/velero/x: HTTP " + std::to_string(c.status)),
              std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("REQ123"), std::string::npos);
    EXPECT_EQ(r.error().message.find(kCreds.secretAccessKey), std::string::npos);
    EXPECT_EQ(http.requests.size(), 1u) << "not retried";
  }
}

TEST(S3ObjectStore, ErrorsWithoutXmlFallBackToTheStatus) {
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  http.push(404, "");
  auto store = makeStore(http, clock);
  auto head = store->head("missing");
  ASSERT_FALSE(head.ok());
  EXPECT_EQ(head.error().kind, ErrorKind::NotFound);

  ScriptedHttpClient http2;
  http2.push(400, "<html><body>Bad \x01 Request</body></html>");
  auto store2 = makeStore(http2, clock);
  auto r = store2->get("k", 10);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
  EXPECT_NE(r.error().message.find("unexpected response body: <html><body>Bad   Request"),
            std::string::npos)
      << r.error().message;

  EXPECT_EQ(s3ErrorKind("", 503), ErrorKind::Retryable);
  EXPECT_EQ(s3ErrorKind("", 429), ErrorKind::Retryable);
  EXPECT_EQ(s3ErrorKind("", 403), ErrorKind::Refused);
  EXPECT_EQ(s3ErrorKind("SlowDown", 503), ErrorKind::Retryable);
  EXPECT_EQ(s3ErrorKind("Whatever", 418), ErrorKind::Terminal);
}

TEST(S3ObjectStore, HeadReadsSizeEtagAndDate) {
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  http.push(200, "",
            {{"content-length", "1234"},
             {"etag", "\"abc\""},
             {"last-modified", "Tue, 24 Nov 2026 00:00:00 GMT"}});
  auto store = makeStore(http, clock);
  auto r = store->head("k");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->size, 1234);
  EXPECT_EQ(r->etag, "abc");
  EXPECT_EQ(http.requests[0].method, "HEAD");
}

TEST(S3ObjectStore, GetToFileIsAtomicAndCleansUp) {
  ocpvdr::testing::TempDir dir;
  const std::string target = (dir / "b.tar.gz").string();
  auto entries = [&] {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir.path()))
      names.push_back(e.path().filename().string());
    return names;
  };
  ManualClock clock(kNow);
  {
    ScriptedHttpClient http;
    http.push(404, errorXml("NoSuchKey", "gone"));
    auto store = makeStore(http, clock);
    auto r = store->getToFile("k", target);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::NotFound);
    EXPECT_TRUE(entries().empty()) << "no file and no temporary left behind";
  }
  {
    // A body shorter than its Content-Length is a truncated transfer: retried, then given up.
    ScriptedHttpClient http;
    http.push(200, "short", {{"content-length", "100"}});
    S3Options o = opts();
    o.maxAttempts = 1;
    auto store = makeStore(http, clock, o);
    auto r = store->getToFile("k", target);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::Retryable);
    EXPECT_NE(r.error().message.find("after 5 of 100 bytes"), std::string::npos)
        << r.error().message;
    EXPECT_TRUE(entries().empty());
  }
  {
    std::string body(100'000, 'x');
    for (std::size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>('a' + i % 26);
    ScriptedHttpClient http;
    http.push(200, body, {{"content-length", std::to_string(body.size())}, {"etag", "\"e1\""}});
    auto store = makeStore(http, clock);
    auto r = store->getToFile("k", target);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->size, 100'000);
    EXPECT_EQ(r->etag, "e1");
    std::ifstream in(target, std::ios::binary);
    std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(got, body);
    EXPECT_EQ(entries(), std::vector<std::string>{"b.tar.gz"});
  }
}

TEST(S3ObjectStore, RangedGetExpects206) {
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  http.push(206, "0123456789");
  auto store = makeStore(http, clock);
  auto r = store->get("k", 100, ByteRange{0, 9});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(requestHeader(http.requests[0], "range"), "bytes=0-9");
  EXPECT_NE(requestHeader(http.requests[0], "authorization")->find("SignedHeaders=host;range;"),
            std::string::npos);

  ScriptedHttpClient http2;
  http2.push(200, "whole object");
  auto store2 = makeStore(http2, clock);
  auto r2 = store2->get("k", 100, ByteRange{5, std::nullopt});
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(requestHeader(http2.requests[0], "range"), "bytes=5-");
  EXPECT_NE(r2.error().message.find("Range not supported"), std::string::npos);
}

TEST(S3ObjectStore, InMemoryGetHasASizeCap) {
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  http.push(200, std::string(50, 'x'));
  auto store = makeStore(http, clock);
  auto r = store->get("k", 49);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
  EXPECT_NE(r.error().message.find("49-byte limit"), std::string::npos) << r.error().message;
}

TEST(S3ObjectStore, PutSignsThePayloadHash) {
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  http.push(200, "");
  auto store = makeStore(http, clock);
  ASSERT_TRUE(store->put("velero/backups/b/velero-backup.json", "{}", "application/json").ok());
  const HttpRequest& q = http.requests[0];
  EXPECT_EQ(q.method, "PUT");
  EXPECT_EQ(q.body, "{}");
  EXPECT_EQ(requestHeader(q, "x-amz-content-sha256"), sha256Hex("{}"));
  EXPECT_EQ(requestHeader(q, "content-type"), "application/json");
  EXPECT_NE(requestHeader(q, "authorization")
                ->find("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date,"),
            std::string::npos);
}

TEST(S3ObjectStore, RejectsBadKeysEndpointsAndBuckets) {
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  auto store = makeStore(http, clock);
  for (const char* key : {"", "a/../b", "./a", "a/.", "bad\nkey"}) {
    auto r = store->get(key, 10);
    ASSERT_FALSE(r.ok()) << key;
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid) << key;
  }
  EXPECT_TRUE(http.requests.empty());
  for (const char* ep : {"ftp://h", "http://", "http://h:0", "http://h:99999", "http://u:p@h",
                         "http://h/a b", "http://h?x=1", "http://[::1", "http://h:"}) {
    auto s = S3ObjectStore::create(opts(ep), kCreds, http, clock);
    ASSERT_FALSE(s.ok()) << ep;
    EXPECT_EQ(s.error().kind, ErrorKind::Invalid) << ep;
    EXPECT_NE(s.error().message.find("backup_store.endpoint"), std::string::npos);
  }
  EXPECT_TRUE(S3ObjectStore::create(opts("http://[::1]:9000"), kCreds, http, clock).ok());
  S3Options vhost = opts("https://s3.example.com", false);
  vhost.bucket = "Bad_Bucket";
  EXPECT_FALSE(S3ObjectStore::create(vhost, kCreds, http, clock).ok());
  EXPECT_FALSE(S3ObjectStore::create(opts(), AwsCredentials{}, http, clock).ok());
}

// An endpoint that streams more than the download limit: the transfer is cancelled (not
// retried: the object will not shrink), the error says why, no partial file is left.
TEST(S3ObjectStore, DownloadToFileHasASizeCap) {
  ocpvdr::testing::TempDir dir;
  ScriptedHttpClient http;
  ManualClock clock(kNow);
  http.push(200, std::string(1000, 'z'));
  S3Options o = opts();
  o.maxDownloadBytes = 999;
  auto store = makeStore(http, clock, o);
  auto r = store->getToFile("velero/backups/b/b.tar.gz", (dir / "b.tar.gz").string());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
  EXPECT_NE(r.error().message.find("larger than the 999-byte download limit"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(http.requests.size(), 1u);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  // At the limit exactly: accepted.
  o.maxDownloadBytes = 1000;
  auto store2 = makeStore(http, clock, o);
  auto ok = store2->getToFile("velero/backups/b/b.tar.gz", (dir / "b.tar.gz").string());
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_EQ(ok->size, 1000);
}

TEST(S3ObjectStore, OptionsFromConfig) {
  config::BackupStore bs;
  EXPECT_FALSE(s3OptionsFromConfig(bs).ok());
  bs.bucket = "b";
  bs.endpoint = "https://minio:9000";
  bs.region = "eu-west-1";
  bs.pathStyle = false;
  bs.caFile = "/etc/pki/ca.pem";
  bs.insecureSkipTlsVerify = true;
  auto o = s3OptionsFromConfig(bs);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->bucket, "b");
  EXPECT_EQ(o->region, "eu-west-1");
  EXPECT_FALSE(o->pathStyle);
  TlsOptions t = tlsOptionsFromConfig(bs);
  EXPECT_EQ(t.caFile, "/etc/pki/ca.pem");
  EXPECT_TRUE(t.insecureSkipVerify);
}

// A real HTTP server (cpp-httplib on an OS-chosen loopback port) answering every request with
// S3's AccessDenied document, through the real curl client.
TEST(S3ObjectStoreHttp, AccessDeniedFromARealServerIsAClearRefusal) {
  httplib::Server server;
  std::atomic<int> hits{0};
  std::string seenAuth;
  auto deny = [&](const httplib::Request& req, httplib::Response& res) {
    ++hits;
    seenAuth = req.get_header_value("Authorization");
    res.status = 403;
    res.set_content(errorXml("AccessDenied", "Access Denied"), "application/xml");
  };
  server.Get(".*", deny);
  server.Put(".*", deny);
  server.set_keep_alive_max_count(1);  // close after each answer: stop() need not wait it out
  int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread t([&] { server.listen_after_bind(); });
  ASSERT_TRUE(eventually([&] { return server.is_running(); }));

  CurlHttpClient http;
  RealClock clock;
  auto store = makeStore(http, clock, opts("http://127.0.0.1:" + std::to_string(port)));
  auto r = store->list({"velero/backups/", "/", 1000});
  auto p = store->put("velero/x", "data");
  server.stop();
  t.join();

  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Refused) << r.error().describe();
  EXPECT_NE(r.error().message.find("HTTP 403 AccessDenied: Access Denied"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("may list and read bucket \"backups\""), std::string::npos)
      << r.error().message;
  EXPECT_EQ(exitCodeFor(r.error().kind), 3);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().kind, ErrorKind::Refused);
  EXPECT_EQ(hits.load(), 2) << "a refusal is not retried";
  EXPECT_EQ(seenAuth.rfind("AWS4-HMAC-SHA256 Credential=AKIDTEST/", 0), 0u) << seenAuth;
}

}  // namespace
}  // namespace ocpvdr::s3
