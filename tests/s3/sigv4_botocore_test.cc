// Our SigV4 against botocore (Debian's python3-botocore, run by /usr/bin/python3) as an
// independent signer: the same requests, the same fixed date, the same Authorization header,
// URL and payload hash. Requests go through S3ObjectStore (captured by a scripted HttpClient),
// so key encoding, query building, Host header and header choice are checked, not only the
// signing arithmetic.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/clock.h"
#include "core/json_util.h"
#include "core/process.h"
#include "s3/fakes.h"
#include "s3/s3_object_store.h"
#include "support/temp_dir.h"

namespace ocpvdr::s3 {
namespace {

using testing::requestHeader;
using testing::ScriptedHttpClient;

constexpr const char* kPython = "/usr/bin/python3";
const SystemTime kDate = SystemTime{std::chrono::seconds{1'795'429'230}};  // fixed

struct Case {
  std::string name;
  Json forPython;    // request description for botocore_sign.py
  HttpRequest ours;  // what our client sent
};

Result<Json> runBotocore(const Json& cases) {
  RealProcessRunner runner;
  ProcessSpec spec;
  spec.argv = {kPython, ocpvdr::testing::sourcePath("tests/s3/botocore_sign.py").string()};
  spec.stdinData = cases.dump();
  spec.timeout = std::chrono::seconds(60);
  auto r = runner.run(spec);
  if (!r.ok()) return r.error();
  if (!r->success()) return terminalError("botocore_sign.py failed: " + r->err);
  return parseJson(r->out, "botocore_sign.py output");
}

bool botocoreAvailable(std::string& why) {
  if (!std::filesystem::exists(kPython)) {
    why = std::string(kPython) + " missing";
    return false;
  }
  RealProcessRunner runner;
  ProcessSpec spec;
  spec.argv = {kPython, "-c", "import botocore.auth"};
  auto r = runner.run(spec);
  if (!r.ok() || !r->success()) {
    why = "python3-botocore is not installed for /usr/bin/python3 (make deps)";
    return false;
  }
  return true;
}

class SigV4Botocore : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!botocoreAvailable(why)) {
      std::cerr << "\n*** " << why << ": skipping the botocore agreement test ***\n\n";
      GTEST_SKIP() << why;
    }
  }

