// HttpServer: the HTTP(S) listener shared by `ocpv-dr forward` (health, metrics) and
// `ocpv-dr serve` (events, status, health, metrics), over cpp-httplib.
//
// Adds what every endpoint of ours needs: listening on "host:port" (port 0 picks a free one),
// optional TLS, a request body cap answered with a JSON 413, JSON error bodies, and the standard
// /healthz (process alive), /readyz (caller-defined readiness) and /metrics (Prometheus text).
//
// The body cap holds for every framing, before anything is buffered (docs/security.md): the
// listener is reachable without a token, and cpp-httplib 0.11 alone would read a chunked body, a
// body without Content-Length (to EOF) and a gzip/brotli body (decompressed) whole, without a
// limit, before any handler runs. So:
//   - a Content-Length over the cap is answered 413 without reading the body;
//   - compressed bodies (Content-Encoding other than identity) and multipart bodies are refused
//     with 415 before reading, so the bytes read are the bytes a handler gets;
//   - bodies are read only for routes registered with post(), through a counting reader that
//     stops at the cap (413); any other route that would get a body is answered before reading;
//   - over plain HTTP every request also has a hard budget of bytes read from the socket (request
//     line, headers, chunk framing and body), so no line or header can grow without bound either.
// A request refused mid-body closes its connection (the rest of the body is never read).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

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
  // The handler sees req.body read in full, at most maxBodyBytes (see the top of this file).
  void post(const std::string& pattern, Handler h);
  // Series of /metrics labelled with any of `labels` (object names) are shown only to requests
  // `allowed` accepts (authenticated ones, or all when configured so). Call before
  // addStandardEndpoints; without it /metrics shows everything.
  void setPrivateMetricLabels(std::vector<std::string> labels,
                              std::function<bool(const httplib::Request&)> allowed);
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
  // Answers requests whose body must not be read (see the top of this file) before routing.
  httplib::Server::HandlerResponse screen(const httplib::Request& req, httplib::Response& res);

  std::unique_ptr<httplib::Server> srv_;
  std::vector<std::regex> bodyRoutes_;  // POST patterns registered with post()
  std::vector<std::string> privateLabels_;
  std::function<bool(const httplib::Request&)> privateLabelsAllowed_;
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
