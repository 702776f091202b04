// notifyAll (see notify.h).
#include "engine/notify.h"

#include "core/files.h"
#include "core/log.h"
#include "core/text.h"
#include "core/time.h"

namespace ocpvdr::engine {

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

std::string reconcileMailSubject(const config::NotifyEmail& email, const Json& summary) {
  auto count = [&](const char* key) {
    const auto it = summary.find(key);
    return it != summary.end() && it->is_array() ? it->size() : size_t{0};
  };
  std::string subject = email.subjectPrefix.empty() ? "" : email.subjectPrefix + " ";
  subject += "reconcile";
  if (summary.contains("run_id")) subject += " run " + summary["run_id"].dump();
  subject += ": " + summary.value("result", std::string("unknown"));
  std::vector<std::string> attention;
  auto note = [&](size_t n, const char* what) {
    if (n > 0) attention.push_back(std::to_string(n) + " " + what);
  };
  note(count("failed"), "failed");
  note(count("rpo_exceeded"), "over RPO target");
  note(count("never_synced"), "never synced");
  note(count("orphans"), "orphaned");
  if (!attention.empty()) subject += " — " + join(attention, ", ");
  return subject;
}

Json mailReport(MailSender& mail, const config::NotifyEmail& email, const std::string& subject,
                const std::string& body, std::stop_token stop) {
  const std::string to = join(email.to, ", ");
  MailMessage m{email.from, email.to, subject, body};
  if (Status s = mail.send(m, stop); !s.ok()) {
    log::warn("notify mail failed", {{"to", to}, {"error", s.error().message}});
    return Json{{"email", to},
                {"error", s.error().message},
                {"kind", std::string(toString(s.error().kind))}};
  }
  return Json{{"email", to}, {"status", "sent"}};
}

Json alertDocument(std::string_view name, const Json& fields, SystemTime at) {
  Json doc = fields.is_object() ? fields : Json::object();
  doc["type"] = "alert";
  doc["alert"] = std::string(name);
  doc["time"] = formatTimeMillis(at);
  return doc;
}

}  // namespace ocpvdr::engine
