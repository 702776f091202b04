// HTTP routing for kube-sim: Kubernetes REST paths, discovery, watches, auth, faults, admin.
#include "api_server.h"

#include <httplib.h>
#include <sys/stat.h>

#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <sstream>
#include <thread>

#include "body_parser.h"

namespace kubesim {

namespace {

// httplib hands each connection to a TaskQueue. This one grows a thread whenever no worker is
// idle (up to a cap), so open watches — each holding its connection's thread, blocked on a
// condition variable — never starve new requests the way a fixed pool would.
class ElasticTaskQueue final : public httplib::TaskQueue {
 public:
  explicit ElasticTaskQueue(std::size_t maxThreads) : max_(maxThreads) {}

  void enqueue(std::function<void()> fn) override {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(fn));
    // Idle workers already notified may not have taken their job yet: spawn whenever queued
    // jobs outnumber idle workers, or a job can wait behind a watch that never ends.
    if (jobs_.size() > idle_ && threads_.size() < max_) {
      threads_.emplace_back([this] { work(); });
    } else {
      cv_.notify_one();
    }
  }

  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      shutdown_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        ++idle_;
        cv_.wait(lock, [&] { return shutdown_ || !jobs_.empty(); });
        --idle_;
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  const std::size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0;
  bool shutdown_ = false;
};

void sendError(httplib::Response& res, const ApiError& e) {
  res.status = e.code;
  if (e.retryAfterSeconds > 0) res.set_header("Retry-After", std::to_string(e.retryAfterSeconds));
  res.set_content(safeDump(e.toJson()), "application/json");
}

void sendJson(httplib::Response& res, int code, const std::string& body) {
  res.status = code;
  res.set_content(body, "application/json");
}

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    if (i >= path.size()) break;
    std::size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    out.push_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

// The media type without parameters ("application/json; charset=utf-8" -> "application/json").
std::string mediaType(const httplib::Request& req) {
  std::string ct = req.get_header_value("Content-Type");
  if (auto semi = ct.find(';'); semi != std::string::npos) ct.resize(semi);
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  return ct;
}

bool truthy(const std::string& v) {
  return v == "true" || v == "1" || v == "True";
}

std::optional<std::int64_t> parseInt(const std::string& s) {
  if (s.empty()) return std::nullopt;
  std::int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9' || v > 100000000000LL) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// staging/src/k8s.io/apimachinery/pkg/apis/meta/internalversion/validation/validation.go
// (validateWatchOptions, and the sendInitialEvents rule of ValidateListOptions), as the list/watch
// handler (apiserver/pkg/endpoints/handlers/get.go) runs it: 422 on ListOptions.meta.k8s.io "".
// The WatchList feature is on (beta, default since v1.32). List-side resourceVersionMatch rules
// stay in Store::list.
std::optional<ApiError> validateListOptions(const httplib::Request& req, bool watch) {
  Json causes = Json::array();
  const bool hasSie = req.has_param("sendInitialEvents");
  const std::string match = req.get_param_value("resourceVersionMatch");
  if (watch) {
    if (hasSie && match != "NotOlderThan") {
      causes.push_back(cause("FieldValueForbidden", "resourceVersionMatch",
                             "Forbidden: sendInitialEvents requires setting resourceVersionMatch "
                             "to NotOlderThan"));
    }
    if (!match.empty()) {
      if (!hasSie) {
        causes.push_back(cause("FieldValueForbidden", "resourceVersionMatch",
                               "Forbidden: resourceVersionMatch is forbidden for watch unless "
                               "sendInitialEvents is provided"));
      }
      if (match != "NotOlderThan") {
        causes.push_back(
            cause("FieldValueNotSupported", "resourceVersionMatch",
                  "Unsupported value: \"" + match + "\": supported values: \"NotOlderThan\""));
      }
      if (!req.get_param_value("continue").empty()) {
        causes.push_back(cause("FieldValueForbidden", "resourceVersionMatch",
                               "Forbidden: resourceVersionMatch is forbidden when continue is "
                               "provided"));
      }
    }
  } else if (hasSie) {
    causes.push_back(cause("FieldValueForbidden", "sendInitialEvents",
                           "Forbidden: sendInitialEvents is forbidden for list"));
  }
  if (causes.empty()) return std::nullopt;
  std::string list;
  for (const auto& c : causes) {
    if (!list.empty()) list += ", ";
    list += c.value("field", "") + ": " + c.value("message", "");
  }
  if (causes.size() > 1) list = "[" + list + "]";
  return ApiError{422, "Invalid", "ListOptions.meta.k8s.io \"\" is invalid: " + list,
                  Json{{"group", "meta.k8s.io"}, {"kind", "ListOptions"}, {"causes", causes}}};
}

// requestinfo.go: the RBAC verb of a resource request.
std::string requestVerb(const std::string& method, const std::string& name, bool watch) {
  if (method == "GET" || method == "HEAD") {
    if (!name.empty()) return "get";
    return watch ? "watch" : "list";
  }
  if (method == "POST") return "create";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return name.empty() ? "deletecollection" : "delete";
  std::string v = method;
  for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v;
}

std::string fieldManagerFor(const httplib::Request& req) {
  if (req.has_param("fieldManager")) return req.get_param_value("fieldManager");
  // Like the real server: the user agent up to the first '/' names an unnamed writer.
  std::string ua = req.get_header_value("User-Agent");
  if (auto slash = ua.find('/'); slash != std::string::npos) ua.resize(slash);
  return ua.empty() ? "unknown" : ua;
}

Json groupVersionJson(const std::string& group, const std::string& version) {
  return {{"groupVersion", group + "/" + version}, {"version", version}};
}

const char* kVerbs[] = {"create", "delete", "deletecollection", "get",
                        "list",   "patch",  "update",           "watch"};

Json resourceList(const ResourceTable& table, const std::string& group,
                  const std::string& version) {
  Json resources = Json::array();
  for (const auto& t : table.all()) {
    if (t.group != group || t.version != version) continue;
    Json r = {{"name", t.plural},
              {"singularName", t.singular},
              {"namespaced", t.namespaced},
              {"kind", t.kind},
              {"verbs", kVerbs}};
    if (!t.shortNames.empty()) r["shortNames"] = t.shortNames;
    resources.push_back(r);
    if (t.statusSubresource) {
      resources.push_back({{"name", t.plural + "/status"},
                           {"singularName", ""},
                           {"namespaced", t.namespaced},
                           {"kind", t.kind},
                           {"verbs", {"get", "patch", "update"}}});
    }
  }
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", group.empty() ? version : group + "/" + version},
          {"resources", resources}};
}

Json kubevirtSubresourceList() {
  Json resources = Json::array();
  for (const char* a : {"start", "stop", "restart"}) {
    resources.push_back({{"name", std::string("virtualmachines/") + a},
                         {"singularName", ""},
                         {"namespaced", true},
                         {"kind", ""},
                         {"verbs", {"update"}}});
  }
  for (const char* a : {"freeze", "unfreeze"}) {
    resources.push_back({{"name", std::string("virtualmachineinstances/") + a},
                         {"singularName", ""},
                         {"namespaced", true},
                         {"kind", ""},
                         {"verbs", {"update"}}});
  }
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", "subresources.kubevirt.io/v1"},
          {"resources", resources}};
}

