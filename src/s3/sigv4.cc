// AWS Signature Version 4 signing (see sigv4.h).
#include "s3/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>

#include "core/http.h"
#include "core/text.h"

namespace ocpvdr::s3 {
namespace {

bool isUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

// Trim and collapse runs of whitespace to one space (SigV4 "Trimall"; botocore splits on any
// whitespace, so tabs count too).
std::string trimAll(std::string_view v) {
  std::string out;
  bool pendingSpace = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      pendingSpace = !out.empty();
      continue;
    }
    if (pendingSpace) out += ' ';
    pendingSpace = false;
    out += c;
  }
  return out;
}

bool validAmzDate(std::string_view d) {
  if (d.size() != 16 || d[8] != 'T' || d[15] != 'Z') return false;
  for (std::size_t i = 0; i < 15; ++i) {
    if (i == 8) continue;
    if (!std::isdigit(static_cast<unsigned char>(d[i]))) return false;
  }
  return true;
}

// Removes "." and ".." segments and empty segments, keeping a leading and a trailing slash
// (the generic SigV4 path normalisation; RFC 3986 §5.2.4 plus collapsing "//").
std::string normaliseSegments(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i <= path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view seg = path.substr(i, j - i);
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
    } else if (!seg.empty() && seg != ".") {
      out.push_back(seg);
    }
    i = j + 1;
  }
  std::string result = "/";
  for (std::size_t k = 0; k < out.size(); ++k) {
    if (k) result += '/';
    result += out[k];
  }
  if (!out.empty() && path.back() == '/') result += '/';
  return result;
}

}  // namespace

std::string awsUriEncode(std::string_view s, bool keepSlash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3 / 2);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (isUnreserved(c) || (keepSlash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

std::string canonicalUri(std::string_view path, bool normalizePath) {
  if (path.empty()) return "/";
  if (normalizePath) return awsUriEncode(normaliseSegments(path), true);
  return awsUriEncode(path, true);
}

std::string canonicalQueryString(const QueryParams& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query) enc.emplace_back(awsUriEncode(k, false), awsUriEncode(v, false));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

std::string hexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
  }
  return out;
}

std::string sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return hexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string hmacSha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<const char*>(md), len);
}

std::string formatAmzDate(SystemTime t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

Result<SigV4Result> signV4(const SigV4Request& req, const AwsCredentials& creds,
                           const SigV4Scope& scope, std::string_view amzDate) {
  if (!validAmzDate(amzDate))
    return invalidError("SigV4: x-amz-date must look like 20130524T000000Z, got \"" +
                        std::string(amzDate) + "\"");
  if (req.method.empty()) return invalidError("SigV4: empty HTTP method");
  if (creds.accessKeyId.empty() || creds.secretAccessKey.empty())
    return invalidError("SigV4: the access key id or the secret access key is empty");
  if (scope.region.empty() || scope.service.empty())
    return invalidError("SigV4: region and service must not be empty");
  if (req.path.empty() || req.path.front() != '/')
    return invalidError("SigV4: request path must start with '/', got \"" + req.path + "\"");
  if (req.payloadHash.empty()) return invalidError("SigV4: payload hash missing");

  // Header names lower-cased and grouped; repeated headers keep their order, joined by ','.
  std::map<std::string, std::vector<std::string>> headers;
  for (const auto& [name, value] : req.headers) {
    if (!isHttpToken(name))
      return invalidError("SigV4: header name \"" + name + "\" is not a valid HTTP token");
    if (value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
      return invalidError("SigV4: value of header \"" + name + "\" contains CR, LF or NUL");
    headers[lowerAscii(name)].push_back(trimAll(value));
  }
  if (!headers.count("host")) return invalidError("SigV4: the host header must be signed");

  SigV4Result r;
  r.encodedPath = canonicalUri(req.path, scope.normalizePath);
  r.encodedQuery = canonicalQueryString(req.query);

  std::string canonicalHeaders;
  for (const auto& [name, values] : headers) {
    canonicalHeaders += name;
    canonicalHeaders += ':';
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) canonicalHeaders += ',';
      canonicalHeaders += values[i];
    }
    canonicalHeaders += '\n';
    if (!r.signedHeaders.empty()) r.signedHeaders += ';';
    r.signedHeaders += name;
  }

  std::string method;
  for (char c : req.method)
    method += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  r.canonicalRequest = method + "\n" + r.encodedPath + "\n" + r.encodedQuery + "\n" +
                       canonicalHeaders + "\n" + r.signedHeaders + "\n" + req.payloadHash;

  const std::string date(amzDate.substr(0, 8));
  const std::string credentialScope =
      date + "/" + scope.region + "/" + scope.service + "/aws4_request";
  r.stringToSign = "AWS4-HMAC-SHA256\n" + std::string(amzDate) + "\n" + credentialScope + "\n" +
                   sha256Hex(r.canonicalRequest);

  // The signing key chain: the secret never signs anything directly.
  std::string key = hmacSha256("AWS4" + creds.secretAccessKey, date);
  key = hmacSha256(key, scope.region);
  key = hmacSha256(key, scope.service);
  key = hmacSha256(key, "aws4_request");
  r.signature = hexEncode(hmacSha256(key, r.stringToSign));
  r.authorization = "AWS4-HMAC-SHA256 Credential=" + creds.accessKeyId + "/" + credentialScope +
                    ", SignedHeaders=" + r.signedHeaders + ", Signature=" + r.signature;
  return r;
}

}  // namespace ocpvdr::s3
