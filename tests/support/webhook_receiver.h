// WebhookReceiver: a real HTTP webhook endpoint for tests and benchmarks (cpp-httplib on
// 127.0.0.1, port 0 by default) that behaves like ansible.eda.webhook (FACTS §1): it checks
// `Authorization: Bearer <token>` (401 when missing or wrong), an optional
// `x-hub-signature-256` HMAC-SHA256 of the raw body (hex, with or without the `sha256=` prefix;
// 401 on mismatch), answers 400 to a body that is not JSON, and otherwise records the request and
// answers 200. Tests can make it answer a fixed status (500, 429, 401, 400, ...) for a number of
// requests or until told otherwise, change the expected token, and take it down and bring it back
// up on the same port.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace ocpvdr::testing {

struct ReceivedRequest {
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  nlohmann::json json;                         // the body parsed (null when not JSON)
  int answered = 0;                            // the status this receiver answered
  std::chrono::steady_clock::time_point at;
};

class WebhookReceiver {
 public:
  struct Options {
    std::string token;       // expected Bearer token; empty: no authentication
    std::string hmacSecret;  // empty: no signature check
    std::string path = "/";  // the endpoint (anything else is 404)
    int threads = 8;
    bool keepRequests = true;  // false: count only (benchmarks)
  };

  explicit WebhookReceiver(Options options);
  WebhookReceiver() : WebhookReceiver(Options{}) {}
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  // Listens on 127.0.0.1:`port` (0: a free port, remembered for up()). Throws when it cannot.
  void start(int port = 0);
  // Stops listening and closes open connections: clients now get "connection refused".
  void down();
  // Listens again on the same port.
  void up();
  bool isUp() const { return running_; }

  int port() const { return port_; }
  std::string url() const;  // http://127.0.0.1:<port><path>

  void setToken(const std::string& token);
  // Answer `status` (with Retry-After `retryAfterSeconds` when >= 0) to the next `count` requests
  // (-1: until failWith(0)); 0 restores normal behaviour.
  void failWith(int status, int count = -1, int retryAfterSeconds = -1);
  // Every request takes at least this long to answer (a slow receiver); 0: no delay.
  void setLatency(std::chrono::milliseconds latency);

  // Requests answered 2xx, in arrival order (empty when keepRequests is false).
  std::vector<ReceivedRequest> accepted() const;
  // Every request, whatever the answer.
  std::vector<ReceivedRequest> all() const;
  std::size_t acceptedCount() const;
  std::map<int, std::size_t> answers() const;  // status → how many times answered
  std::chrono::steady_clock::time_point firstAcceptedAt() const;
  std::chrono::steady_clock::time_point lastAcceptedAt() const;

  // Waits until `pred` (evaluated under no lock, after each request and at least every 100 ms)
  // holds or `timeout` passes; returns the last value of pred.
  bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) const;

 private:
  void handle(const httplib::Request& req, httplib::Response& res);
  void listen();

  Options options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  int port_ = 0;

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::string token_;
  int failStatus_ = 0;
  int failCount_ = 0;
  int retryAfter_ = -1;
  std::chrono::milliseconds latency_{0};
  std::vector<ReceivedRequest> all_;
  std::size_t acceptedCount_ = 0;
  std::map<int, std::size_t> answers_;
  std::chrono::steady_clock::time_point first_{}, last_{};
};

// Lower-case hex HMAC-SHA256 (what the receiver expects in x-hub-signature-256).
std::string hmacSha256HexForTest(const std::string& key, const std::string& body);

}  // namespace ocpvdr::testing