std::string listBody(const ResourceType& type, const ListPage& page) {
  Json meta = {{"resourceVersion", std::to_string(page.resourceVersion)}};
  if (!page.continueToken.empty()) meta["continue"] = page.continueToken;
  if (page.remainingItemCount) meta["remainingItemCount"] = *page.remainingItemCount;
  std::size_t size = 128;
  for (const auto& o : page.items) size += o->text.size() + 1;
  std::string body;
  body.reserve(size);
  body += "{\"kind\":\"" + type.listKind + "\",\"apiVersion\":\"" + type.apiVersion() +
          "\",\"metadata\":" + meta.dump() + ",\"items\":[";
  bool first = true;
  for (const auto& o : page.items) {
    if (!first) body += ',';
    first = false;
    // Typed (core) lists leave kind/apiVersion off their items; unstructured (CRD) lists keep them.
    body += type.custom ? o->text : o->itemText();
  }
  body += "]}";
  return body;
}

}  // namespace

ApiServer::ApiServer(Store& store, Faults& faults, ControllerRunner& controllers,
                     ServerConfig config)
    : store_(store), faults_(faults), controllers_(controllers), config_(std::move(config)) {}

ApiServer::~ApiServer() = default;

bool ApiServer::bind(std::string* error) {
  const bool tls = !config_.tlsCertFile.empty() || !config_.tlsKeyFile.empty();
  if (tls) {
    if (config_.tlsCertFile.empty() || config_.tlsKeyFile.empty()) {
      *error = "--tls-cert and --tls-key must be given together";
      return false;
    }
    server_ = std::make_unique<httplib::SSLServer>(config_.tlsCertFile.c_str(),
                                                   config_.tlsKeyFile.c_str());
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  if (!server_->is_valid()) {
    *error =
        "cannot load the TLS certificate " + config_.tlsCertFile + " / key " + config_.tlsKeyFile;
    return false;
  }
  const std::size_t maxThreads = config_.maxThreads;
  server_->new_task_queue = [maxThreads] { return new ElasticTaskQueue(maxThreads); };
  server_->set_keep_alive_max_count(10000);
  server_->set_keep_alive_timeout(5);
  server_->set_read_timeout(30);
  server_->set_write_timeout(10);
  server_->set_tcp_nodelay(true);
  server_->set_payload_max_length(64u << 20);  // far above any object here; bounds bad input
  auto h = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); };
  server_->Get(".*", h);
  server_->Post(".*", h);
  server_->Put(".*", h);
  server_->Patch(".*", h);
  server_->Delete(".*", h);
  server_->Options(".*", h);
  server_->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unexpected exception";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        sendError(res, internalError(what));
      });
  if (config_.port == 0) {
    port_ = server_->bind_to_any_port(config_.host);
  } else {
    port_ = server_->bind_to_port(config_.host, config_.port) ? config_.port : -1;
  }
  if (port_ <= 0) {
    *error = "cannot listen on " + config_.host + ":" + std::to_string(config_.port);
    return false;
  }
  return true;
}

