// notifyAll (see notify.h).
#include "engine/notify.h"

#include "core/files.h"
#include "core/log.h"
#include "core/text.h"
#include "core/time.h"

namespace ocpvdr::engine {

namespace {}  // namespace

Json notifyAll(HttpClient& http, const config::Notify& notify, const Json& summary,
               std::stop_token stop) {
  Json results = Json::array();
  if (notify.urls.empty()) return results;
  std::string token;
  std::string tokenError;
  if (!notify.tokenFile.empty()) {
    auto t = readFile(notify.tokenFile);
    if (t.ok()) {
      token = std::string(trimRight(*t));
      log::addSecret(token);
    } else {
      tokenError = "cannot read notify.token_file: " + t.error().message;
    }
  }
  const std::string body = summary.dump();
  for (const auto& url : notify.urls) {
    if (!tokenError.empty()) {
      results.push_back(Json{{"url", url}, {"error", tokenError}});
      continue;
    }
    HttpRequest req;
    req.method = "POST";
    req.url = url;
    req.body = body;
    req.timeout = std::chrono::seconds(30);
    req.headers.push_back({"Content-Type", "application/json"});
    if (!token.empty()) req.headers.push_back({"Authorization", "Bearer " + token});
    auto r = http.send(req, stop);
    if (!r.ok()) {
      results.push_back(Json{{"url", url}, {"error", r.error().message}});
      log::warn("notify failed", {{"url", url}, {"error", r.error().message}});
    } else if (r->status < 200 || r->status >= 300) {
      std::string msg = "HTTP " + std::to_string(r->status);
      results.push_back(Json{{"url", url}, {"status", r->status}, {"error", msg}});
      log::warn("notify rejected", {{"url", url}, {"status", r->status}});
    } else {
      results.push_back(Json{{"url", url}, {"status", r->status}});
    }
  }
  return results;
}

Json alertDocument(std::string_view name, const Json& fields, SystemTime at) {
  Json doc = fields.is_object() ? fields : Json::object();
  doc["type"] = "alert";
  doc["alert"] = std::string(name);
  doc["time"] = formatTimeMillis(at);
  return doc;
}

}  // namespace ocpvdr::engine
