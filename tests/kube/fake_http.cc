// Scripted HttpClient and recording Clock for the kube unit tests.
#include "kube/fake_http.h"

#include <algorithm>
#include <cctype>

namespace ocpvdr::kube::testing {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string percentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::string RecordedRequest::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (lower(k) == lower(name)) return v;
  }
  return {};
}

std::string RecordedRequest::query(const std::string& key) const {
  auto q = url.find('?');
  if (q == std::string::npos) return {};
  std::string_view rest = std::string_view(url).substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view kv = rest.substr(0, amp);
    auto eq = kv.find('=');
    if (percentDecode(kv.substr(0, eq)) == key) {
      return eq == std::string_view::npos ? "" : percentDecode(kv.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

std::string RecordedRequest::path() const {
  auto scheme = url.find("://");
  auto start = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (start == std::string::npos) return "/";
  auto q = url.find('?', start);
  return url.substr(start, q == std::string::npos ? std::string::npos : q - start);
}

void FakeHttpClient::push(FakeResponse r) {
  std::lock_guard lock(mu_);
  queue_.push_back(std::move(r));
}

void FakeHttpClient::setHandler(Handler h) {
  std::lock_guard lock(mu_);
  handler_ = std::move(h);
}

std::vector<RecordedRequest> FakeHttpClient::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::size_t FakeHttpClient::pending() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

Result<HttpResponse> FakeHttpClient::send(const HttpRequest& req, std::stop_token stop) {
  RecordedRequest rec{req.method, req.url, req.body, req.headers, req.timeout};
  FakeResponse resp;
  {
    std::unique_lock lock(mu_);
    requests_.push_back(rec);
    if (!queue_.empty()) {
      resp = std::move(queue_.front());
      queue_.pop_front();
    } else if (handler_) {
      auto h = handler_;
      lock.unlock();
      resp = h(rec);
    } else {
      return retryableError("fake http: no scripted response for " + req.method + " " + req.url);
    }
  }
  if (resp.error) return *resp.error;
  HttpResponse out;
  out.status = resp.status;
  for (const auto& [k, v] : resp.headers) out.headers.emplace_back(lower(k), v);
  if (!req.onBody) {
    out.body = resp.body;
    return out;
  }
  if (req.onHeaders) req.onHeaders(out.status, out.headers);
  std::vector<std::string> chunks = resp.chunks;
  if (chunks.empty() && !resp.body.empty()) chunks.push_back(resp.body);
  for (const auto& c : chunks) {
    if (stop.stop_requested()) {
      out.cancelled = true;
      break;
    }
    if (!req.onBody(c)) {
      out.cancelled = true;
      break;
    }
  }
  return out;
}

SystemTime RecordingClock::now() const {
  std::lock_guard lock(mu_);
  return SystemTime{std::chrono::seconds{1'800'000'000}} +
         std::chrono::duration_cast<SystemTime::duration>(elapsed_);
}

SteadyTime RecordingClock::monotonic() const {
  std::lock_guard lock(mu_);
  return SteadyTime{} + std::chrono::duration_cast<SteadyTime::duration>(elapsed_);
}

bool RecordingClock::sleepFor(std::chrono::nanoseconds d, std::stop_token stop) {
  std::lock_guard lock(mu_);
  sleeps_.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(d));
  elapsed_ += d;
  return !stop.stop_requested();
}

std::vector<std::chrono::milliseconds> RecordingClock::sleeps() const {
  std::lock_guard lock(mu_);
  return sleeps_;
}

void RecordingClock::advance(std::chrono::nanoseconds d) {
  std::lock_guard lock(mu_);
  elapsed_ += d;
}

FakeResponse jsonResponse(int status, const std::string& body, HttpHeaders headers) {
  headers.emplace_back("Content-Type", "application/json");
  return FakeResponse{status, std::move(headers), body, {}, std::nullopt};
}

Json watchedPv(const std::string& name, const std::string& rv, const std::string& uid) {
  return {{"kind", "PersistentVolume"},
          {"apiVersion", "v1"},
          {"metadata",
           {{"name", name}, {"resourceVersion", rv}, {"uid", uid.empty() ? "uid-" + name : uid}}},
          {"spec", {{"storageClassName", "nfs-dynamic"}}}};
}

std::string watchEventLine(const std::string& type, const Json& obj) {
  return Json{{"type", type}, {"object", obj}}.dump() + "\n";
}

}  // namespace ocpvdr::kube::testing
