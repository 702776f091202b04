// Unsigned S3 reads and Velero tarball items for kube-sim (see velero_storage.h).
#include "velero_storage.h"

#include <archive.h>
#include <archive_entry.h>
#include <httplib.h>

#include <memory>
#include <regex>
#include <set>

#include "core/text.h"

namespace kubesim {
namespace {

ApiError storageError(const std::string& message) {
  return ApiError{502, "BadGateway", message, nullptr};
}

std::string decodeXmlText(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '&') {
      out += in[i];
      continue;
    }
    const auto semi = in.find(';', i);
    if (semi == std::string::npos) {
      out += in[i];
      continue;
    }
    const std::string ent = in.substr(i + 1, semi - i - 1);
    if (ent == "amp") {
      out += '&';
    } else if (ent == "lt") {
      out += '<';
    } else if (ent == "gt") {
      out += '>';
    } else if (ent == "quot") {
      out += '"';
    } else if (ent == "apos") {
      out += '\'';
    } else if (!ent.empty() && ent[0] == '#') {
      unsigned long cp = ent.size() > 1 && (ent[1] == 'x' || ent[1] == 'X')
                             ? std::strtoul(ent.c_str() + 2, nullptr, 16)
                             : std::strtoul(ent.c_str() + 1, nullptr, 10);
      ocpvdr::appendUtf8(out, cp);  // keys are UTF-8
    } else {
      out += '&' + ent + ';';
    }
    i = semi;
  }
  return out;
}

std::string percentEncode(const std::string& s, bool keepSlash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keepSlash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

ApiResult<std::string> httpGet(const S3Location& loc, const std::string& pathAndQuery) {
  httplib::Client cli(loc.url);
  cli.set_connection_timeout(5);
  cli.set_read_timeout(60);
  auto res = cli.Get(pathAndQuery);
  if (!res) {
    return storageError("GET " + loc.url + pathAndQuery + ": " + httplib::to_string(res.error()));
  }
  if (res->status != 200) {
    std::smatch m;
    static const std::regex code("<Code>([^<]*)</Code>");
    std::string c = std::regex_search(res->body, m, code) ? m[1].str() : std::string();
    return storageError("GET " + loc.url + pathAndQuery + ": HTTP " + std::to_string(res->status) +
                        (c.empty() ? "" : " " + c));
  }
  return res->body;
}

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

bool unsafePath(const std::string& p) {
  if (p.empty() || p.front() == '/') return true;
  std::size_t i = 0;
  while (i <= p.size()) {
    auto j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    if (p.compare(i, j - i, "..") == 0 && j - i == 2) return true;
    i = j + 1;
  }
  return false;
}

}  // namespace

ApiResult<S3Location> s3LocationOf(const Json& bsl) {
  S3Location loc;
  const Json& spec = bsl.value("spec", Json::object());
  const Json& os = spec.is_object() ? spec.value("objectStorage", Json::object()) : Json();
  const Json& config = spec.is_object() ? spec.value("config", Json::object()) : Json();
  if (!os.is_object() || !os.value("bucket", Json()).is_string())
    return badRequest("spec.objectStorage.bucket is required");
  loc.bucket = os["bucket"].get<std::string>();
  if (os.contains("prefix") && os["prefix"].is_string()) loc.prefix = os["prefix"];
  while (!loc.prefix.empty() && loc.prefix.back() == '/') loc.prefix.pop_back();
  while (!loc.prefix.empty() && loc.prefix.front() == '/') loc.prefix.erase(0, 1);
  if (!config.is_object() || !config.value("s3Url", Json()).is_string())
    return badRequest("spec.config.s3Url is required (kube-sim reads only S3-compatible storage)");
  loc.url = config["s3Url"].get<std::string>();
  while (!loc.url.empty() && loc.url.back() == '/') loc.url.pop_back();
  if (loc.url.rfind("http://", 0) != 0 && loc.url.rfind("https://", 0) != 0)
    return badRequest("spec.config.s3Url must start with http:// or https://");
  return loc;
}

ApiResult<S3ListPage> parseS3ListPage(const std::string& xml) {
  if (xml.find("<ListBucketResult") == std::string::npos)
    return storageError("not a ListBucketResult document");
  S3ListPage page;
  static const std::regex key("<Key>([^<]*)</Key>");
  for (auto it = std::sregex_iterator(xml.begin(), xml.end(), key); it != std::sregex_iterator();
       ++it)
    page.keys.push_back(decodeXmlText((*it)[1].str()));
  std::smatch m;
  static const std::regex truncated("<IsTruncated>\\s*(true|false)\\s*</IsTruncated>");
  page.truncated = std::regex_search(xml, m, truncated) && m[1].str() == "true";
  static const std::regex token("<NextContinuationToken>([^<]*)</NextContinuationToken>");
  if (std::regex_search(xml, m, token)) page.nextToken = decodeXmlText(m[1].str());
  if (page.truncated && page.nextToken.empty())
    return storageError("truncated listing without a continuation token");
  return page;
}

