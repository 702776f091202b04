// ApiServer: the HTTP(S) front of kube-sim — routing of Kubernetes REST paths onto the Store,
// bearer-token authentication, discovery, watch streaming, fault injection and /admin endpoints.
//
// Built on cpp-httplib. Each connection runs on a thread from an elastic pool (a thread is added
// whenever none is idle), so long-lived watches never starve ordinary requests; an idle watch
// blocks on its condition variable and costs no CPU.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "controller.h"
#include "faults.h"
#include "rbac.h"
#include "store.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace kubesim {

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  // Accepted bearer tokens. The token file, when set, is re-read whenever it changes (rotation).
  std::vector<std::string> tokens;
  std::string tokenFile;
  std::string tlsCertFile, tlsKeyFile;  // both set: HTTPS
  std::chrono::seconds bookmarkInterval{60};
  std::chrono::seconds defaultWatchTimeout{1800};
  std::size_t maxThreads = 1024;
  bool logRequests = false;  // one line per request on stderr
  // RBAC (rbac.h): off, every accepted token may do everything. On, tokens of `tokenUsers` are
  // authorized against the stored roles and bindings; `tokens` and the token file stay admins.
  bool rbac = false;
  std::map<std::string, std::string> tokenUsers;  // token -> user name
};

class ApiServer {
 public:
  ApiServer(Store& store, Faults& faults, ControllerRunner& controllers, ServerConfig config);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the listening socket. Returns false (and `error`) when TLS material cannot be loaded
  // or the address cannot be bound.
  [[nodiscard]] bool bind(std::string* error);
  int port() const { return port_; }
  std::string url() const;  // http(s)://host:port
  // Serves until stop(); returns on shutdown.
  void run();
  // Ends every watch and stops accepting; run() returns once in-flight requests finish.
  void stop();

 private:
  void handle(const httplib::Request& req, httplib::Response& res);
  // The identity of the request's bearer token; nullopt: no or an unknown token (401).
  std::optional<UserInfo> authenticate(const httplib::Request& req);
  // With RBAC on: the 403 to send when `user` may not do `a`.
  std::optional<ApiError> authorizeRequest(const UserInfo& user, const RequestAttributes& a) const;
  void handleAdmin(const httplib::Request& req, httplib::Response& res);
  void handleApi(const httplib::Request& req, httplib::Response& res, const UserInfo& user);
  void serveWatch(const ResourceType& type, const ObjectFilter& filter, const httplib::Request& req,
                  httplib::Response& res);

  Store& store_;
  Faults& faults_;
  ControllerRunner& controllers_;
  const ServerConfig config_;
  std::unique_ptr<httplib::Server> server_;
  int port_ = 0;

  std::mutex tokenMu_;
  std::string fileToken_;
  std::int64_t fileTokenMtime_ = -1;
};

}  // namespace kubesim