  // Runs `op` against a store with the given options and returns the request it sent.
  template <class Op>
  HttpRequest capture(const S3Options& o, const AwsCredentials& c, Op op,
                      std::vector<std::pair<int, std::string>> answers = {{200, ""}}) {
    ScriptedHttpClient http;
    for (auto& [status, body] : answers) http.push(status, body);
    ManualClock clock(kDate);
    auto store = S3ObjectStore::create(o, c, http, clock);
    EXPECT_TRUE(store.ok());
    op(**store);
    EXPECT_FALSE(http.requests.empty());
    return http.requests.back();
  }
};

// [[k, v], ...] (a brace list of string pairs would become a JSON object).
Json pairs(std::vector<std::pair<std::string, std::string>> kv) {
  Json out = Json::array();
  for (auto& [k, v] : kv) out.push_back(Json::array({k, v}));
  return out;
}

Json describe(const S3Options& o, const AwsCredentials& c, std::string method, std::string key,
              Json params, Json headers, std::string body = "") {
  return Json{{"method", method},
              {"endpoint", o.endpoint},
              {"bucket", o.bucket},
              {"key", key},
              {"virtual_hosted", !o.pathStyle},
              {"params", params},
              {"headers", headers},
              {"body", body},
              {"region", o.region},
              {"s3", true},
              {"access_key", c.accessKeyId},
              {"secret_key", c.secretAccessKey},
              {"token", c.sessionToken},
              {"date", formatAmzDate(kDate)}};
}

TEST_F(SigV4Botocore, S3RequestsAgree) {
  const AwsCredentials creds{"AKIDBOTOCORE", "b0t0c0re/Secret+Key=", "", "test"};
  AwsCredentials withToken = creds;
  withToken.sessionToken = "IQoJb3JpZ2luX2VjEXAMPLE//token+with/slashes==";
  S3Options path;
  path.endpoint = "http://127.0.0.1:9000";
  path.bucket = "velero-backups";
  S3Options vhost;
  vhost.endpoint = "http://s3.example.test:8080";
  vhost.bucket = "oadp-dr";
  vhost.pathStyle = false;
  vhost.region = "eu-central-1";

  const std::string utf8Key =
      "dir with spaces/\xC3\xBCn\xC3\xAF\x63\xC3\xB6\x64\xC3\xA9 \xE2\x98\x83.json";
  const std::string reservedKey = "a+b=c&d;e,f:g@h$i!j'k(l)m*n~o%p q.json";
  const std::string token = "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=+";
  const std::string truncated =
      "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>" + token +
      "</NextContinuationToken></ListBucketResult>";
  const std::string done = "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";

  std::vector<Case> cases;
  auto add = [&](std::string name, Json py, HttpRequest ours) {
    cases.push_back({std::move(name), std::move(py), std::move(ours)});
  };
  add("get plain key",
      describe(path, creds, "GET", "velero/backups/nightly-1/nightly-1.tar.gz", Json::array(),
               Json::array()),
      capture(path, creds, [](S3ObjectStore& s) {
        (void)s.get("velero/backups/nightly-1/nightly-1.tar.gz", 10);
      }));
  add("get utf-8 key with spaces",
      describe(path, creds, "GET", utf8Key, Json::array(), Json::array()),
      capture(path, creds, [&](S3ObjectStore& s) { (void)s.get(utf8Key, 10); }));
  add("get key with reserved characters",
      describe(path, creds, "GET", reservedKey, Json::array(), Json::array()),
      capture(path, creds, [&](S3ObjectStore& s) { (void)s.get(reservedKey, 10); }));
  add("ranged get",
      describe(path, creds, "GET", "k", Json::array(), pairs({{"Range", "bytes=100-"}})),
      capture(path, creds,
              [](S3ObjectStore& s) {
                (void)s.get("k", 10, ByteRange{100, std::nullopt});
              },
              {{206, ""}}));
  add("head",
      describe(path, creds, "HEAD", "velero/backups/b/velero-backup.json", Json::array(),
               Json::array()),
      capture(path, creds,
              [](S3ObjectStore& s) { (void)s.head("velero/backups/b/velero-backup.json"); }));
  add("put with body and content type",
      describe(path, creds, "PUT", "velero/backups/b/b.tar.gz", Json::array(),
               pairs({{"Content-Type", "application/gzip"}}), "some body bytes \xE2\x98\x83"),
      capture(path, creds, [](S3ObjectStore& s) {
        (void)s.put("velero/backups/b/b.tar.gz", "some body bytes \xE2\x98\x83",
                    "application/gzip");
      }));
  add("list first page",
      describe(path, creds, "GET", "",
               pairs({{"list-type", "2"},
                      {"max-keys", "3"},
                      {"prefix", "velero/backups/"},
                      {"delimiter", "/"}}),
               Json::array()),
      capture(path, creds,
              [](S3ObjectStore& s) {
                (void)s.list({"velero/backups/", "/", 3});
              },
              {{200, done}}));
  add("list with continuation token containing / + =",
      describe(path, creds, "GET", "",
               pairs({{"list-type", "2"},
                      {"max-keys", "3"},
                      {"prefix", "velero/backups/"},
                      {"delimiter", "/"},
                      {"continuation-token", token}}),
               Json::array()),
      capture(path, creds,
              [](S3ObjectStore& s) {
                (void)s.list({"velero/backups/", "/", 3});
              },
              {{200, truncated}, {200, done}}));
  add("list prefix with space and =",
      describe(path, creds, "GET", "",
               pairs({{"list-type", "2"}, {"max-keys", "1000"}, {"prefix", "odd prefix=/x"}}),
               Json::array()),
      capture(path, creds,
              [](S3ObjectStore& s) {
                (void)s.list({"odd prefix=/x", "", 1000});
              },
              {{200, done}}));
  add("session token", describe(path, withToken, "GET", "k", Json::array(), Json::array()),
      capture(path, withToken, [](S3ObjectStore& s) { (void)s.get("k", 10); }));
  add("virtual-hosted, other region",
      describe(vhost, creds, "GET", "k k/v.json", Json::array(), Json::array()),
      capture(vhost, creds, [](S3ObjectStore& s) { (void)s.get("k k/v.json", 10); }));
  add("virtual-hosted list",
      describe(vhost, creds, "GET", "", pairs({{"list-type", "2"}, {"max-keys", "1000"}}),
               Json::array()),
      capture(vhost, creds,
              [](S3ObjectStore& s) {
                (void)s.list({"", "", 1000});
              },
              {{200, done}}));

  Json input = Json::array();
  for (const auto& c : cases) input.push_back(c.forPython);
  auto out = runBotocore(input);
  ASSERT_TRUE(out.ok()) << out.error().describe();
  ASSERT_EQ(out->size(), cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    const Json& theirs = (*out)[i];
    const HttpRequest& ours = cases[i].ours;
    EXPECT_EQ(requestHeader(ours, "authorization").value_or(""),
              theirs["authorization"].get<std::string>());
    std::string query = theirs["query"].get<std::string>();
    std::string scheme = ours.url.substr(0, ours.url.find("://"));
    EXPECT_EQ(ours.url, scheme + "://" + theirs["host"].get<std::string>() +
                            theirs["path"].get<std::string>() + (query.empty() ? "" : "?" + query));
    EXPECT_EQ(requestHeader(ours, "host").value_or(""), theirs["host"].get<std::string>());
    EXPECT_EQ(requestHeader(ours, "x-amz-content-sha256").value_or(""),
              theirs["content_sha256"].get<std::string>());
  }
}

TEST_F(SigV4Botocore, SignerEdgeCasesAgree) {
  const AwsCredentials creds{"AKIDBOTOCORE", "another/secret+key", "", "test"};
  const std::string date = formatAmzDate(kDate);
  Json input = Json::array();
  std::vector<std::string> ours;

  // UNSIGNED-PAYLOAD over https, and empty query values.
  {
    SigV4Request r;
    r.method = "GET";
    r.path = "/bkt/obj";
    r.query = {{"lifecycle", ""}, {"x", "/a b"}, {"empty", ""}};
    r.payloadHash = std::string(kUnsignedPayload);
    r.headers = {{"host", "s3.example.test"},
                 {"x-amz-content-sha256", std::string(kUnsignedPayload)},
                 {"x-amz-date", date}};
    auto s = signV4(r, creds, {"us-west-2", "s3", false}, date);
    ASSERT_TRUE(s.ok());
    ours.push_back(s->authorization);
    input.push_back({{"method", "GET"},
                     {"endpoint", "https://s3.example.test"},
                     {"bucket", "bkt"},
                     {"key", "obj"},
                     {"params", pairs({{"lifecycle", ""}, {"x", "/a b"}, {"empty", ""}})},
                     {"region", "us-west-2"},
                     {"unsigned_payload", true},
                     {"access_key", creds.accessKeyId},
                     {"secret_key", creds.secretAccessKey},
                     {"date", date}});
  }
  // Generic (non-S3) SigV4: the path is normalised, headers trimmed.
  {
    SigV4Request r;
    r.method = "POST";
    r.path = "/a/./b/../c//d";
    r.payloadHash = sha256Hex("Action=ListUsers&Version=2010-05-08");
    r.headers = {{"host", "iam.example.test"},
                 {"x-amz-date", date},
                 {"Content-Type", "application/x-www-form-urlencoded;  charset=utf-8"}};
    auto s = signV4(r, creds, {"us-east-1", "iam", true}, date);
    ASSERT_TRUE(s.ok());
    ours.push_back(s->authorization);
    input.push_back({{"method", "POST"},
                     {"endpoint", "http://iam.example.test"},
                     {"path", "/a/./b/../c//d"},
                     {"s3", false},
                     {"service", "iam"},
                     {"region", "us-east-1"},
                     {"headers", pairs({{"Content-Type",
                                         "application/x-www-form-urlencoded;  charset=utf-8"}})},
                     {"body", "Action=ListUsers&Version=2010-05-08"},
                     {"access_key", creds.accessKeyId},
                     {"secret_key", creds.secretAccessKey},
                     {"date", date}});
  }
  auto out = runBotocore(input);
  ASSERT_TRUE(out.ok()) << out.error().describe();
  ASSERT_EQ(out->size(), ours.size());
  for (std::size_t i = 0; i < ours.size(); ++i)
    EXPECT_EQ(ours[i], (*out)[i]["authorization"].get<std::string>()) << "case " << i;
}

}  // namespace
}  // namespace ocpvdr::s3
