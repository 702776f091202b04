// Test doubles for the kube module's seams: a scripted HttpClient (responses queued or computed
// per request, bodies streamed to onBody in chosen chunks) and a Clock whose sleeps return at
// once but are recorded, so retry and backoff arithmetic is checked without waiting.
#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/http.h"
#include "core/json_util.h"

namespace ocpvdr::kube::testing {

struct FakeResponse {
  int status = 200;
  HttpHeaders headers;
  std::string body;
  // Streaming requests get the body in these pieces (default: the whole body at once).
  std::vector<std::string> chunks;
  std::optional<Error> error;  // a transport failure instead of a response
};

struct RecordedRequest {
  std::string method, url, body;
  HttpHeaders headers;
  std::chrono::milliseconds timeout{0};
  std::string header(const std::string& name) const;
  std::string query(const std::string& key) const;  // decoded value, "" when absent
  std::string path() const;                         // URL path without scheme/host/query
};

class FakeHttpClient final : public HttpClient {
 public:
  using Handler = std::function<FakeResponse(const RecordedRequest&)>;

  void push(FakeResponse r);
  void setHandler(Handler h);
  Result<HttpResponse> send(const HttpRequest& req, std::stop_token stop = {}) override;
  std::vector<RecordedRequest> requests() const;
  std::size_t pending() const;

 private:
  mutable std::mutex mu_;
  std::deque<FakeResponse> queue_;
  Handler handler_;
  std::vector<RecordedRequest> requests_;
};

class RecordingClock final : public Clock {
 public:
  SystemTime now() const override;
  SteadyTime monotonic() const override;
  bool sleepFor(std::chrono::nanoseconds d, std::stop_token stop = {}) override;
  std::vector<std::chrono::milliseconds> sleeps() const;
  void advance(std::chrono::nanoseconds d);

 private:
  mutable std::mutex mu_;
  std::chrono::nanoseconds elapsed_{0};
  std::vector<std::chrono::milliseconds> sleeps_;
};

FakeResponse jsonResponse(int status, const std::string& body, HttpHeaders headers = {});

// A PersistentVolume as a watch stream carries it (class nfs-dynamic); uid defaults to
// "uid-<name>" — pass another to model a re-creation under the same name.
Json watchedPv(const std::string& name, const std::string& rv, const std::string& uid = "");
// One line of a watch stream: {"type": <type>, "object": <obj>} and a newline.
std::string watchEventLine(const std::string& type, const Json& obj);

}  // namespace ocpvdr::kube::testing
