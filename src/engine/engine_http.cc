// The serve engine's HTTP side (see engine.h): POST /v1/events, GET /v1/status and the standard
// endpoints, authentication with the token and HMAC secret files. The only part of the engine
// that sees httplib.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "engine/engine.h"
#include "engine/engine_secret.h"
#include "events/intake.h"
#include "events/signature.h"
#include "events/work_key.h"
#include "server/http_server.h"

namespace ocpvdr::engine {
using events::checkBearer;
using events::checkEventCluster;
using events::checkSignature;
using events::parseEventPayload;

namespace {

std::string trimmedSecret(std::string s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.pop_back();
  return s;
}

}  // namespace

Result<std::string> SecretFile::get() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0)
    return terminalError("cannot read " + path_ + ": " + std::strerror(errno));
  std::lock_guard lock(mu_);
  const auto mtime = std::make_pair(st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  if (!loaded_ || mtime != mtime_) {
    auto text = readFile(path_);
    if (!text.ok()) return text.error();
    std::string v = trimmedSecret(*text);
    if (v.empty()) return invalidError(path_ + " is empty");
    value_ = v;
    mtime_ = mtime;
    loaded_ = true;
    log::addSecret(value_);
  }
  return value_;
}

struct Engine::Routes {
  static void registerAll(Engine& e);
  static Status authorize(Engine& e, const httplib::Request& req, bool requireSignature);
  static void handleEvent(Engine& e, const httplib::Request& req, httplib::Response& res);
  static void handleStatus(Engine& e, const httplib::Request& req, httplib::Response& res);
  static void reject(Engine& e, httplib::Response& res, const Error& err);
};

Status Engine::startHttp() {
  server::ServerOptions so;
  so.listen = opts_.listen;
  so.certFile = cfg_.server.tls.certFile;
  so.keyFile = cfg_.server.tls.keyFile;
  so.maxBodyBytes = static_cast<std::size_t>(opts_.maxBodyBytes);
  so.threads = opts_.httpThreads;
  http_ = std::make_unique<server::HttpServer>(so);
  Routes::registerAll(*this);
  auto port = http_->start();
  if (!port.ok()) return port.error().wrap("server.listen");
  return Status::success();
}

int Engine::port() const {
  return http_ ? http_->port() : 0;
}

void Engine::Routes::registerAll(Engine& e) {
  // PV names in /metrics (ocpvdr_replica_*{pv=...}) are for authenticated readers, as in
  // /v1/status, unless server.public_metrics_labels says otherwise (docs/security.md).
  e.http_->setPrivateMetricLabels({"pv"}, [&e](const httplib::Request& req) {
    if (e.cfg_.server.publicMetricsLabels) return true;
    return e.token_ != nullptr && req.has_header("Authorization") && authorize(e, req, false).ok();
  });
  e.http_->addStandardEndpoints(
      e.metrics_, [&e] { return e.readiness(); }, [&e] { e.refreshGauges(); });
  e.http_->post("/v1/events", [&e](const httplib::Request& req, httplib::Response& res) {
    handleEvent(e, req, res);
  });
  e.http_->get("/v1/status", [&e](const httplib::Request& req, httplib::Response& res) {
    handleStatus(e, req, res);
  });
}

Status Engine::Routes::authorize(Engine& e, const httplib::Request& req, bool requireSignature) {
  auto token = e.token_->get();
  if (!token.ok())
    return terminalError("the server token cannot be read: " + token.error().message);
  std::optional<std::string> auth;
  if (req.has_header("Authorization")) auth = req.get_header_value("Authorization");
  OCPVDR_TRY(checkBearer(auth, *token));
  if (requireSignature && e.hmacSecret_) {
    auto secret = e.hmacSecret_->get();
    if (!secret.ok())
      return terminalError("the HMAC secret cannot be read: " + secret.error().message);
    std::optional<std::string> sig;
    if (req.has_header("x-hub-signature-256")) sig = req.get_header_value("x-hub-signature-256");
    OCPVDR_TRY(checkSignature(sig, req.body, *secret));
  }
  return Status::success();
}

void Engine::Routes::reject(Engine& e, httplib::Response& res, const Error& err) {
  e.countEvent("rejected");
  {
    std::lock_guard lock(e.mu_);
    ++e.stats_.eventsRejected;
  }
  server::respondError(res, 400, err.message);
}

void Engine::Routes::handleEvent(Engine& e, const httplib::Request& req, httplib::Response& res) {
  if (e.draining_) {
    e.countEvent("unavailable");
    server::respondError(res, 503, "shutting down: not accepting events");
    return;
  }
  if (!e.token_) {
    e.countEvent("unavailable");
    server::respondError(res, 503,
                         "events are disabled: server.token_file is not set on this engine");
    return;
  }
  if (Status a = authorize(e, req, true); !a.ok()) {
    const bool serverSide = a.error().kind == ErrorKind::Terminal;
    e.countEvent(serverSide ? "unavailable" : "unauthorized");
    if (!serverSide) res.set_header("WWW-Authenticate", "Bearer");
    server::respondError(res, serverSide ? 503 : 401, a.error().message);
    return;
  }
  auto ev = parseEventPayload(req.body);
  if (!ev.ok()) return reject(e, res, ev.error());
  if (Status c = checkEventCluster(*ev, e.cfg_.server.expectedCluster, e.cfg_.primary.name);
      !c.ok())
    return reject(e, res, c.error());
  if (std::string why = e.outOfScope(*ev); !why.empty()) {
    // The forwarder applies the same filters; anything else that sends events must not widen
    // what is replicated (or deleted) here.
    e.countEvent("ignored");
    server::respondJson(
        res, 200, Json{{"accepted", false}, {"ignored", why}, {"id", ev->id}, {"key", ev->key}});
    return;
  }
  if (e.acceptEvent(*ev) == Accepted::Duplicate) {
    e.countEvent("duplicate");
    server::respondJson(
        res, 200, Json{{"accepted", false}, {"duplicate", true}, {"id", ev->id}, {"key", ev->key}});
    return;
  }
  e.countEvent("accepted");
  server::respondJson(res, 202, Json{{"accepted", true}, {"id", ev->id}, {"key", ev->key}});
}

void Engine::Routes::handleStatus(Engine& e, const httplib::Request& req, httplib::Response& res) {
  // Replica paths and PV names are not for anonymous readers when the engine has a token.
  if (e.token_) {
    if (Status a = authorize(e, req, false); !a.ok()) {
      res.set_header("WWW-Authenticate", "Bearer");
      server::respondError(res, a.error().kind == ErrorKind::Terminal ? 503 : 401,
                           a.error().message);
      return;
    }
  }
  server::respondJson(res, 200, e.statusDocument());
}

}  // namespace ocpvdr::engine
