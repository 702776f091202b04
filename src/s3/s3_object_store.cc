// S3 REST client over HttpClient with SigV4 and retries (see s3_object_store.h).
#include "s3/s3_object_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/log.h"
#include "core/text.h"

namespace ocpvdr::s3 {
namespace {

bool isUnreservedOrSlash(char c) {
  auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/';
}

Result<S3ObjectStore::Endpoint> parseEndpoint(std::string_view url) {
  S3ObjectStore::Endpoint ep;
  const std::string what = "backup_store.endpoint \"" + std::string(url) + "\"";
  std::string lowered = lowerAscii(url.substr(0, 8));
  std::string_view rest;
  if (lowered.rfind("https://", 0) == 0) {
    ep.scheme = "https";
    rest = url.substr(8);
  } else if (lowered.rfind("http://", 0) == 0) {
    ep.scheme = "http";
    rest = url.substr(7);
  } else {
    return invalidError(what + ": must start with http:// or https://");
  }
  if (rest.find_first_of("?#") != std::string_view::npos)
    return invalidError(what + ": must not contain a query or fragment");
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos)
    return invalidError(what +
                        ": credentials in the URL are not supported; use "
                        "backup_store.credentials_file");
  std::string_view portText;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return invalidError(what + ": unterminated IPv6 address");
    ep.host = lowerAscii(authority.substr(0, close + 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalidError(what + ": junk after the IPv6 address");
      portText = after.substr(1);
      if (portText.empty()) return invalidError(what + ": empty port");
    }
  } else {
    auto colon = authority.find(':');
    ep.host = lowerAscii(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      portText = authority.substr(colon + 1);
      if (portText.empty()) return invalidError(what + ": empty port");
    }
    if (!std::all_of(ep.host.begin(), ep.host.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
        }))
      return invalidError(what + ": invalid host name");
  }
  if (ep.host.empty()) return invalidError(what + ": no host");
  if (!portText.empty()) {
    int port = 0;
    auto [p, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
    if (ec != std::errc() || p != portText.data() + portText.size() || port < 1 || port > 65535)
      return invalidError(what + ": port must be 1..65535");
    ep.port = port;
  }
  if (!std::all_of(path.begin(), path.end(), isUnreservedOrSlash))
    return invalidError(what + ": the path may only hold letters, digits, '-', '_', '.', '~', '/'");
  std::string base(path);
  while (!base.empty() && base.back() == '/') base.pop_back();
  ep.basePath = base;
  return ep;
}

Status validateBucket(const std::string& bucket, bool pathStyle) {
  if (bucket.empty()) return invalidError("backup_store.bucket is empty");
  auto ok = [&](char c) {
    auto u = static_cast<unsigned char>(c);
    if (pathStyle) return std::isalnum(u) || c == '.' || c == '-' || c == '_';
    return std::islower(u) || std::isdigit(u) || c == '.' || c == '-';
  };
  if (!std::all_of(bucket.begin(), bucket.end(), ok) || bucket.size() > 255 ||
      (!pathStyle && (bucket.size() < 3 || bucket.size() > 63)))
    return invalidError("backup_store.bucket \"" + bucket + "\" is not a valid bucket name" +
                        (pathStyle ? "" : " for virtual-hosted addressing (lower-case DNS name)"));
  return Status::success();
}

// Keys reach the wire as URL paths; HTTP clients rewrite "." and ".." segments, which would
// silently address another object.
Status validateKey(const std::string& key) {
  if (key.empty()) return invalidError("object key is empty");
  if (key.size() > 1024) return invalidError("object key longer than 1024 bytes");
  for (char c : key)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return invalidError("object key \"" + key + "\" contains a control character");
  std::size_t i = 0;
  while (i <= key.size()) {
    std::size_t j = key.find('/', i);
    if (j == std::string::npos) j = key.size();
    std::string_view seg(key.data() + i, j - i);
    if (seg == "." || seg == "..")
      return invalidError("object key \"" + key + "\" has a \".\" or \"..\" segment");
    i = j + 1;
  }
  return Status::success();
}

std::string printableSnippet(std::string_view body, std::size_t max = 200) {
  std::string out;
  for (char c : body.substr(0, max)) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : ' ';
  }
  if (body.size() > max) out += "...";
  return out;
}

