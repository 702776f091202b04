// HttpTestServer implementation: TLS material is loaded from PEM strings into the server's
// SSL_CTX directly, so tests need no key files on disk.
#include "support/http_test_server.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <chrono>
#include <stdexcept>

namespace ocpvdr::testing {
namespace {

// Enough workers that keep-alive connections from a concurrent test do not starve the server
// (each open connection occupies one worker in cpp-httplib).
constexpr std::size_t kWorkers = 32;

bool loadTls(SSL_CTX& ctx, const HttpTestServer::Tls& tls) {
  BIO* certBio = BIO_new_mem_buf(tls.certPem.data(), static_cast<int>(tls.certPem.size()));
  X509* cert = PEM_read_bio_X509(certBio, nullptr, nullptr, nullptr);
  BIO_free(certBio);
  BIO* keyBio = BIO_new_mem_buf(tls.keyPem.data(), static_cast<int>(tls.keyPem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(keyBio, nullptr, nullptr, nullptr);
  BIO_free(keyBio);
  bool ok = cert && key && SSL_CTX_use_certificate(&ctx, cert) == 1 &&
            SSL_CTX_use_PrivateKey(&ctx, key) == 1;
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) return false;
  if (!tls.clientCaPem.empty()) {
    BIO* caBio = BIO_new_mem_buf(tls.clientCaPem.data(), static_cast<int>(tls.clientCaPem.size()));
    X509* ca = PEM_read_bio_X509(caBio, nullptr, nullptr, nullptr);
    BIO_free(caBio);
    if (!ca) return false;
    X509_STORE* store = SSL_CTX_get_cert_store(&ctx);
    X509_STORE_add_cert(store, ca);
    X509_free(ca);
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    // Without a session id context OpenSSL refuses to resume sessions of verified clients with
    // an "internal error" alert, which clients that share TLS sessions (curl) then hit.
    static const unsigned char kSessionContext[] = "ocpvdr-test";
    SSL_CTX_set_session_id_context(&ctx, kSessionContext, sizeof kSessionContext - 1);
  }
  return true;
}

}  // namespace

HttpTestServer::HttpTestServer() : server_(std::make_unique<httplib::Server>()) {}

HttpTestServer::HttpTestServer(const Tls& tls) : tls_(true) {
  auto s = std::make_unique<httplib::SSLServer>([tls](SSL_CTX& ctx) { return loadTls(ctx, tls); });
  if (!s->is_valid()) throw std::runtime_error("HttpTestServer: invalid TLS material");
  server_ = std::move(s);
}

HttpTestServer::~HttpTestServer() {
  stop();
}

void HttpTestServer::start() {
  server_->new_task_queue = [] { return new httplib::ThreadPool(kWorkers); };
  server_->set_keep_alive_max_count(1000);
  server_->set_tcp_nodelay(true);  // no 40 ms delayed-ACK stalls between header and body writes
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
    std::lock_guard lock(mu_);
    ports_.insert(req.remote_port);
    ++requests_;
    return httplib::Server::HandlerResponse::Unhandled;
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("HttpTestServer: cannot bind 127.0.0.1:0");
  listenEnded_ = false;
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    listenEnded_ = true;
  });
  // Readiness is a state change in another thread with no notification to wait on.
  while (!server_->is_running() && !listenEnded_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!server_->is_running()) {
    thread_.join();
    throw std::runtime_error("HttpTestServer: server failed to start listening");
  }
}

void HttpTestServer::stop() {
  if (thread_.joinable()) {
    server_->stop();
    thread_.join();
  }
}

std::string HttpTestServer::url(const std::string& path) const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
}

std::set<int> HttpTestServer::remotePorts() const {
  std::lock_guard lock(mu_);
  return ports_;
}

std::size_t HttpTestServer::requestCount() const {
  std::lock_guard lock(mu_);
  return requests_;
}

}  // namespace ocpvdr::testing
