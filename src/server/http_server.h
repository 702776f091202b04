// HttpServer: the HTTP(S) listener shared by `ocpv-dr forward` (health, metrics) and
// `ocpv-dr serve` (events, status, health, metrics), over cpp-httplib.
//
// Adds what every endpoint of ours needs: listening on "host:port" (port 0 picks a free one),
// optional TLS, a request body cap answered with a JSON 413, JSON error bodies, and the standard
// /healthz (process alive), /readyz (caller-defined readiness) and /metrics (Prometheus text).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/metrics.h"
#include "core/result.h"

namespace ocpvdr::server {

struct ServerOptions {
  std::string listen = "0.0.0.0:8080";  // host:port; [v6addr]:port; port 0 = any free port
  std::string certFile, keyFile;        // both set: HTTPS
  std::size_t maxBodyBytes = 1 << 20;
  int threads = 8;
};

// Readiness: returns an empty string when ready, otherwise why not (shown in the /readyz body).
using ReadinessCheck = std::function<std::string()>;

class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  using Handler = httplib::Server::Handler;
  void get(const std::string& pattern, Handler h);
  void post(const std::string& pattern, Handler h);
  // Registers /healthz, /readyz and /metrics.
  void addStandardEndpoints(const MetricsRegistry& metrics, ReadinessCheck ready);
  // The same; `beforeMetrics` runs before each /metrics render (refresh gauges that are computed
  // on demand: queue depth, per-PV RPO).
  void addStandardEndpoints(const MetricsRegistry& metrics, ReadinessCheck ready,
                            std::function<void()> beforeMetrics);

  // Binds and serves on a background thread. Returns the bound port.
  [[nodiscard]] Result<int> start();
  // Stops accepting and waits for the serving thread; in-flight handlers finish first.
  void stop();
  int port() const { return port_; }
  bool tls() const { return tls_; }

 private:
  ServerOptions options_;
  std::unique_ptr<httplib::Server> srv_;
  std::thread thread_;
  int port_ = 0;
  bool tls_ = false;
};

// Writes {"error": message, "status": code, <extra>} with the given status.
void respondError(httplib::Response& res, int status, const std::string& message,
                  const nlohmann::json& extra = nlohmann::json::object());
void respondJson(httplib::Response& res, int status, const nlohmann::json& body);

// Splits "host:port" / "[v6]:port"; Invalid error on a malformed value.
Result<std::pair<std::string, int>> splitHostPort(const std::string& listen);

}  // namespace ocpvdr::server