std::string ApiServer::url() const {
  const bool tls = !config_.tlsCertFile.empty();
  std::string host =
      config_.host.find(':') != std::string::npos ? "[" + config_.host + "]" : config_.host;
  return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port_);
}

void ApiServer::run() {
  server_->listen_after_bind();
}

void ApiServer::stop() {
  (void)store_.closeWatches();
  if (server_) server_->stop();
}

std::optional<UserInfo> ApiServer::authenticate(const httplib::Request& req) {
  const std::string h = req.get_header_value("Authorization");
  static const std::string kPrefix = "Bearer ";
  if (h.compare(0, kPrefix.size(), kPrefix) != 0) return std::nullopt;
  const std::string token = h.substr(kPrefix.size());
  if (token.empty()) return std::nullopt;
  for (const auto& t : config_.tokens) {
    if (token == t) return adminUser();
  }
  if (auto it = config_.tokenUsers.find(token); it != config_.tokenUsers.end()) {
    return userNamed(it->second);
  }
  if (config_.tokenFile.empty()) return std::nullopt;
  std::lock_guard lock(tokenMu_);
  struct stat st {};
  if (::stat(config_.tokenFile.c_str(), &st) == 0) {
    const std::int64_t mtime =
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
    if (mtime != fileTokenMtime_) {
      std::ifstream f(config_.tokenFile);
      std::stringstream ss;
      ss << f.rdbuf();
      std::string t = ss.str();
      while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
      fileToken_ = t;
      fileTokenMtime_ = mtime;
    }
  }
  if (!fileToken_.empty() && token == fileToken_) return adminUser();
  return std::nullopt;
}

std::optional<ApiError> ApiServer::authorizeRequest(const UserInfo& user,
                                                    const RequestAttributes& a) const {
  if (!config_.rbac) return std::nullopt;
  return authorize(store_, user, a);
}

void ApiServer::handle(const httplib::Request& req, httplib::Response& res) {
  if (config_.logRequests) {
    std::fprintf(stderr, "kube-sim: %s %s\n", req.method.c_str(), req.target.c_str());
  }
  const std::string& path = req.path;
  const bool publicInfo =
      path == "/healthz" || path == "/readyz" || path == "/livez" || path == "/version";
  const bool hasAuth = req.has_header("Authorization");
  // Like the real server: anonymous requests may read health and version; a presented token must
  // be valid everywhere.
  std::optional<UserInfo> user;
  if (hasAuth || !publicInfo) {
    user = authenticate(req);
    if (!user) {
      sendError(res, unauthorized());
      return;
    }
  } else {
    user = UserInfo{"system:anonymous", {"system:unauthenticated"}};
  }
  if (path == "/healthz" || path == "/readyz" || path == "/livez") {
    res.set_content("ok", "text/plain");
    return;
  }
  if (path == "/version") {
    sendJson(res, 200,
             Json{{"major", "1"},
                  {"minor", "32"},
                  {"gitVersion", "v1.32.0-kube-sim"},
                  {"gitCommit", ""},
                  {"gitTreeState", "clean"},
                  {"buildDate", ""},
                  {"goVersion", ""},
                  {"compiler", ""},
                  {"platform", "linux/amd64"}}
                 .dump());
    return;
  }
  if (path.rfind("/admin/", 0) == 0) {
    // kube-sim's own control plane: with RBAC on, only cluster admins (system:masters) use it.
    if (config_.rbac && !user->superuser()) {
      RequestAttributes a;
      a.verb = req.method == "GET" ? "get" : "post";
      a.path = path;
      return sendError(res, forbidden("forbidden: " + forbiddenMessage(*user, a)));
    }
    handleAdmin(req, res);
    return;
  }
  handleApi(req, res, *user);
}