std::optional<std::int64_t> parseInt(std::string_view s) {
  std::int64_t v = 0;
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

std::string stripQuotes(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

Result<std::string> sha256File(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return (errno == ENOENT ? notFoundError
                            : terminalError)("cannot read " + path + ": " + std::strerror(errno));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::string buf(1 << 16, '\0');
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      EVP_MD_CTX_free(ctx);
      return terminalError("reading " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  return hexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

}  // namespace

// The one place S3 error codes are classified. Codes first (they are precise), then the status.
ErrorKind s3ErrorKind(std::string_view code, int httpStatus) {
  static const std::set<std::string_view> kNotFound = {"NoSuchKey", "NoSuchBucket", "NoSuchVersion",
                                                       "NoSuchUpload"};
  // Credentials, permissions, clock and region problems: retrying cannot help, the operator must
  // fix something, and the message says what.
  static const std::set<std::string_view> kRefused = {
      "AccessDenied",          "InvalidAccessKeyId",
      "SignatureDoesNotMatch", "ExpiredToken",
      "InvalidToken",          "TokenRefreshRequired",
      "RequestTimeTooSkewed",  "AccountProblem",
      "AllAccessDisabled",     "AuthorizationHeaderMalformed",
      "InvalidSecurity"};
  // Throttling and server-side trouble: retry with backoff.
  static const std::set<std::string_view> kRetryable = {"SlowDown",
                                                        "InternalError",
                                                        "ServiceUnavailable",
                                                        "RequestTimeout",
                                                        "Throttling",
                                                        "ThrottlingException",
                                                        "RequestLimitExceeded",
                                                        "TooManyRequests",
                                                        "TooManyRequestsException",
                                                        "RequestThrottled",
                                                        "BandwidthLimitExceeded",
                                                        "OperationAborted"};
  static const std::set<std::string_view> kInvalid = {
      "InvalidRange", "InvalidArgument", "InvalidBucketName", "KeyTooLongError",
      "MalformedXML", "InvalidRequest",  "InvalidURI",        "MissingContentLength"};
  static const std::set<std::string_view> kConflict = {"BucketAlreadyExists", "BucketNotEmpty"};
  if (!code.empty()) {
    if (kNotFound.count(code)) return ErrorKind::NotFound;
    if (kRefused.count(code)) return ErrorKind::Refused;
    if (kRetryable.count(code)) return ErrorKind::Retryable;
    if (kInvalid.count(code)) return ErrorKind::Invalid;
    if (kConflict.count(code)) return ErrorKind::Conflict;
  }
  if (httpStatus == 404) return ErrorKind::NotFound;
  if (httpStatus == 401 || httpStatus == 403) return ErrorKind::Refused;
  if (httpStatus == 408 || httpStatus == 429) return ErrorKind::Retryable;
  if (httpStatus >= 500 && httpStatus != 501) return ErrorKind::Retryable;
  if (httpStatus == 409) return ErrorKind::Conflict;
  if (httpStatus == 400 || httpStatus == 416) return ErrorKind::Invalid;
  return ErrorKind::Terminal;
}

Result<S3Options> s3OptionsFromConfig(const config::BackupStore& store) {
  if (store.bucket.empty()) return invalidError("backup_store.bucket is not set");
  S3Options o;
  o.endpoint = store.endpoint;
  o.region = store.region.empty() ? "us-east-1" : store.region;
  o.bucket = store.bucket;
  o.pathStyle = store.pathStyle;
  return o;
}

TlsOptions tlsOptionsFromConfig(const config::BackupStore& store) {
  TlsOptions t;
  t.caFile = store.caFile;
  t.insecureSkipVerify = store.insecureSkipTlsVerify;
  return t;
}

struct S3ObjectStore::Call {
  std::string method = "GET";
  std::string path;  // unencoded
  QueryParams query;
  HttpHeaders headers;  // extra headers, signed
  std::string body;
  std::string bodyFile;
  std::string payloadHash{kEmptyPayloadSha256};
  Millis timeout{60'000};
  Millis lowSpeedTime{0};
  // Streaming: reset before each attempt, sink for 2xx body chunks (false cancels).
  std::function<void()> reset;
  std::function<bool(std::string_view)> sink;
  // Checks a 2xx response; an error returned here is treated like a failed attempt.
  std::function<std::optional<Error>(const HttpResponse&)> check;
  std::string what;  // "GET s3://bucket/key"
  int attempts = 0;  // out: how many were made
};

Result<std::unique_ptr<S3ObjectStore>> S3ObjectStore::create(S3Options options,
                                                             AwsCredentials credentials,
                                                             HttpClient& http, Clock& clock) {
  if (options.endpoint.empty())
    options.endpoint = "https://s3." + options.region + ".amazonaws.com";
  OCPVDR_ASSIGN_OR_RETURN(Endpoint ep, parseEndpoint(options.endpoint));
  OCPVDR_TRY(validateBucket(options.bucket, options.pathStyle));
  if (options.region.empty()) return invalidError("backup_store.region is empty");
  if (options.maxAttempts < 1) options.maxAttempts = 1;
  if (credentials.accessKeyId.empty() || credentials.secretAccessKey.empty())
    return invalidError("S3 credentials are incomplete (access key id and secret required)");
  return std::unique_ptr<S3ObjectStore>(
      new S3ObjectStore(std::move(options), std::move(ep), std::move(credentials), http, clock));
}

S3ObjectStore::S3ObjectStore(S3Options options, Endpoint endpoint, AwsCredentials credentials,
                             HttpClient& http, Clock& clock)
    : opt_(std::move(options)),
      ep_(std::move(endpoint)),
      creds_(std::move(credentials)),
      http_(http),
      clock_(clock) {}

std::string S3ObjectStore::describe() const {
  return "s3://" + opt_.bucket + " at " + opt_.endpoint;
}

std::string S3ObjectStore::hostHeader() const {
  std::string host = opt_.pathStyle ? ep_.host : opt_.bucket + "." + ep_.host;
  bool defaultPort = ep_.port == 0 || (ep_.scheme == "http" && ep_.port == 80) ||
                     (ep_.scheme == "https" && ep_.port == 443);
  if (!defaultPort) host += ":" + std::to_string(ep_.port);
  return host;
}

std::string S3ObjectStore::baseUrl() const {
  return ep_.scheme + "://" + hostHeader();
}

std::string S3ObjectStore::objectPath(const std::string& key) const {
  std::string p = ep_.basePath;
  if (opt_.pathStyle) p += "/" + opt_.bucket;
  p += "/";
  p += key;
  return p;
}

namespace {

std::string hintFor(std::string_view code, int status, const std::string& bucket,
                    const std::string& region, const std::string& credSource) {
  if (code == "AccessDenied" || (code.empty() && status == 403))
    return "; check that the credentials from " + credSource + " may list and read bucket \"" +
           bucket + "\" (s3:ListBucket, s3:GetObject) and the bucket policy";
  if (code == "InvalidAccessKeyId")
    return "; the access key id from " + credSource +
           " is unknown to this endpoint: check backup_store.credentials_file and "
           "backup_store.profile";
  if (code == "SignatureDoesNotMatch")
    return "; the secret access key from " + credSource +
           " does not match its key id (or a proxy rewrote the request): check the secret and "
           "backup_store.region (\"" +
           region + "\")";
  if (code == "ExpiredToken" || code == "InvalidToken" || code == "TokenRefreshRequired")
    return "; the session token from " + credSource + " is expired or invalid: refresh it";
  if (code == "RequestTimeTooSkewed")
    return "; this host's clock is more than 15 minutes off the endpoint's: fix time sync (NTP)";
  if (code == "AuthorizationHeaderMalformed" || code == "PermanentRedirect" || status == 301)
    return "; the bucket is in another region or behind another endpoint: check "
           "backup_store.region (\"" +
           region + "\") and backup_store.endpoint";
  if (code == "NoSuchBucket") return "; check backup_store.bucket and backup_store.endpoint";
  return "";
}

}  // namespace

Result<HttpResponse> S3ObjectStore::call(Call& c, std::stop_token stop) {
  for (int attempt = 1;; ++attempt) {
    c.attempts = attempt;
    if (c.reset) c.reset();
    const std::string amzDate = formatAmzDate(clock_.now());
    SigV4Request sreq;
    sreq.method = c.method;
    sreq.path = c.path;
    sreq.query = c.query;
    sreq.payloadHash = c.payloadHash;
    sreq.headers = {
        {"host", hostHeader()}, {"x-amz-content-sha256", c.payloadHash}, {"x-amz-date", amzDate}};
    if (!creds_.sessionToken.empty())
      sreq.headers.emplace_back("x-amz-security-token", creds_.sessionToken);
    sreq.headers.insert(sreq.headers.end(), c.headers.begin(), c.headers.end());
    auto signedReq = signV4(sreq, creds_, SigV4Scope{opt_.region, "s3", false}, amzDate);
    if (!signedReq.ok()) return signedReq.error().wrap(c.what);

    HttpRequest req;
    req.method = c.method;
    req.url = baseUrl() + signedReq->encodedPath +
              (signedReq->encodedQuery.empty() ? "" : "?" + signedReq->encodedQuery);
    req.headers = sreq.headers;
    req.headers.emplace_back("authorization", signedReq->authorization);
    req.body = c.body;
    req.bodyFile = c.bodyFile;
    req.timeout = c.timeout;
    req.lowSpeedTime = c.lowSpeedTime;

    int status = 0;
    std::string errorBody;
    if (c.sink) {
      req.onHeaders = [&status](int st, const HttpHeaders&) { status = st; };
      req.onBody = [&](std::string_view chunk) {
        if (status >= 200 && status < 300) return c.sink(chunk);
        std::size_t room =
            opt_.maxErrorBodyBytes - std::min(opt_.maxErrorBodyBytes, errorBody.size());
        errorBody.append(chunk.substr(0, room));
        return true;
      };
    }

    auto sent = http_.send(req, stop);
    std::optional<Error> failure;
    Millis retryAfter{0};
    if (!sent.ok()) {
      failure = sent.error().wrap(c.what);
    } else {
      HttpResponse& resp = sent.value();
      if (resp.status >= 200 && resp.status < 300) {
        std::optional<Error> bad = c.check ? c.check(resp) : std::nullopt;
        if (!bad) return std::move(sent).value();
        failure = bad->wrap(c.what);
      } else {
        const std::string& body = c.sink ? errorBody : resp.body;
        S3ErrorBody decoded;
        std::string detail;
        if (!body.empty()) {
          auto parsed = parseS3Error(body);
          if (parsed.ok()) {
            decoded = std::move(parsed).value();
          } else {
            detail = "unexpected response body: " + printableSnippet(body);
          }
        }
        std::string text = c.what + ": HTTP " + std::to_string(resp.status);
        if (!decoded.code.empty()) text += " " + decoded.code;
        if (!decoded.message.empty()) text += ": " + decoded.message;
        if (!detail.empty()) text += ": " + detail;
        if (!decoded.requestId.empty()) text += " (request id " + decoded.requestId + ")";
        text += hintFor(decoded.code, resp.status, opt_.bucket, opt_.region, creds_.source);
        failure = Error{s3ErrorKind(decoded.code, resp.status), text};
        if (auto ra = resp.header("retry-after")) {
          if (auto secs = parseInt(*ra))
            retryAfter = Millis(std::min<std::int64_t>(*secs, 300) * 1000);
        }
      }
    }

    if (failure->kind != ErrorKind::Retryable || attempt >= opt_.maxAttempts ||
        stop.stop_requested()) {
      if (failure->kind == ErrorKind::Retryable && attempt > 1)
        failure->message += " (gave up after " + std::to_string(attempt) + " attempts)";
      return *failure;
    }
    Millis backoff = opt_.initialBackoff;
    for (int i = 1; i < attempt && backoff < opt_.maxBackoff; ++i) backoff *= 2;
    backoff = std::min(backoff, opt_.maxBackoff);
    backoff = std::max(backoff, retryAfter);
    log::warn("S3 request failed; retrying", {{"request", c.what},
                                              {"attempt", attempt},
                                              {"backoff_ms", backoff.count()},
                                              {"error", failure->message}});
    if (!clock_.sleepFor(backoff, stop)) return failure->wrap("cancelled while waiting to retry");
  }
}

Result<ListObjectsPage> S3ObjectStore::listPage(const ListRequest& req, const std::string& token,
                                                std::stop_token stop) {
  Call c;
  c.method = "GET";
  c.path = ep_.basePath + (opt_.pathStyle ? "/" + opt_.bucket : "/");
  c.query = {{"list-type", "2"}, {"max-keys", std::to_string(req.maxKeys)}};
  if (!req.prefix.empty()) c.query.emplace_back("prefix", req.prefix);
  if (!req.delimiter.empty()) c.query.emplace_back("delimiter", req.delimiter);
  if (!token.empty()) c.query.emplace_back("continuation-token", token);
  c.timeout = opt_.requestTimeout;
  c.what = "list s3://" + opt_.bucket + "/" + req.prefix;
  std::string body;
  bool tooBig = false;
  c.reset = [&] {
    body.clear();
    tooBig = false;
  };
  c.sink = [&](std::string_view chunk) {
    if (body.size() + chunk.size() > opt_.maxListPageBytes) {
      tooBig = true;
      return false;
    }
    body.append(chunk);
    return true;
  };
  c.check = [&](const HttpResponse&) -> std::optional<Error> {
    if (tooBig)
      return terminalError("listing page larger than " + std::to_string(opt_.maxListPageBytes) +
                           " bytes");
    return std::nullopt;
  };
  OCPVDR_ASSIGN_OR_RETURN(HttpResponse resp, call(c, stop));
  (void)resp;
  auto page = parseListBucketResult(body);
  if (!page.ok()) return page.error().wrap(c.what);
  return page;
}

Result<ListResult> S3ObjectStore::list(const ListRequest& req, std::stop_token stop) {
  if (req.maxKeys < 1 || req.maxKeys > 1000)
    return invalidError("list: maxKeys must be 1..1000, got " + std::to_string(req.maxKeys));
  ListResult out;
  std::string token;
  std::set<std::string> seen;
  // S3 returns each key and prefix once, in UTF-8 binary order. Compatible servers are not all
  // that careful (s3rver walks its directory tree, so "b-x" comes after "b/y", and its next page
  // starts after the last key it sent, repeating some): duplicates are dropped here and the
  // result is sorted at the end.
  std::set<std::string> keys, prefixes;
  for (;;) {
    OCPVDR_ASSIGN_OR_RETURN(ListObjectsPage page, listPage(req, token, stop));
    ++out.pages;
    for (auto& e : page.contents)
      if (keys.insert(e.key).second)
        out.objects.push_back(
            ObjectInfo{std::move(e.key), e.size, std::move(e.etag), std::move(e.lastModified)});
    for (auto& p : page.commonPrefixes)
      if (prefixes.insert(p).second) out.commonPrefixes.push_back(std::move(p));
    if (!page.isTruncated) break;
    if (!seen.insert(page.nextContinuationToken).second)
      return terminalError("list s3://" + opt_.bucket + "/" + req.prefix +
                           ": the server repeated a continuation token; refusing to loop");
    if (static_cast<std::size_t>(out.pages) >= opt_.maxListPages)
      return terminalError("list s3://" + opt_.bucket + "/" + req.prefix + ": more than " +
                           std::to_string(opt_.maxListPages) + " pages");
    token = page.nextContinuationToken;
  }
  std::sort(out.objects.begin(), out.objects.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  std::sort(out.commonPrefixes.begin(), out.commonPrefixes.end());
  return out;
}

Result<ObjectInfo> S3ObjectStore::head(const std::string& key, std::stop_token stop) {
  OCPVDR_TRY(validateKey(key));
  Call c;
  c.method = "HEAD";
  c.path = objectPath(key);
  c.timeout = opt_.requestTimeout;
  c.what = "HEAD s3://" + opt_.bucket + "/" + key;
  OCPVDR_ASSIGN_OR_RETURN(HttpResponse resp, call(c, stop));
  ObjectInfo info;
  info.key = key;
  auto len = resp.header("content-length");
  auto size = len ? parseInt(*len) : std::nullopt;
  if (!size) return terminalError(c.what + ": response lacks a valid Content-Length");
  info.size = *size;
  info.etag = stripQuotes(resp.header("etag").value_or(""));
  info.lastModified = resp.header("last-modified").value_or("");
  return info;
}

namespace {

// A 2xx answer to a ranged GET must be 206, and the bytes must add up to what the server said.
std::optional<Error> checkTransfer(const HttpResponse& resp, bool ranged, std::int64_t received) {
  if (ranged && resp.status != 206)
    return terminalError("server answered a ranged GET with HTTP " + std::to_string(resp.status) +
                         " (Range not supported)");
  if (auto len = resp.header("content-length")) {
    auto expected = parseInt(*len);
    if (expected && *expected != received)
      return retryableError("transfer ended after " + std::to_string(received) + " of " +
                            std::to_string(*expected) + " bytes");
  }
  return std::nullopt;
}

}  // namespace

Result<std::string> S3ObjectStore::get(const std::string& key, std::size_t maxBytes,
                                       std::optional<ByteRange> range, std::stop_token stop) {
  OCPVDR_TRY(validateKey(key));
  Call c;
  c.method = "GET";
  c.path = objectPath(key);
  if (range) c.headers.emplace_back("range", range->header());
  c.timeout = opt_.requestTimeout;
  c.what = "GET s3://" + opt_.bucket + "/" + key;
  std::string body;
  bool tooBig = false;
  c.reset = [&] {
    body.clear();
    tooBig = false;
  };
  c.sink = [&](std::string_view chunk) {
    if (body.size() + chunk.size() > maxBytes) {
      tooBig = true;
      return false;
    }
    body.append(chunk);
    return true;
  };
  c.check = [&](const HttpResponse& resp) -> std::optional<Error> {
    if (tooBig)
      return invalidError("object is larger than the " + std::to_string(maxBytes) +
                          "-byte limit for in-memory reads");
    return checkTransfer(resp, range.has_value(), static_cast<std::int64_t>(body.size()));
  };
  OCPVDR_ASSIGN_OR_RETURN(HttpResponse resp, call(c, stop));
  (void)resp;
  return body;
}

Result<ObjectInfo> S3ObjectStore::getToFile(const std::string& key, const std::string& path,
                                            std::optional<ByteRange> range, std::stop_token stop) {
  OCPVDR_TRY(validateKey(key));
  std::string tmpl = path + ".part-XXXXXX";
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0)
    return terminalError("cannot create a temporary file next to " + path + ": " +
                         std::strerror(errno));
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  const std::string tmp = tmpl;
  auto cleanup = [&] {
    if (fd >= 0) ::close(fd);
    fd = -1;
    ::unlink(tmp.c_str());
  };

  Call c;
  c.method = "GET";
  c.path = objectPath(key);
  if (range) c.headers.emplace_back("range", range->header());
  c.timeout = opt_.transferTimeout;
  c.lowSpeedTime = opt_.lowSpeedTime;
  c.what = "GET s3://" + opt_.bucket + "/" + key;
  std::int64_t written = 0;
  std::optional<Error> writeError;
  bool tooBig = false;
  c.reset = [&] {
    written = 0;
    writeError.reset();
    tooBig = false;
    if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0)
      writeError = terminalError("cannot truncate " + tmp + ": " + std::strerror(errno));
  };
  c.sink = [&](std::string_view chunk) {
    if (writeError) return false;
    if (written + static_cast<std::int64_t>(chunk.size()) > opt_.maxDownloadBytes) {
      tooBig = true;
      return false;
    }
    const char* p = chunk.data();
    std::size_t left = chunk.size();
    while (left > 0) {
      ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        writeError = terminalError("writing " + tmp + ": " + std::strerror(errno));
        return false;
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    written += static_cast<std::int64_t>(chunk.size());
    return true;
  };
  c.check = [&](const HttpResponse& resp) -> std::optional<Error> {
    if (writeError) return writeError;
    if (tooBig)
      return invalidError("object is larger than the " + std::to_string(opt_.maxDownloadBytes) +
                          "-byte download limit (the partial file was removed)");
    return checkTransfer(resp, range.has_value(), written);
  };
  auto resp = call(c, stop);
  if (!resp.ok()) {
    cleanup();
    return resp.error();
  }
  if (::fsync(fd) != 0) {
    Error e = terminalError("fsync " + tmp + ": " + std::strerror(errno));
    cleanup();
    return e;
  }
  ::close(fd);
  fd = -1;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = terminalError("rename " + tmp + " to " + path + ": " + std::strerror(errno));
    ::unlink(tmp.c_str());
    return e;
  }
  ObjectInfo info;
  info.key = key;
  info.size = written;
  info.etag = stripQuotes(resp->header("etag").value_or(""));
  info.lastModified = resp->header("last-modified").value_or("");
  return info;
}

Status S3ObjectStore::put(const std::string& key, std::string_view data,
                          const std::string& contentType, std::stop_token stop) {
  OCPVDR_TRY(validateKey(key));
  Call c;
  c.method = "PUT";
  c.path = objectPath(key);
  c.body = std::string(data);
  c.payloadHash = sha256Hex(data);
  c.headers = {{"content-type", contentType}};
  c.timeout = opt_.requestTimeout;
  c.what = "PUT s3://" + opt_.bucket + "/" + key;
  OCPVDR_ASSIGN_OR_RETURN(HttpResponse resp, call(c, stop));
  (void)resp;
  return Status::success();
}

Status S3ObjectStore::putFile(const std::string& key, const std::string& path,
                              const std::string& contentType, std::stop_token stop) {
  OCPVDR_TRY(validateKey(key));
  OCPVDR_ASSIGN_OR_RETURN(std::string hash, sha256File(path));
  Call c;
  c.method = "PUT";
  c.path = objectPath(key);
  c.bodyFile = path;
  c.payloadHash = hash;
  c.headers = {{"content-type", contentType}};
  c.timeout = opt_.transferTimeout;
  c.lowSpeedTime = opt_.lowSpeedTime;
  c.what = "PUT s3://" + opt_.bucket + "/" + key + " from " + path;
  OCPVDR_ASSIGN_OR_RETURN(HttpResponse resp, call(c, stop));
  (void)resp;
  return Status::success();
}

Status S3ObjectStore::createBucket(std::stop_token stop) {
  Call c;
  c.method = "PUT";
  c.path = ep_.basePath + (opt_.pathStyle ? "/" + opt_.bucket : "/");
  if (opt_.region != "us-east-1") {
    c.body =
        "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<LocationConstraint>" +
        opt_.region + "</LocationConstraint></CreateBucketConfiguration>";
    c.headers = {{"content-type", "application/xml"}};
  }
  c.payloadHash = sha256Hex(c.body);
  c.timeout = opt_.requestTimeout;
  c.what = "create bucket s3://" + opt_.bucket;
  auto resp = call(c, stop);
  if (!resp.ok()) {
    if (resp.error().message.find("BucketAlreadyOwnedByYou") != std::string::npos)
      return Status::success();
    return resp.error();
  }
  return Status::success();
}

}  // namespace ocpvdr::s3
