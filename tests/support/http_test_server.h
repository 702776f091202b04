// HttpTestServer: a cpp-httplib server (HTTP or HTTPS, optionally requiring client
// certificates) on 127.0.0.1 with a kernel-chosen port, served from a background thread and
// stopped on destruction. For tests of HTTP clients, webhooks and TLS handling.
#pragma once

#include <httplib.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace ocpvdr::testing {

class HttpTestServer {
 public:
  struct Tls {
    std::string certPem, keyPem;  // server certificate chain and key (PEM)
    std::string clientCaPem;      // non-empty: clients must present a certificate from this CA
  };

  HttpTestServer();  // plain HTTP
  explicit HttpTestServer(const Tls& tls);
  ~HttpTestServer();
  HttpTestServer(const HttpTestServer&) = delete;
  HttpTestServer& operator=(const HttpTestServer&) = delete;

  // Register handlers here before start(). The pre-routing handler belongs to this helper
  // (it records client ports); do not replace it.
  httplib::Server& server() { return *server_; }

  // Binds 127.0.0.1:0 and serves on a background thread; returns once the server accepts.
  // Throws std::runtime_error when binding fails.
  void start();
  void stop();  // idempotent; also done by the destructor

  int port() const { return port_; }
  // "http://127.0.0.1:<port>" or "https://127.0.0.1:<port>", plus `path`.
  std::string url(const std::string& path = "") const;

  // Client source ports seen so far, one per TCP connection: connection reuse shows up as
  // fewer ports than requests.
  std::set<int> remotePorts() const;
  std::size_t requestCount() const;

 private:
  bool tls_ = false;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  std::atomic<bool> listenEnded_{false};
  int port_ = 0;
  mutable std::mutex mu_;
  std::set<int> ports_;
  std::size_t requests_ = 0;
};

}  // namespace ocpvdr::testing