void ApiServer::handleAdmin(const httplib::Request& req, httplib::Response& res) {
  const std::string what = req.path.substr(7);
  const bool post = req.method == "POST";
  const bool get = req.method == "GET";
  if (what == "state" && get) {
    sendJson(res, 200, safeDump(store_.dumpState()));
  } else if (what == "state" && post) {
    auto body = parseBody(req.body, true);
    if (!body.ok()) return sendError(res, body.error());
    auto st = store_.loadState(body.value());
    if (!st.ok()) return sendError(res, st.error());
    sendJson(res, 200, Json{{"resourceVersion", std::to_string(store_.resourceVersion())}}.dump());
  } else if (what == "reset" && post) {
    store_.reset();
    sendJson(res, 200, Json{{"resourceVersion", std::to_string(store_.resourceVersion())}}.dump());
  } else if (what == "compact" && post) {
    sendJson(res, 200, Json{{"compactedResourceVersion", std::to_string(store_.compact())}}.dump());
  } else if (what == "close-watches" && post) {
    sendJson(res, 200, Json{{"closed", store_.closeWatches()}}.dump());
  } else if (what == "bookmark" && post) {
    sendJson(res, 200, Json{{"watchers", store_.requestBookmarks()}}.dump());
  } else if (what == "faults" && get) {
    sendJson(res, 200, faults_.get().toJson().dump());
  } else if (what == "faults" && post) {
    auto body = parseBody(req.body.empty() ? "{}" : req.body, false);
    if (!body.ok()) return sendError(res, body.error());
    auto cfg = FaultConfig::fromJson(body.value());
    if (!cfg.ok()) return sendError(res, cfg.error());
    faults_.set(cfg.value());
    sendJson(res, 200, cfg.value().toJson().dump());
  } else if (what == "stats" && get) {
    sendJson(res, 200, store_.stats().dump());
  } else if (what == "tick" && post) {
    controllers_.requestTick();
    sendJson(res, 200, "{}");
  } else if (what == "drain" && post) {
    // Returns once the controllers have handled every event committed before the call: a test
    // that asserts "no controller reacted" reads the state after this, not after a sleep.
    controllers_.drain();
    sendJson(res, 200, Json{{"resourceVersion", std::to_string(store_.resourceVersion())}}.dump());
  } else {
    // Controllers' own admin endpoints (e.g. /admin/guest-agent, guest_freeze.h).
    Json body;
    if (post && !req.body.empty()) {
      auto parsed = parseBody(req.body, false);
      if (!parsed.ok()) return sendError(res, parsed.error());
      body = std::move(parsed).value();
    }
    auto r = controllers_.handleAdmin(what, req.method, body);
    if (!r) return sendError(res, pathNotFound());
    if (!r->ok()) return sendError(res, r->error());
    sendJson(res, 200, r->value().dump());
  }
}

