// AWS Signature Version 4 (AWS4-HMAC-SHA256) for the Authorization header, computed with OpenSSL.
//
// The signer is a pure function of the request, the credentials, the scope and the timestamp, so it
// is proven with known answers (AWS's published S3 examples, the aws-sig-v4-test-suite) and against
// botocore as an independent signer (tests/s3). Callers give the request *unencoded*: the
// path as the object key reads ("/bucket/my file.txt") and the query as decoded key/value pairs;
// the signer produces both the canonical form and the encoded path and query to put on the wire,
// so what is signed is exactly what is sent.
//
// S3 differs from the generic algorithm in one place: it neither normalises the path nor encodes
// it twice. `normalizePath` selects the generic behaviour (used by the test-suite vectors only).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/http.h"
#include "core/result.h"

namespace ocpvdr::s3 {

// Secrets are registered with log::addSecret() by whoever loads them (s3_credentials.h).
struct AwsCredentials {
  std::string accessKeyId;
  std::string secretAccessKey;
  std::string sessionToken;  // empty: long-term keys
  std::string source;        // where they came from, for messages ("file /etc/...[default]", "env")
};

using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct SigV4Request {
  std::string method = "GET";
  std::string path = "/";  // unencoded, starts with '/'
  QueryParams query;       // unencoded; order irrelevant; empty values allowed
  HttpHeaders headers;     // every header to sign, host included; names in any case
  // Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
  std::string payloadHash;
};

struct SigV4Scope {
  std::string region = "us-east-1";
  std::string service = "s3";
  bool normalizePath = false;  // generic SigV4 only; S3 signs the path as sent
};

struct SigV4Result {
  std::string canonicalRequest;
  std::string stringToSign;
  std::string signedHeaders;  // "host;range;x-amz-content-sha256;x-amz-date"
  std::string signature;      // lower-case hex
  std::string authorization;  // the Authorization header value
  std::string encodedPath;    // canonical URI, also the path to send
  std::string encodedQuery;   // canonical query string, also the query to send
};

// Signs. amzDate is the x-amz-date value ("20130524T000000Z"); the caller puts the same value in
// the x-amz-date header it signs. Invalid: malformed date, empty method or credentials, a path
// not starting with '/', header names that are not HTTP tokens, header values with CR/LF/NUL.
[[nodiscard]] Result<SigV4Result> signV4(const SigV4Request& req, const AwsCredentials& creds,
                                         const SigV4Scope& scope, std::string_view amzDate);

// The pieces, exposed for tests and for the S3 client.
// AWS URI encoding: unreserved A-Z a-z 0-9 - _ . ~ kept, every other byte %XX (upper-case);
// '/' kept only when keepSlash (paths), never in query keys or values.
std::string awsUriEncode(std::string_view s, bool keepSlash);
std::string canonicalUri(std::string_view path, bool normalizePath);
// Encodes each key and value, sorts by encoded key then encoded value, writes empty values "k=".
std::string canonicalQueryString(const QueryParams& query);
std::string sha256Hex(std::string_view data);
std::string hmacSha256(std::string_view key, std::string_view data);  // raw 32 bytes
std::string hexEncode(std::string_view bytes);
// "20130524T000000Z" for a time point (UTC, seconds).
std::string formatAmzDate(SystemTime t);

inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kEmptyPayloadSha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

}  // namespace ocpvdr::s3
