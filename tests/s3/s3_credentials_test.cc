// The OADP cloud-credentials file format, the environment fallback, and secret hygiene.
#include <gtest/gtest.h>

#include <map>

#include "core/log.h"
#include "s3/s3_credentials.h"
#include "support/temp_dir.h"

namespace ocpvdr::s3 {
namespace {

EnvLookup envOf(std::map<std::string, std::string> vars) {
  return [vars](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// What OADP documents for its cloud-credentials secret, with the usual clutter around it.
const char* kOadpFile =
    "# written by the OADP operator\r\n"
    "[default]\r\n"
    "aws_access_key_id=AKIAOADPEXAMPLE\r\n"
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYOADPKEY==\r\n"
    "region = us-east-2\r\n"
    "\r\n"
    "; a second profile\r\n"
    "[profile backup-writer]\n"
    "AWS_ACCESS_KEY_ID = AKIAWRITER\n"
    "aws_secret_access_key = writer-secret\n"
    "aws_session_token = FwoGZXIvYXdzEXAMPLETOKEN+/=\n";

TEST(S3Credentials, ParsesTheOadpFileAndProfiles) {
  auto d = parseCredentialsFile(kOadpFile, "default", "/creds/cloud");
  ASSERT_TRUE(d.ok()) << d.error().describe();
  EXPECT_EQ(d->accessKeyId, "AKIAOADPEXAMPLE");
  EXPECT_EQ(d->secretAccessKey, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYOADPKEY==");
  EXPECT_EQ(d->sessionToken, "");
  EXPECT_EQ(d->source, "/creds/cloud [default]");

  auto w = parseCredentialsFile(kOadpFile, "backup-writer", "/creds/cloud");
  ASSERT_TRUE(w.ok()) << w.error().describe();
  EXPECT_EQ(w->accessKeyId, "AKIAWRITER");
  EXPECT_EQ(w->sessionToken, "FwoGZXIvYXdzEXAMPLETOKEN+/=");
}

TEST(S3Credentials, ErrorsNameTheLineButNeverTheSecret) {
  struct Case {
    std::string text, profile, needle;
  };
  const std::vector<Case> cases = {
      {"[default]\naws_access_key_id = A\n", "default", "are both required"},
      {"[default]\naws_access_key_id = A\naws_secret_access_key = s3cr3tvalue\n", "prod",
       "no [prod] profile (profiles present: default)"},
      {"aws_access_key_id = A\n", "default", "line 1: `aws_access_key_id` outside any [section]"},
      {"[default]\nthis line is s3cr3tvalue garbage\n", "default",
       "line 2: expected `key = value`"},
      {"[default\n", "default", "line 1: section header lacks ']'"},
      {"[default]\n[default]\n", "default", "line 2: section [default] appears twice"},
      {"[default]\naws_secret_access_key=s3cr3tvalue\naws_secret_access_key=s3cr3tvalue\n",
       "default", "line 3: `aws_secret_access_key` set twice"},
      {"[]\n", "default", "empty section name"},
      {"", "default", "profiles present: none"},
  };
  for (const auto& c : cases) {
    auto r = parseCredentialsFile(c.text, c.profile, "cloud-credentials");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
    EXPECT_EQ(r.error().message.find("s3cr3tvalue"), std::string::npos) << r.error().message;
  }
}

TEST(S3Credentials, FileIsPreferredOverTheEnvironment) {
  testing::TempDir dir;
  auto file = dir.write("cloud", kOadpFile);
  auto env = envOf({{"AWS_ACCESS_KEY_ID", "ENVKEY"}, {"AWS_SECRET_ACCESS_KEY", "envsecret"}});
  auto r = loadCredentials(file.string(), "default", env);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->accessKeyId, "AKIAOADPEXAMPLE");

  // No silent fallback when the configured file is missing.
  auto missing = loadCredentials((dir / "nope").string(), "default", env);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
  EXPECT_NE(missing.error().message.find("backup_store.credentials_file"), std::string::npos);
}

TEST(S3Credentials, EnvironmentWhenNoFileIsConfigured) {
  auto r = loadCredentials("", "default",
                           envOf({{"AWS_ACCESS_KEY_ID", "ENVKEY"},
                                  {"AWS_SECRET_ACCESS_KEY", "envsecret-value"},
                                  {"AWS_SESSION_TOKEN", "envtoken-value"}}));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->accessKeyId, "ENVKEY");
  EXPECT_EQ(r->secretAccessKey, "envsecret-value");
  EXPECT_EQ(r->sessionToken, "envtoken-value");

  auto none = loadCredentials("", "default", envOf({{"AWS_ACCESS_KEY_ID", "ONLYKEY"}}));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind, ErrorKind::Invalid);
  EXPECT_NE(none.error().message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
}

TEST(S3Credentials, LoadedSecretsAreMaskedInLogs) {
  auto r = parseCredentialsFile(
      "[default]\naws_access_key_id=AKIDLOG\n"
      "aws_secret_access_key=very-secret-credential-42\n"
      "aws_session_token=session-token-credential-43\n",
      "default", "f");
  ASSERT_TRUE(r.ok());
  std::string line = log::redact("using very-secret-credential-42 and session-token-credential-43");
  EXPECT_EQ(line.find("very-secret-credential-42"), std::string::npos) << line;
  EXPECT_EQ(line.find("session-token-credential-43"), std::string::npos) << line;
}

}  // namespace
}  // namespace ocpvdr::s3
