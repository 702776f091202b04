// HttpServer over cpp-httplib (see http_server.h).
#include "server/http_server.h"

#include <sys/socket.h>

#include <charconv>
#include <chrono>

namespace ocpvdr::server {

HttpServer::HttpServer(ServerOptions options) : options_(std::move(options)) {
  if (!options_.certFile.empty() && !options_.keyFile.empty()) {
    srv_ =
        std::make_unique<httplib::SSLServer>(options_.certFile.c_str(), options_.keyFile.c_str());
    tls_ = true;
  } else {
    srv_ = std::make_unique<httplib::Server>();
  }
  const int threads = options_.threads > 0 ? options_.threads : 8;
  srv_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  srv_->set_payload_max_length(options_.maxBodyBytes);
  // httplib's default also sets SO_REUSEPORT, which lets a second process bind the same port and
  // silently take half the traffic. SO_REUSEADDR alone allows fast restarts without that.
  srv_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  const std::size_t limit = options_.maxBodyBytes;
  // httplib answers an oversized body with a bare 413; give it a body that says what is wrong.
  srv_->set_error_handler([limit](const httplib::Request& req, httplib::Response& res) {
    if (res.status == 413) {
      respondError(res, 413,
                   "request body exceeds the limit of " + std::to_string(limit) + " bytes");
    } else if (res.body.empty()) {
      respondError(res, res.status,
                   res.status == 404   ? "no such endpoint: " + req.method + " " + req.path
                   : res.status == 405 ? "method " + req.method + " not allowed on " + req.path
                                       : "request failed with HTTP " + std::to_string(res.status));
    }
  });
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::get(const std::string& pattern, Handler h) {
  srv_->Get(pattern, std::move(h));
}
void HttpServer::post(const std::string& pattern, Handler h) {
  srv_->Post(pattern, std::move(h));
}

void HttpServer::addStandardEndpoints(const MetricsRegistry& metrics, ReadinessCheck ready) {
  addStandardEndpoints(metrics, std::move(ready), nullptr);
}

void HttpServer::addStandardEndpoints(const MetricsRegistry& metrics, ReadinessCheck ready,
                                      std::function<void()> beforeMetrics) {
  srv_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  srv_->Get("/readyz", [ready](const httplib::Request&, httplib::Response& res) {
    std::string why = ready ? ready() : std::string();
    if (why.empty()) {
      res.set_content("ok\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("not ready: " + why + "\n", "text/plain");
    }
  });
  srv_->Get("/metrics", [&metrics, beforeMetrics](const httplib::Request&, httplib::Response& res) {
    if (beforeMetrics) beforeMetrics();
    res.set_content(metrics.renderPrometheus(), "text/plain; version=0.0.4; charset=utf-8");
  });
}

Result<int> HttpServer::start() {
  OCPVDR_ASSIGN_OR_RETURN(auto hp, splitHostPort(options_.listen));
  if (tls_ && !srv_->is_valid())
    return invalidError("cannot load the TLS certificate/key (" + options_.certFile + ", " +
                        options_.keyFile + ")");
  int port = hp.second;
  if (port == 0) {
    port = srv_->bind_to_any_port(hp.first);
    if (port < 0) return terminalError("cannot listen on " + hp.first + ": no free port");
  } else if (!srv_->bind_to_port(hp.first, port)) {
    return terminalError("cannot listen on " + options_.listen +
                         " (address in use or not available)");
  }
  port_ = port;
  thread_ = std::thread([this] { srv_->listen_after_bind(); });
  // httplib 0.11 has no wait_until_ready(): the socket is already bound, so connections queue in
  // the backlog; wait briefly for the accept loop so stop() right after start() is well-defined.
  for (int i = 0; i < 2000 && !srv_->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return port_;
}

void HttpServer::stop() {
  if (srv_) srv_->stop();
  if (thread_.joinable()) thread_.join();
}

void respondJson(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump() + "\n", "application/json");
}

void respondError(httplib::Response& res, int status, const std::string& message,
                  const nlohmann::json& extra) {
  nlohmann::json body = extra.is_object() ? extra : nlohmann::json::object();
  body["error"] = message;
  body["status"] = status;
  respondJson(res, status, body);
}

Result<std::pair<std::string, int>> splitHostPort(const std::string& listen) {
  std::string host, port;
  if (!listen.empty() && listen.front() == '[') {
    auto close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':')
      return invalidError("listen address \"" + listen + "\": expected [address]:port");
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos)
      return invalidError("listen address \"" + listen + "\": expected host:port");
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  int p = -1;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || ptr != port.data() + port.size() || p < 0 || p > 65535)
    return invalidError("listen address \"" + listen + "\": port must be 0..65535");
  if (host.empty()) host = "0.0.0.0";
  return std::make_pair(host, p);
}

}  // namespace ocpvdr::server
