// S3ObjectStore: ObjectStore over the S3 REST API (ListObjectsV2, GET, HEAD, PUT), SigV4-signed,
// through the injected HttpClient, with retries paced by the injected Clock.
//
// Addressing: path-style `endpoint/bucket/key` (the default, what OADP's s3ForcePathStyle and
// MinIO/Ceph/s3rver use) or virtual-hosted `bucket.endpoint/key`. Every request is signed with
// x-amz-date, x-amz-content-sha256 (the hex SHA-256 of the body; empty bodies hash to the
// well-known constant) and x-amz-security-token when the credentials carry one; the Host header is
// set explicitly so the signed host is the sent host.
//
// Errors: the S3 Error document is decoded (Code/Message) and mapped in one table
// (s3ErrorKind): NoSuchKey/NoSuchBucket → NotFound; AccessDenied, InvalidAccessKeyId,
// SignatureDoesNotMatch, expired tokens, clock skew → Refused with what the operator should check;
// SlowDown/InternalError/503/500/429 and transport failures → Retryable and retried with
// exponential backoff (Retry-After honoured) up to maxAttempts; the rest Terminal or Invalid.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"
#include "core/clock.h"
#include "core/http.h"
#include "s3/object_store.h"
#include "s3/s3_xml.h"
#include "s3/sigv4.h"

namespace ocpvdr::s3 {

struct S3Options {
  std::string endpoint;  // http(s)://host[:port][/base]; empty: https://s3.<region>.amazonaws.com
  std::string region = "us-east-1";
  std::string bucket;
  bool pathStyle = true;
  int maxAttempts = 5;                 // per request, the first try included
  Millis initialBackoff{200};          // doubles per retry ...
  Millis maxBackoff{20'000};           // ... up to this
  Millis requestTimeout{60'000};       // list/head/small get/put
  Millis transferTimeout{0};           // getToFile/putFile total; 0: none (low-speed guard only)
  Millis lowSpeedTime{60'000};         // abort a transfer stalled this long
  std::size_t maxListPages = 100'000;  // runaway guard
  std::size_t maxErrorBodyBytes = 64 * 1024;
  std::size_t maxListPageBytes = 32 * 1024 * 1024;
  // getToFile: a download (a backup tarball) that passes this is cancelled and Invalid, so a
  // hostile or misconfigured endpoint cannot fill the DR host's disk. The tarball reader's own
  // decompressed cap (TarballOptions::maxTotalBytes, 4 GiB) bounds what could be read anyway.
  std::int64_t maxDownloadBytes = 4LL << 30;
};

// From the configuration (backup_store.*). Invalid when the bucket is empty.
[[nodiscard]] Result<S3Options> s3OptionsFromConfig(const config::BackupStore& store);
// The TLS settings the HttpClient for the store must be built with (custom CA bundle, skip-verify).
TlsOptions tlsOptionsFromConfig(const config::BackupStore& store);

// How an S3 error code (or, without one, an HTTP status) is classified; exposed for tests.
ErrorKind s3ErrorKind(std::string_view code, int httpStatus);

class S3ObjectStore final : public ObjectStore {
 public:
  // Invalid for a malformed endpoint or bucket name (checked here so requests cannot fail on it).
  [[nodiscard]] static Result<std::unique_ptr<S3ObjectStore>> create(S3Options options,
                                                                     AwsCredentials credentials,
                                                                     HttpClient& http,
                                                                     Clock& clock);

  Result<ListResult> list(const ListRequest& req, std::stop_token stop = {}) override;
  Result<ObjectInfo> head(const std::string& key, std::stop_token stop = {}) override;
  Result<std::string> get(const std::string& key, std::size_t maxBytes,
                          std::optional<ByteRange> range = std::nullopt,
                          std::stop_token stop = {}) override;
  Result<ObjectInfo> getToFile(const std::string& key, const std::string& path,
                               std::optional<ByteRange> range = std::nullopt,
                               std::stop_token stop = {}) override;
  Status put(const std::string& key, std::string_view data,
             const std::string& contentType = "application/octet-stream",
             std::stop_token stop = {}) override;
  Status putFile(const std::string& key, const std::string& path,
                 const std::string& contentType = "application/octet-stream",
                 std::stop_token stop = {}) override;
  std::string describe() const override;

  // Creates the bucket (tests and the demo); Conflict when it exists and is owned by someone else.
  [[nodiscard]] Status createBucket(std::stop_token stop = {});

  struct Endpoint {
    std::string scheme;    // http | https
    std::string host;      // lower-case; IPv6 literals keep their brackets
    int port = 0;          // 0: scheme default
    std::string basePath;  // "" or "/base" (no trailing slash)
  };

 private:
  struct Call;
  S3ObjectStore(S3Options options, Endpoint endpoint, AwsCredentials credentials, HttpClient& http,
                Clock& clock);
  Result<HttpResponse> call(Call& c, std::stop_token stop);
  Result<ListObjectsPage> listPage(const ListRequest& req, const std::string& token,
                                   std::stop_token stop);
  std::string objectPath(const std::string& key) const;  // unencoded request path
  std::string hostHeader() const;
  std::string baseUrl() const;  // scheme://authority

  S3Options opt_;
  Endpoint ep_;
  AwsCredentials creds_;
  HttpClient& http_;
  Clock& clock_;
};

}  // namespace ocpvdr::s3
