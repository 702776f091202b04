// The EDA-like webhook endpoint for tests and benchmarks (see webhook_receiver.h).
#include "support/webhook_receiver.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>

#include <algorithm>
#include <stdexcept>

namespace ocpvdr::testing {

std::string hmacSha256HexForTest(const std::string& key, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(hex[mac[i] >> 4]);
    out.push_back(hex[mac[i] & 0x0f]);
  }
  return out;
}

WebhookReceiver::WebhookReceiver(Options options)
    : options_(std::move(options)), token_(options_.token) {}

WebhookReceiver::~WebhookReceiver() {
  down();
}

std::string WebhookReceiver::url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + options_.path;
}

void WebhookReceiver::setToken(const std::string& token) {
  std::lock_guard lock(mu_);
  token_ = token;
}

void WebhookReceiver::failWith(int status, int count, int retryAfterSeconds) {
  std::lock_guard lock(mu_);
  failStatus_ = status;
  failCount_ = count;
  retryAfter_ = retryAfterSeconds;
}

void WebhookReceiver::setLatency(std::chrono::milliseconds latency) {
  std::lock_guard lock(mu_);
  latency_ = latency;
}

void WebhookReceiver::handle(const httplib::Request& req, httplib::Response& res) {
  std::chrono::milliseconds latency;
  {
    std::lock_guard lock(mu_);
    latency = latency_;
  }
  if (latency.count() > 0) std::this_thread::sleep_for(latency);
  ReceivedRequest r;
  r.at = std::chrono::steady_clock::now();
  const bool keep = options_.keepRequests;
  if (keep) {
    r.body = req.body;
    for (const auto& [k, v] : req.headers) {
      std::string lk = k;
      std::transform(lk.begin(), lk.end(), lk.begin(),
                     [](unsigned char c) { return std::tolower(c); });
      r.headers[lk] = v;
    }
  }
  auto answer = [&](int status, const std::string& text) {
    res.status = status;
    res.set_content(nlohmann::json{{"status", status}, {"detail", text}}.dump(),
                    "application/json");
    r.answered = status;
  };
  std::string token;
  {
    std::lock_guard lock(mu_);
    token = token_;
    if (failStatus_ != 0 && failCount_ != 0) {
      if (failCount_ > 0) --failCount_;
      if (retryAfter_ >= 0) res.set_header("Retry-After", std::to_string(retryAfter_));
      answer(failStatus_, "failure injected by the test");
    }
  }
  // httplib compares header names case-insensitively.
  if (r.answered == 0 && !token.empty()) {
    if (!req.has_header("Authorization") ||
        req.get_header_value("Authorization") != "Bearer " + token) {
      answer(401, "Invalid authorization token");
    }
  }
  if (r.answered == 0 && !options_.hmacSecret.empty()) {
    std::string sig = req.get_header_value("x-hub-signature-256");
    if (sig.rfind("sha256=", 0) == 0) sig = sig.substr(7);
    std::transform(sig.begin(), sig.end(), sig.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    const std::string want = hmacSha256HexForTest(options_.hmacSecret, req.body);
    if (sig.size() != want.size() || CRYPTO_memcmp(sig.data(), want.data(), want.size()) != 0) {
      answer(401, "Signature mismatch");
    }
  }
  if (r.answered == 0) {
    // Counting only (benchmarks): validate the JSON without building the document.
    bool valid;
    if (keep) {
      r.json = nlohmann::json::parse(req.body, nullptr, false);
      valid = !r.json.is_discarded();
      if (!valid) r.json = nullptr;
    } else {
      valid = nlohmann::json::accept(req.body);
    }
    if (!valid) {
      answer(400, "Invalid JSON payload");
    } else {
      res.status = 200;
      res.set_content("{}", "application/json");
      r.answered = 200;
    }
  }
  {
    std::lock_guard lock(mu_);
    ++answers_[r.answered];
    if (r.answered >= 200 && r.answered < 300) {
      if (acceptedCount_ == 0) first_ = r.at;
      last_ = r.at;
      ++acceptedCount_;
    }
    if (keep) all_.push_back(std::move(r));
  }
  cv_.notify_all();
}

void WebhookReceiver::listen() {
  server_ = std::make_unique<httplib::Server>();
  const int threads = options_.threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Same as the product's listener: SO_REUSEADDR only, so up() can rebind the port at once.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  server_->set_payload_max_length(64 << 20);
  // Real webhook servers (aiohttp under ansible.eda.webhook) disable Nagle; without it a
  // keep-alive client waits for a delayed ACK between the answer's header and body writes.
  server_->set_tcp_nodelay(true);
  // httplib closes a keep-alive connection after 5 requests by default; aiohttp does not.
  server_->set_keep_alive_max_count(1'000'000);
  server_->Post(options_.path,
                [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); });
  if (port_ == 0) {
    port_ = server_->bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("webhook receiver: cannot bind 127.0.0.1:0");
  } else {
    bool bound = false;
    // The old listener's socket may take a moment to go away.
    for (int i = 0; i < 100 && !bound; ++i) {
      bound = server_->bind_to_port("127.0.0.1", port_);
      if (!bound) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (!bound) {
      throw std::runtime_error("webhook receiver: cannot bind 127.0.0.1:" + std::to_string(port_));
    }
  }
  httplib::Server* s = server_.get();
  thread_ = std::thread([s] { s->listen_after_bind(); });
  for (int i = 0; i < 2000 && !s->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  running_ = true;
}

void WebhookReceiver::start(int port) {
  port_ = port;
  listen();
}

void WebhookReceiver::down() {
  if (!server_) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
  running_ = false;
}

void WebhookReceiver::up() {
  if (server_) return;
  listen();
}

std::vector<ReceivedRequest> WebhookReceiver::accepted() const {
  std::lock_guard lock(mu_);
  std::vector<ReceivedRequest> out;
  for (const auto& r : all_) {
    if (r.answered >= 200 && r.answered < 300) out.push_back(r);
  }
  return out;
}

std::vector<ReceivedRequest> WebhookReceiver::all() const {
  std::lock_guard lock(mu_);
  return all_;
}

std::size_t WebhookReceiver::acceptedCount() const {
  std::lock_guard lock(mu_);
  return acceptedCount_;
}

std::map<int, std::size_t> WebhookReceiver::answers() const {
  std::lock_guard lock(mu_);
  return answers_;
}

std::chrono::steady_clock::time_point WebhookReceiver::firstAcceptedAt() const {
  std::lock_guard lock(mu_);
  return first_;
}

std::chrono::steady_clock::time_point WebhookReceiver::lastAcceptedAt() const {
  std::lock_guard lock(mu_);
  return last_;
}

bool WebhookReceiver::waitFor(const std::function<bool()>& pred,
                              std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
}

}  // namespace ocpvdr::testing
