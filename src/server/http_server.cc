// HttpServer over cpp-httplib (see http_server.h).
#include "server/http_server.h"

#include <netdb.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>

#include "core/text.h"

namespace ocpvdr::server {
namespace {

// Set by a handler that answers before the request body was read (or while reading it): the
// connection must close after the response, since the rest of the body is still on the wire.
thread_local bool tlCloseAfterResponse = false;
class BoundedStream;
// The connection this thread serves (null outside BoundedServer's loop): the pre-routing check
// sets its body budget once the headers are known.
thread_local BoundedStream* tlStream = nullptr;

// Bytes read per request for its request line and headers.
constexpr std::size_t kHeaderBudget = 64 * 1024;
// A body whose Content-Length is over the cap but at most this is read and dropped (no memory
// used), so a client that sent it whole still reads a 413 and keeps its connection; a larger
// Content-Length is answered at once and the connection closed.
constexpr std::size_t kDiscardLimit = 64u << 20;

// One connection, plain or TLS, as cpp-httplib's Stream, with a budget of bytes read per request:
// past it, read() fails as if the peer had gone, so nothing httplib reads (a line, a header, a
// body) grows beyond it. Socket timeouts (SO_RCVTIMEO/SO_SNDTIMEO) bound each blocking call.
class BoundedStream final : public httplib::Stream {
 public:
  BoundedStream(socket_t sock, SSL* ssl) : sock_(sock), ssl_(ssl) {}

  // A request starts with the header budget; once its headers are in, the body's budget.
  void newRequest() {
    used_ = 0;
    budget_ = kHeaderBudget;
  }
  void startBody(std::size_t budget) {
    used_ = 0;
    budget_ = budget;
  }
  bool overBudget() const { return over_; }
  bool buffered() const { return pos_ < len_ || (ssl_ && SSL_pending(ssl_) > 0); }

  bool is_readable() const override { return buffered() || pollFor(POLLIN, 0); }
  bool is_writable() const override { return pollFor(POLLOUT, 0); }