ApiResult<std::vector<std::string>> s3ListKeys(const S3Location& loc, const std::string& prefix) {
  std::vector<std::string> keys;
  std::string token;
  for (int pages = 0; pages < 10000; ++pages) {
    std::string q = "/" + percentEncode(loc.bucket, false) +
                    "?list-type=2&prefix=" + percentEncode(prefix, false);
    if (!token.empty()) q += "&continuation-token=" + percentEncode(token, false);
    auto body = httpGet(loc, q);
    if (!body.ok()) return body.error();
    auto page = parseS3ListPage(body.value());
    if (!page.ok()) return page.error();
    keys.insert(keys.end(), page.value().keys.begin(), page.value().keys.end());
    if (!page.value().truncated) return keys;
    token = page.value().nextToken;
  }
  return storageError("listing of " + prefix + " did not end");
}

ApiResult<std::string> s3GetObject(const S3Location& loc, const std::string& key) {
  return httpGet(loc, "/" + percentEncode(loc.bucket, false) + "/" + percentEncode(key, true));
}

ApiResult<std::vector<BackupItem>> readBackupTarball(const std::string& bytes) {
  std::unique_ptr<archive, ArchiveFree> a(archive_read_new());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK)
    return storageError(std::string("backup tarball: ") + archive_error_string(a.get()));
  std::map<std::string, BackupItem> plain, preferred;
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      const char* msg = archive_error_string(a.get());
      return storageError(std::string("backup tarball: ") + (msg ? msg : "corrupt archive"));
    }
    const char* rawPath = archive_entry_pathname(e);
    const std::string path = rawPath ? rawPath : "";
    if (unsafePath(path)) return storageError("backup tarball: unsafe entry path \"" + path + "\"");
    const auto ftype = archive_entry_filetype(e);
    if (ftype == AE_IFDIR) continue;
    if (ftype != AE_IFREG || archive_entry_hardlink(e))
      return storageError("backup tarball: entry \"" + path + "\" is not a regular file");
    // resources/<gr>/cluster/<name>.json | resources/<gr>/namespaces/<ns>/<name>.json, optionally
    // with <version>-preferredversion/ after <gr>.
    std::vector<std::string> parts;
    for (std::size_t i = 0; i <= path.size();) {
      auto j = path.find('/', i);
      if (j == std::string::npos) j = path.size();
      parts.push_back(path.substr(i, j - i));
      i = j + 1;
    }
    if (parts.size() < 4 || parts[0] != "resources") continue;
    static const std::string kPreferred = "-preferredversion";
    const bool isPreferred =
        parts[2].size() > kPreferred.size() &&
        parts[2].compare(parts[2].size() - kPreferred.size(), kPreferred.size(), kPreferred) == 0;
    std::vector<std::string> rest(parts.begin() + (isPreferred ? 3 : 2), parts.end());
    BackupItem item;
    item.groupResource = parts[1];
    std::string file;
    if (rest.size() == 2 && rest[0] == "cluster") {
      file = rest[1];
    } else if (rest.size() == 3 && rest[0] == "namespaces") {
      item.ns = rest[1];
      file = rest[2];
    } else {
      continue;
    }
    if (file.size() <= 5 || file.compare(file.size() - 5, 5, ".json") != 0) continue;
    item.name = file.substr(0, file.size() - 5);
    std::string data;
    char buf[65536];
    for (;;) {
      la_ssize_t n = archive_read_data(a.get(), buf, sizeof buf);
      if (n < 0) return storageError("backup tarball: cannot read \"" + path + "\"");
      if (n == 0) break;
      data.append(buf, static_cast<std::size_t>(n));
    }
    Json obj = Json::parse(data, nullptr, false);
    if (obj.is_discarded() || !obj.is_object())
      return storageError("backup tarball: \"" + path + "\" is not a JSON object");
    item.object = std::move(obj);
    const std::string k = item.groupResource + "/" + item.ns + "/" + item.name;
    (isPreferred ? preferred : plain)[k] = std::move(item);
  }
  std::vector<BackupItem> out;
  for (auto& [k, v] : plain) out.push_back(std::move(v));
  for (auto& [k, v] : preferred)
    if (!plain.count(k)) out.push_back(std::move(v));
  return out;
}

}  // namespace kubesim