void ApiServer::handleApi(const httplib::Request& req, httplib::Response& res,
                          const UserInfo& user) {
  const auto seg = splitPath(req.path);
  const ResourceTable& table = store_.table();
  if (seg.empty()) return sendError(res, pathNotFound());
  std::string group, version;
  std::size_t restAt = 0;
  if (seg[0] == "api") {
    if (seg.size() == 1) {
      const std::string host = req.get_header_value("Host");
      return sendJson(res, 200,
                      Json{{"kind", "APIVersions"},
                           {"versions", {"v1"}},
                           {"serverAddressByClientCIDRs",
                            {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", host}}}}}
                          .dump());
    }
    if (seg[1] != "v1") return sendError(res, pathNotFound());
    version = "v1";
    restAt = 2;
  } else if (seg[0] == "apis") {
    std::vector<std::pair<std::string, std::string>> gvs;  // group, version (non-core)
    for (const auto& t : table.all()) {
      if (t.group.empty()) continue;
      std::pair<std::string, std::string> gv{t.group, t.version};
      if (std::find(gvs.begin(), gvs.end(), gv) == gvs.end()) gvs.push_back(gv);
    }
    gvs.emplace_back("subresources.kubevirt.io", "v1");
    auto groupJson = [&](const std::string& g) {
      Json versions = Json::array();
      for (const auto& [gg, v] : gvs) {
        if (gg == g) versions.push_back(groupVersionJson(g, v));
      }
      return Json{{"name", g}, {"versions", versions}, {"preferredVersion", versions[0]}};
    };
    if (seg.size() == 1) {
      Json groups = Json::array();
      std::vector<std::string> seen;
      for (const auto& [g, v] : gvs) {
        if (std::find(seen.begin(), seen.end(), g) != seen.end()) continue;
        seen.push_back(g);
        groups.push_back(groupJson(g));
      }
      return sendJson(
          res, 200,
          Json{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}}.dump());
    }
    const bool knownGroup =
        std::any_of(gvs.begin(), gvs.end(), [&](const auto& gv) { return gv.first == seg[1]; });
    if (!knownGroup) return sendError(res, pathNotFound());
    if (seg.size() == 2) {
      Json g = groupJson(seg[1]);
      g["kind"] = "APIGroup";
      g["apiVersion"] = "v1";
      return sendJson(res, 200, g.dump());
    }
    group = seg[1];
    version = seg[2];
    restAt = 3;
    if (std::find(gvs.begin(), gvs.end(), std::make_pair(group, version)) == gvs.end()) {
      return sendError(res, pathNotFound());
    }
  } else {
    return sendError(res, pathNotFound());
  }

  std::vector<std::string> rest(seg.begin() + static_cast<std::ptrdiff_t>(restAt), seg.end());
  if (rest.empty()) {
    if (req.method != "GET") return sendError(res, methodNotAllowed());
    if (group == "subresources.kubevirt.io")
      return sendJson(res, 200, kubevirtSubresourceList().dump());
    return sendJson(res, 200, resourceList(table, group, version).dump());
  }

  // KubeVirt subresource actions: /apis/subresources.kubevirt.io/v1/namespaces/<ns>/<r>/<n>/<a>
  if (group == "subresources.kubevirt.io") {
    if (rest.size() != 5 || rest[0] != "namespaces") return sendError(res, pathNotFound());
    RequestAttributes attrs;
    attrs.resourceRequest = true;
    attrs.verb = requestVerb(req.method, rest[3], false);
    attrs.apiGroup = group;
    attrs.apiVersion = version;
    attrs.resource = rest[2];
    attrs.subresource = rest[4];
    attrs.ns = rest[1];
    attrs.name = rest[3];
    if (auto e = authorizeRequest(user, attrs)) return sendError(res, *e);
    auto d = faults_.decide(req.path);
    if (d.latencyMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(d.latencyMs));
    if (d.error) return sendError(res, *d.error);
    if (req.method != "PUT") return sendError(res, methodNotAllowed());
    ActionRequest a{group, version, rest[2], rest[1], rest[3], rest[4], nullptr};
    if (a.resource == "virtualmachineinstances") a.agentFault = faults_.takeAgentFault(a.action);
    if (!req.body.empty()) {
      auto body = parseBody(req.body, false);
      if (!body.ok()) return sendError(res, body.error());
      a.body = std::move(body).value();
    }
    auto r = controllers_.handleAction(a);
    if (!r.ok()) return sendError(res, r.error());
    res.status = r.value().code;
    if (!r.value().body.empty()) res.set_content(r.value().body, "application/json");
    return;
  }

  std::string ns, plural, name, sub;
  if (rest[0] == "namespaces" && rest.size() >= 3 &&
      !(rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize"))) {
    ns = rest[1];
    plural = rest[2];
    if (rest.size() > 3) name = rest[3];
    if (rest.size() > 4) sub = rest[4];
    if (rest.size() > 5) return sendError(res, pathNotFound());
  } else {
    plural = rest[0];
    if (rest.size() > 1) name = rest[1];
    if (rest.size() > 2) sub = rest[2];
    if (rest.size() > 3) return sendError(res, pathNotFound());
  }
  const ResourceType* type = table.find(group, version, plural);
  if (!type || (!type->namespaced && !ns.empty())) return sendError(res, pathNotFound());
  if (!sub.empty() && (sub != "status" || !type->statusSubresource)) {
    return sendError(res, pathNotFound());
  }
  {
    // Authorization runs before the handler, as the server's filter chain does it.
    RequestAttributes a;
    a.resourceRequest = true;
    a.verb = requestVerb(req.method, name, truthy(req.get_param_value("watch")));
    a.apiGroup = group;
    a.apiVersion = version;
    a.resource = plural;
    a.subresource = sub;
    a.ns = ns;
    a.name = name;
    if (name.empty() && (a.verb == "list" || a.verb == "watch")) {
      // requestinfo.go: a list/watch pinned with fieldSelector metadata.name=<n> is about <n>
      // (resourceNames rules match it).
      const std::string fs = req.get_param_value("fieldSelector");
      static const std::string kPin = "metadata.name=";
      if (fs.compare(0, kPin.size(), kPin) == 0 && fs.find(',') == std::string::npos) {
        a.name = fs.substr(kPin.size());
      }
    }
    if (auto e = authorizeRequest(user, a)) return sendError(res, *e);
  }

  auto d = faults_.decide(req.path);
  if (d.latencyMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(d.latencyMs));
  if (d.error) return sendError(res, *d.error);

  const std::string& method = req.method;
  const bool dryRun = req.has_param("dryRun");
  if (dryRun && req.get_param_value("dryRun") != "All") {
    return sendError(res,
                     badRequest("dryRun: Unsupported value: \"" + req.get_param_value("dryRun") +
                                "\": supported values: \"All\""));
  }
  WriteOptions wopts;
  wopts.fieldManager = fieldManagerFor(req);
  wopts.subresource = sub;
  wopts.dryRun = dryRun;
  if (wopts.fieldManager.size() > 128) {
    return sendError(res, badRequest("fieldManager: Too long: may not be longer than 128"));
  }

  auto parseFilter = [&](ObjectFilter& f) -> std::optional<ApiError> {
    f.ns = ns;
    auto ls = LabelSelector::parse(req.get_param_value("labelSelector"));
    if (!ls.ok()) return ls.error();
    f.labels = std::move(ls).value();
    auto fs = FieldSelector::parse(req.get_param_value("fieldSelector"));
    if (!fs.ok()) return fs.error();
    f.fields = std::move(fs).value();
    return std::nullopt;
  };

  if (name.empty()) {
    if (method == "GET") {
      ObjectFilter filter;
      if (auto e = parseFilter(filter)) return sendError(res, *e);
      const bool watch = truthy(req.get_param_value("watch"));
      if (auto e = validateListOptions(req, watch)) return sendError(res, *e);
      if (watch) return serveWatch(*type, filter, req, res);
      ListRequest lr;
      lr.filter = std::move(filter);
      if (req.has_param("limit")) {
        auto n = parseInt(req.get_param_value("limit"));
        if (!n)
          return sendError(res, badRequest("limit: Invalid value: must be a non-negative integer"));
        lr.limit = *n;
      }
      lr.continueToken = req.get_param_value("continue");
      lr.resourceVersion = req.get_param_value("resourceVersion");
      lr.resourceVersionMatch = req.get_param_value("resourceVersionMatch");
      auto page = store_.list(*type, lr);
      if (!page.ok()) return sendError(res, page.error());
      return sendJson(res, 200, listBody(*type, page.value()));
    }
    if (method == "POST") {
      if (type->namespaced && ns.empty()) return sendError(res, methodNotAllowed());
      const std::string mt = mediaType(req);
      if (!mt.empty() && mt != "application/json" && mt.find("yaml") == std::string::npos) {
        return sendError(res, unsupportedMediaType(mt));
      }
      auto body = parseBody(req.body, mt.find("yaml") != std::string::npos);
      if (!body.ok()) return sendError(res, body.error());
      auto r = store_.create(*type, ns, std::move(body).value(), wopts);
      if (!r.ok()) return sendError(res, r.error());
      return sendJson(res, 201, r.value().object->text);
    }
    if (method == "DELETE") {
      ListRequest lr;
      if (auto e = parseFilter(lr.filter)) return sendError(res, *e);
      DeleteOptions dopts;
      dopts.dryRun = dryRun;
      auto r = store_.removeCollection(*type, lr, dopts);
      if (!r.ok()) return sendError(res, r.error());
      ListPage page;
      page.resourceVersion = store_.resourceVersion();
      page.items = std::move(r).value();
      return sendJson(res, 200, listBody(*type, page));
    }
    return sendError(res, methodNotAllowed());
  }

  if (method == "GET" && truthy(req.get_param_value("watch"))) {
    // Watching one object by name: a watch with fieldSelector metadata.name=<name>.
    ObjectFilter filter;
    if (auto e = parseFilter(filter)) return sendError(res, *e);
    auto pinned = FieldSelector::parse("metadata.name=" + name);
    filter.fields = std::move(pinned).value();
    return serveWatch(*type, filter, req, res);
  }
  if (method == "GET") {
    auto r = store_.get(*type, ns, name);
    if (!r.ok()) return sendError(res, r.error());
    return sendJson(res, 200, r.value()->text);
  }
  if (method == "PUT") {
    const std::string mt = mediaType(req);
    if (!mt.empty() && mt != "application/json" && mt.find("yaml") == std::string::npos) {
      return sendError(res, unsupportedMediaType(mt));
    }
    auto body = parseBody(req.body, mt.find("yaml") != std::string::npos);
    if (!body.ok()) return sendError(res, body.error());
    auto r = store_.update(*type, ns, name, std::move(body).value(), wopts);
    if (!r.ok()) return sendError(res, r.error());
    return sendJson(res, 200, r.value().object->text);
  }
  if (method == "PATCH") {
    const std::string mt = mediaType(req);
    PatchOptions popts;
    popts.write = wopts;
    popts.force = truthy(req.get_param_value("force"));
    PatchType pt;
    if (mt == "application/merge-patch+json") {
      pt = PatchType::Merge;
    } else if (mt == "application/json-patch+json") {
      pt = PatchType::JsonPatch;
    } else if (mt == "application/apply-patch+yaml") {
      pt = PatchType::Apply;
      popts.write.fieldManager = req.get_param_value("fieldManager");
    } else {
      // Strategic merge patch (and anything else) is not implemented: the real server answers
      // custom resources the same way.
      return sendError(res, unsupportedMediaType(mt));
    }
    auto body = parseBody(req.body, pt == PatchType::Apply);
    if (!body.ok()) return sendError(res, body.error());
    if (pt == PatchType::Apply && config_.rbac && !store_.get(*type, ns, name).ok()) {
      // An apply that creates the object also needs `create` (upstream handlers/patch.go wraps
      // its create validation in withAuthorization with the create attributes, as update.go
      // does). Upstream's message there carries only the authorizer's (usually empty) reason;
      // kube-sim says which verb was missing.
      RequestAttributes a;
      a.resourceRequest = true;
      a.verb = "create";
      a.apiGroup = group;
      a.apiVersion = version;
      a.resource = plural;
      a.subresource = sub;
      a.ns = ns;
      a.name = name;
      if (auto e = authorizeRequest(user, a)) return sendError(res, *e);
    }
    auto r = store_.patch(*type, ns, name, pt, body.value(), popts);
    if (!r.ok()) return sendError(res, r.error());
    return sendJson(res, r.value().created ? 201 : 200, r.value().object->text);
  }
  if (method == "DELETE") {
    DeleteOptions dopts;
    dopts.dryRun = dryRun;
    dopts.propagationPolicy = req.get_param_value("propagationPolicy");
    if (!req.body.empty()) {
      auto body = parseBody(req.body, false);
      if (!body.ok()) return sendError(res, body.error());
      const Json& b = body.value();
      if (!b.is_object()) return sendError(res, badRequest("DeleteOptions must be a JSON object"));
      if (b.contains("propagationPolicy") && b["propagationPolicy"].is_string()) {
        dopts.propagationPolicy = b["propagationPolicy"].get<std::string>();
      }
      if (b.contains("preconditions") && b["preconditions"].is_object()) {
        const Json& p = b["preconditions"];
        if (p.contains("uid") && p["uid"].is_string()) dopts.preconditionUid = p["uid"];
        if (p.contains("resourceVersion") && p["resourceVersion"].is_string()) {
          dopts.preconditionResourceVersion = p["resourceVersion"];
        }
      }
      if (b.contains("dryRun") && b["dryRun"].is_array() && !b["dryRun"].empty()) {
        dopts.dryRun = true;
      }
    }
    auto r = store_.remove(*type, ns, name, dopts);
    if (!r.ok()) return sendError(res, r.error());
    return sendJson(res, 200, r.value().object->text);
  }
  return sendError(res, methodNotAllowed());
}

namespace {

// Per-stream state shared between the content provider calls of one watch response.
struct WatchStreamState {
  std::shared_ptr<Watcher> watcher;
  std::chrono::steady_clock::time_point deadline;
  std::chrono::steady_clock::time_point nextBookmark;
  std::chrono::steady_clock::time_point nextLivenessCheck;
  std::int64_t sent = 0;
  bool finished = false;
};

}  // namespace

void ApiServer::serveWatch(const ResourceType& type, const ObjectFilter& filter,
                           const httplib::Request& req, httplib::Response& res) {
  WatchRequest wr;
  wr.filter = filter;
  wr.resourceVersion = req.get_param_value("resourceVersion");
  wr.allowBookmarks = truthy(req.get_param_value("allowWatchBookmarks"));
  wr.sendInitialEvents = truthy(req.get_param_value("sendInitialEvents"));
  std::chrono::seconds timeout = config_.defaultWatchTimeout;
  if (req.has_param("timeoutSeconds")) {
    auto n = parseInt(req.get_param_value("timeoutSeconds"));
    if (!n)
      return sendError(res,
                       badRequest("timeoutSeconds: Invalid value: must be a non-negative integer"));
    // The server bounds a watch's life anyway; a day is plenty and keeps the deadline finite.
    if (*n > 0) timeout = std::chrono::seconds(std::min<std::int64_t>(*n, 86400));
  }
  // httplib would gzip an application/json body for clients that accept it, buffering events
  // inside the compressor; the equivalent media type with the stream parameter is left alone.
  const std::string ae = req.get_header_value("Accept-Encoding");
  const char* contentType =
      ae.find("gzip") != std::string::npos || ae.find("br") != std::string::npos
          ? "application/json;stream=watch"
          : "application/json";

  auto w = store_.watch(type, wr);
  res.status = 200;
  if (!w.ok()) {
    // A watch that cannot start is still a 200 stream carrying one ERROR event (410 Expired and
    // friends), exactly as the real server answers.
    auto line = std::make_shared<std::string>(watchLine("ERROR", safeDump(w.error().toJson())));
    res.set_chunked_content_provider(contentType, [line](std::size_t, httplib::DataSink& sink) {
      sink.write(line->data(), line->size());
      sink.done();
      return true;
    });
    return;
  }
  auto st = std::make_shared<WatchStreamState>();
  st->watcher = std::move(w).value();
  const auto start = std::chrono::steady_clock::now();
  st->deadline = start + timeout;
  st->nextBookmark = start + config_.bookmarkInterval;
  st->nextLivenessCheck = start + std::chrono::seconds(2);
  const bool bookmarks = wr.allowBookmarks;
  const auto bookmarkInterval = config_.bookmarkInterval;
  Store* store = &store_;
  Faults* faults = &faults_;
  const ResourceType* t = &type;

  auto bookmarkLine = [t](std::uint64_t rv) {
    return watchLine("BOOKMARK", t->bookmarkObject(std::to_string(rv)).dump());
  };

  res.set_chunked_content_provider(
      contentType,
      [st, store, faults, bookmarks, bookmarkInterval, bookmarkLine](std::size_t,
                                                                     httplib::DataSink& sink) {
        if (st->finished) {
          sink.done();
          return true;
        }
        auto until = std::min(
            {st->deadline, st->nextLivenessCheck, bookmarks ? st->nextBookmark : st->deadline});
        auto batch = st->watcher->wait(until);
        const auto now = std::chrono::steady_clock::now();
        const std::int64_t limit = faults->closeWatchesAfterEvents();
        std::string out;
        bool limitReached = false;
        for (const auto& item : batch.items) {
          out += watchLine(item.type, item.object->text);
          if (item.type != "BOOKMARK") ++st->sent;
          if (limit > 0 && st->sent >= limit) {
            limitReached = true;
            break;
          }
        }
        const bool timedOut = now >= st->deadline;
        if (bookmarks && !limitReached && !batch.closed &&
            (batch.bookmarkRequested || now >= st->nextBookmark || timedOut)) {
          if (auto rv = store->bookmarkVersion(*st->watcher)) {
            out += bookmarkLine(*rv);
            st->nextBookmark = now + bookmarkInterval;
          } else if (batch.bookmarkRequested) {
            st->watcher->requestBookmark();  // events still queued: send them first
          }
        }
        if (!out.empty() && !sink.write(out.data(), out.size())) return false;
        if (limitReached || batch.closed || timedOut) {
          st->finished = true;
          sink.done();
          return true;
        }
        if (out.empty() && now >= st->nextLivenessCheck) {
          st->nextLivenessCheck = now + std::chrono::seconds(2);
          if (!sink.is_writable()) return false;  // the client went away
        }
        return true;
      },
      [st, store](bool) { store->unwatch(st->watcher); });
}

}  // namespace kubesim