  ssize_t read(char* ptr, size_t size) override {
    if (used_ >= budget_) {
      over_ = true;
      return -1;
    }
    size = std::min(size, budget_ - used_);
    if (pos_ >= len_) {
      // Small reads (httplib reads lines a byte at a time) are served from a buffer.
      if (size >= sizeof(buf_)) {
        ssize_t n = rawRead(ptr, size);
        if (n > 0) used_ += static_cast<std::size_t>(n);
        return n;
      }
      ssize_t n = rawRead(buf_, sizeof(buf_));
      if (n <= 0) return n;
      pos_ = 0;
      len_ = static_cast<std::size_t>(n);
    }
    std::size_t n = std::min(size, len_ - pos_);
    std::memcpy(ptr, buf_ + pos_, n);
    pos_ += n;
    used_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (ssl_) {
      int n = SSL_write(ssl_, ptr, static_cast<int>(std::min<size_t>(size, 1 << 30)));
      return n > 0 ? n : -1;
    }
    return ::send(sock_, ptr, size, MSG_NOSIGNAL);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address(::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address(::getsockname, ip, port);
  }
  socket_t socket() const override { return sock_; }

 private:
  ssize_t rawRead(char* ptr, size_t size) {
    if (ssl_) {
      int n = SSL_read(ssl_, ptr, static_cast<int>(std::min<size_t>(size, 1 << 30)));
      if (n > 0) return n;
      return SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
    ssize_t n;
    do {
      n = ::recv(sock_, ptr, size, 0);
    } while (n < 0 && errno == EINTR);
    return n;
  }
  bool pollFor(short events, int timeoutMs) const {
    pollfd p{sock_, events, 0};
    return ::poll(&p, 1, timeoutMs) > 0 && (p.revents & events) != 0;
  }
  template <class F>
  void address(F f, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (f(sock_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof(host), serv, sizeof(serv),
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
      ip = host;
      port = std::atoi(serv);
    }
  }

  socket_t sock_;
  SSL* ssl_;
  std::size_t budget_ = kHeaderBudget, used_ = 0;
  bool over_ = false;
  char buf_[4096];
  std::size_t pos_ = 0, len_ = 0;
};

// The connection loop of httplib's Server/SSLServer (keep-alive, one request after another),
// over BoundedStream. httplib declares process_and_close_socket virtual for this purpose.
template <class Base>
class BoundedServer final : public Base {
 public:
  template <class... Args>
  explicit BoundedServer(Args&&... args) : Base(std::forward<Args>(args)...) {}

 private:
  bool process_and_close_socket(socket_t sock) override {
    // OpenSSL writes with write(2), which raises SIGPIPE when the peer has gone; on this worker
    // thread of ours it is blocked, so a vanished client is a failed write, not a dead process.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    timeval rcv{static_cast<time_t>(this->read_timeout_sec_),
                static_cast<suseconds_t>(this->read_timeout_usec_)};
    timeval snd{static_cast<time_t>(this->write_timeout_sec_),
                static_cast<suseconds_t>(this->write_timeout_usec_)};
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
    setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
    SSL* ssl = nullptr;
    if constexpr (std::is_base_of_v<httplib::SSLServer, Base>) {
      ssl = SSL_new(this->ssl_context());
      if (ssl == nullptr || SSL_set_fd(ssl, sock) != 1 || SSL_accept(ssl) != 1) {
        if (ssl) SSL_free(ssl);
        ::close(sock);
        return false;
      }
    }
    bool ret = false;
    bool lingering = false;
    {
      BoundedStream strm(sock, ssl);
      tlStream = &strm;
      std::size_t count = this->keep_alive_max_count_;
      while (this->svr_sock_ != INVALID_SOCKET && count > 0 && waitForRequest(strm)) {
        strm.newRequest();
        tlCloseAfterResponse = false;
        bool connectionClosed = false;
        ret = this->process_request(strm, count == 1, connectionClosed, nullptr);
        if (tlCloseAfterResponse || strm.overBudget()) {
          lingering = true;
          break;
        }
        if (!ret || connectionClosed) break;
        --count;
      }
      tlStream = nullptr;
    }
    if (ssl) {
      SSL_shutdown(ssl);
      SSL_free(ssl);
    }
    ::shutdown(sock, SHUT_WR);
    // A refused body is still arriving: read (and drop) a little of it before closing, so the
    // peer can read the answer before our close resets the connection.
    if (lingering) {
      char sink[16 * 1024];
      std::size_t drained = 0;
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
      while (drained < (4u << 20) && std::chrono::steady_clock::now() < until) {
        pollfd p{sock, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) break;
        ssize_t n = ::recv(sock, sink, sizeof(sink), 0);
        if (n <= 0) break;
        drained += static_cast<std::size_t>(n);
      }
    }
    ::close(sock);
    return ret;
  }

  // Keep-alive: wait for the next request up to keep_alive_timeout_sec_, or until stop().
  bool waitForRequest(const BoundedStream& strm) const {
    if (strm.buffered()) return true;
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::seconds(this->keep_alive_timeout_sec_);
    while (this->svr_sock_ != INVALID_SOCKET && std::chrono::steady_clock::now() < until) {
      pollfd p{strm.socket(), POLLIN, 0};
      int r = ::poll(&p, 1, 50);
      if (r < 0 && errno != EINTR) return false;
      if (r > 0) return true;
    }
    return false;
  }
};

bool bodyMethod(const std::string& m) {
  return m == "POST" || m == "PUT" || m == "PATCH" || m == "DELETE" || m == "PRI";
}

}  // namespace

HttpServer::HttpServer(ServerOptions options) : options_(std::move(options)) {
  if (!options_.certFile.empty() && !options_.keyFile.empty()) {
    srv_ = std::make_unique<BoundedServer<httplib::SSLServer>>(options_.certFile.c_str(),
                                                               options_.keyFile.c_str());
    tls_ = true;
  } else {
    srv_ = std::make_unique<BoundedServer<httplib::Server>>();
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
      if (tlCloseAfterResponse) res.set_header("Connection", "close");
    } else if (res.body.empty()) {
      respondError(res, res.status,
                   res.status == 404   ? "no such endpoint: " + req.method + " " + req.path
                   : res.status == 405 ? "method " + req.method + " not allowed on " + req.path
                                       : "request failed with HTTP " + std::to_string(res.status));
    }
  });
  srv_->set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) { return screen(req, res); });
}

HttpServer::~HttpServer() {
  stop();
}

