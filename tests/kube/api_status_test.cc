// Status bodies recorded from a real API server decode into the right ErrorKind and message.
#include "kube/api_status.h"

#include <gtest/gtest.h>

#include "core/files.h"
#include "core/json_util.h"
#include "support/temp_dir.h"

namespace ocpvdr::kube {
namespace {

std::string fixture(const std::string& name) {
  auto text = readFile(ocpvdr::testing::fixturePath("kube-api/" + name).string());
  EXPECT_TRUE(text.ok()) << name;
  return text.valueOr("");
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(ApiStatus, RecordedFixturesMapToKindsAndMessages) {
  struct Case {
    const char* file;
    int code;
    ErrorKind kind;
    const char* reason;
    std::vector<std::string> mustContain;
  };
  const Case cases[] = {
      {"status_401.json",
       401,
       ErrorKind::Refused,
       "Unauthorized",
       {"unauthorized", "Unauthorized"}},
      {"status_403.json",
       403,
       ErrorKind::Refused,
       "Forbidden",
       {"forbidden", "cannot list resource \"persistentvolumes\""}},
      {"status_404.json",
       404,
       ErrorKind::NotFound,
       "NotFound",
       {"persistentvolumes \"nope\" not found"}},
      {"status_409_exists.json", 409, ErrorKind::Conflict, "AlreadyExists", {"already exists"}},
      {"status_409_conflict.json", 409, ErrorKind::Conflict, "Conflict", {"has been modified"}},
      {"status_410_list_expired.json",
       410,
       ErrorKind::Retryable,
       "Expired",
       {"expired", "too old"}},
      {"status_422.json",
       422,
       ErrorKind::Invalid,
       "Invalid",
       {"\"Bad_Name\" is invalid", "causes:", "metadata.name: Invalid value",
        "spec.accessModes: Required value", "spec: Required value: must specify a volume type"}},
  };
  for (const auto& c : cases) {
    const std::string body = fixture(c.file);
    auto parsed = parseJson(body, c.file);
    ASSERT_TRUE(parsed.ok()) << c.file;
    auto st = parseApiStatus(*parsed);
    ASSERT_TRUE(st.has_value()) << c.file;
    EXPECT_EQ(st->code, c.code) << c.file;
    EXPECT_EQ(st->reason, c.reason) << c.file;

    Error e = errorFromResponse(c.code, body, "GET /api/v1/persistentvolumes/x");
    EXPECT_EQ(e.kind, c.kind) << c.file << ": " << e.describe();
    EXPECT_EQ(statusCode(e), c.code) << c.file;
    EXPECT_EQ(statusReason(e), c.reason) << c.file;
    EXPECT_TRUE(contains(e.message, "GET /api/v1/persistentvolumes/x: ")) << e.message;
    for (const auto& part : c.mustContain) {
      EXPECT_TRUE(contains(e.message, part))
          << c.file << ": missing \"" << part << "\" in " << e.message;
    }
  }
}

TEST(ApiStatus, HelpersDistinguishConflictFromAlreadyExistsAndSurviveWrap) {
  Error exists = errorFromResponse(409, fixture("status_409_exists.json"), "POST x");
  Error conflict = errorFromResponse(409, fixture("status_409_conflict.json"), "PUT x");
  Error expired = errorFromResponse(410, fixture("status_410_list_expired.json"), "GET x");
  Error notFound = errorFromResponse(404, fixture("status_404.json"), "GET x");
  EXPECT_TRUE(isAlreadyExists(exists));
  EXPECT_FALSE(isConflict(exists));
  EXPECT_TRUE(isConflict(conflict));
  EXPECT_FALSE(isAlreadyExists(conflict));
  EXPECT_TRUE(isExpired(expired));
  EXPECT_FALSE(isExpired(conflict));
  EXPECT_TRUE(isNotFound(notFound));
  Error wrapped = exists.wrap("restoring pv-1");
  EXPECT_TRUE(isAlreadyExists(wrapped));
  EXPECT_EQ(wrapped.kind, ErrorKind::Conflict);
  // A plain error without the tag says nothing.
  EXPECT_EQ(statusCode(conflictError("x")), 0);
  EXPECT_EQ(statusReason(conflictError("x [status]")), "");
}

TEST(ApiStatus, NonStatusBodiesGiveCodeAndExcerpt) {
  const std::string html =
      "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
      "Gateway</h1></center><hr><center>nginx</center></body></html>";
  Error e = errorFromResponse(502, html, "GET /api/v1/persistentvolumes");
  EXPECT_EQ(e.kind, ErrorKind::Retryable);
  EXPECT_TRUE(contains(e.message, "HTTP 502")) << e.message;
  EXPECT_TRUE(contains(e.message, "not a Kubernetes Status")) << e.message;
  EXPECT_TRUE(contains(e.message, "502 Bad Gateway")) << e.message;
  EXPECT_EQ(statusCode(e), 502);

  Error longBody = errorFromResponse(403, std::string(5000, 'x'), "GET y");
  EXPECT_EQ(longBody.kind, ErrorKind::Refused);
  EXPECT_LT(longBody.message.size(), 400u) << "excerpt is bounded";

  Error empty = errorFromResponse(503, "", "GET y");
  EXPECT_EQ(empty.kind, ErrorKind::Retryable);
  EXPECT_TRUE(contains(empty.message, "HTTP 503 with an empty body")) << empty.message;

  EXPECT_EQ(errorFromResponse(429, "", "x").kind, ErrorKind::Retryable);
  EXPECT_EQ(errorFromResponse(500, "{}", "x").kind, ErrorKind::Retryable);
  EXPECT_EQ(errorFromResponse(415, "", "x").kind, ErrorKind::Invalid);
  EXPECT_EQ(errorFromResponse(302, "", "x").kind, ErrorKind::Terminal);
  // A JSON body that is not a Status is treated like any other body.
  Error notStatus = errorFromResponse(500, R"({"kind":"Pod"})", "x");
  EXPECT_TRUE(contains(notStatus.message, "not a Kubernetes Status"));
}

}  // namespace
}  // namespace ocpvdr::kube