httplib::Server::HandlerResponse HttpServer::screen(const httplib::Request& req,
                                                    httplib::Response& res) {
  using R = httplib::Server::HandlerResponse;
  if (!bodyMethod(req.method)) return R::Unhandled;  // httplib reads no body for these
  auto refuse = [&](int status, const std::string& message) {
    tlCloseAfterResponse = true;
    respondError(res, status, message);
    res.set_header("Connection", "close");
    return R::Handled;
  };
  if (req.has_header("Content-Encoding")) {
    const std::string enc = lowerAscii(req.get_header_value("Content-Encoding"));
    if (enc != "identity")
      return refuse(415, "compressed request bodies (Content-Encoding: " + enc +
                             ") are not accepted; send the body uncompressed");
  }
  if (req.is_multipart_form_data()) return refuse(415, "multipart request bodies are not accepted");
  if (req.has_header("Content-Length")) {
    const std::string v = req.get_header_value("Content-Length");
    std::uint64_t len = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), len);
    if (ec != std::errc() || ptr != v.data() + v.size())
      return refuse(400, "malformed Content-Length: \"" + v + "\"");
    if (len > std::max(options_.maxBodyBytes, kDiscardLimit)) {
      tlCloseAfterResponse = true;
      res.status = 413;  // the error handler writes the JSON body
      return R::Handled;
    }
    // Over the cap but not absurd: httplib reads and drops it, then 413 (see kDiscardLimit).
    if (tlStream) tlStream->startBody(static_cast<std::size_t>(len));
  } else if (tlStream) {
    // Chunked, or to EOF: the body cap plus room for chunk framing.
    tlStream->startBody(2 * options_.maxBodyBytes + kHeaderBudget);
  }
  const bool routed = req.method == "POST" &&
                      std::any_of(bodyRoutes_.begin(), bodyRoutes_.end(), [&](const std::regex& r) {
                        return std::regex_match(req.path, r);
                      });
  if (!routed)
    return refuse(req.method == "POST" ? 404 : 405,
                  "no such endpoint: " + req.method + " " + req.path);
  return R::Unhandled;
}

void HttpServer::get(const std::string& pattern, Handler h) {
  srv_->Get(pattern, std::move(h));
}

void HttpServer::post(const std::string& pattern, Handler h) {
  bodyRoutes_.emplace_back(pattern);
  const std::size_t limit = options_.maxBodyBytes;
  // The content-reader form: httplib hands the body over as it arrives instead of buffering it
  // whole first, so the cap applies to chunked and length-less bodies too.
  srv_->Post(pattern, [h = std::move(h), limit](const httplib::Request& req, httplib::Response& res,
                                                const httplib::ContentReader& reader) {
    std::string body;
    bool over = false;
    const bool read = reader([&](const char* data, std::size_t n) {
      if (body.size() + n > limit) {
        over = true;
        return false;
      }
      body.append(data, n);
      return true;
    });
    if (over || res.status == 413) {
      // `over`: cut off part-way, the rest is still coming. Otherwise httplib has read and
      // dropped a body whose Content-Length was over the cap: the connection can go on.
      if (over) tlCloseAfterResponse = true;
      res.status = 413;  // the error handler writes the JSON body
      return;
    }
    if (!read) {
      tlCloseAfterResponse = true;
      respondError(res, 400,
                   "the request body could not be read (malformed chunked encoding, over the "
                   "size limit, or the connection ended early)");
      res.set_header("Connection", "close");
      return;
    }
    httplib::Request full = req;
    full.body = std::move(body);
    h(full, res);
  });
}

void HttpServer::setPrivateMetricLabels(std::vector<std::string> labels,
                                        std::function<bool(const httplib::Request&)> allowed) {
  privateLabels_ = std::move(labels);
  privateLabelsAllowed_ = std::move(allowed);
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
  srv_->Get("/metrics", [this, &metrics, beforeMetrics](const httplib::Request& req,
                                                        httplib::Response& res) {
    if (beforeMetrics) beforeMetrics();
    const bool all =
        privateLabels_.empty() || (privateLabelsAllowed_ && privateLabelsAllowed_(req));
    res.set_content(all ? metrics.renderPrometheus() : metrics.renderPrometheus(privateLabels_),
                    "text/plain; version=0.0.4; charset=utf-8");
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
