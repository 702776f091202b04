// Kubeconfig (YAML, `kind: Config`) and in-cluster configuration loading, and the rotating
// bearer-token source.
#include "kube/cluster_config.h"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "core/json_util.h"
#include "core/log.h"

namespace ocpvdr::kube {
namespace {

namespace fs = std::filesystem;

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// A string-valued key of a YAML map: absent/null → nullopt; a non-scalar → Invalid naming it.
Result<std::optional<std::string>> optScalar(const YAML::Node& map, const char* key,
                                             const std::string& where) {
  if (!map.IsMap()) return std::optional<std::string>{};
  YAML::Node n = map[key];
  if (!n.IsDefined() || n.IsNull()) return std::optional<std::string>{};
  if (!n.IsScalar()) return invalidError(where + "." + key + ": expected a string");
  return std::optional<std::string>{n.Scalar()};
}

Result<bool> optBool(const YAML::Node& map, const char* key, const std::string& where) {
  OCPVDR_ASSIGN_OR_RETURN(auto v, optScalar(map, key, where));
  if (!v) return false;
  if (*v == "true" || *v == "True" || *v == "TRUE") return true;
  if (*v == "false" || *v == "False" || *v == "FALSE") return false;
  return invalidError(where + "." + key + ": expected true or false, got \"" + *v + "\"");
}

// Finds `name` in a kubeconfig list (clusters/users/contexts) and returns its inner map
// (`cluster:` / `user:` / `context:`).
Result<YAML::Node> findNamed(const YAML::Node& root, const char* listKey, const char* innerKey,
                             const std::string& name, const std::string& file,
                             const std::string& referencedBy) {
  YAML::Node list = root[listKey];
  std::vector<std::string> names;
  if (list.IsDefined() && !list.IsNull()) {
    if (!list.IsSequence()) return invalidError(file + ": " + listKey + ": expected a list");
    for (const auto& entry : list) {
      if (!entry.IsMap()) continue;
      YAML::Node n = entry["name"];
      if (!n.IsScalar()) continue;
      names.push_back(n.Scalar());
      if (n.Scalar() == name) {
        YAML::Node inner = entry[innerKey];
        if (!inner.IsDefined() || inner.IsNull()) return YAML::Node(YAML::NodeType::Map);
        if (!inner.IsMap()) {
          return invalidError(file + ": " + listKey + "[" + name + "]." + innerKey +
                              ": expected a map");
        }
        return inner;
      }
    }
  }
  std::string avail;
  for (const auto& n : names) avail += (avail.empty() ? "" : ", ") + n;
  return invalidError(file + ": " + referencedBy + " \"" + name + "\" not found in " + listKey +
                      (avail.empty() ? " (the list is empty)" : " (available: " + avail + ")"));
}

std::string resolvePath(const std::string& p, const fs::path& baseDir) {
  if (p.empty()) return p;
  fs::path path(p);
  if (path.is_relative()) path = baseDir / path;
  return path.lexically_normal().string();
}

Status checkReadable(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    return invalidError(what + ": file \"" + path + "\" does not exist or is not a regular file");
  }
  return Status::success();
}

// A PEM given inline (*-data, base64) or as a file path relative to the kubeconfig.
Status readPemPair(const YAML::Node& map, const char* fileKey, const char* dataKey,
                   const std::string& where, const fs::path& baseDir, std::string& outFile,
                   std::string& outData) {
  OCPVDR_ASSIGN_OR_RETURN(auto data, optScalar(map, dataKey, where));
  OCPVDR_ASSIGN_OR_RETURN(auto file, optScalar(map, fileKey, where));
  if (data && !data->empty()) {
    auto decoded = decodeBase64(*data);
    if (!decoded) return decoded.error().wrap(where + "." + dataKey);
    outData = std::move(decoded).value();
    return Status::success();
  }
  if (file && !file->empty()) {
    outFile = resolvePath(*file, baseDir);
    OCPVDR_TRY(checkReadable(outFile, where + "." + fileKey));
  }
  return Status::success();
}

// The cluster entry: server URL, CA, TLS verification and server name.
Status readClusterEntry(const YAML::Node& cluster, const std::string& clWhere,
                        const fs::path& baseDir, ClusterConfig& cfg) {
  OCPVDR_ASSIGN_OR_RETURN(auto server, optScalar(cluster, "server", clWhere));
  if (!server || server->empty()) return invalidError(clWhere + ".server: missing");
  std::string srv = trim(*server);
  while (!srv.empty() && srv.back() == '/') srv.pop_back();
  if (srv.rfind("https://", 0) != 0 && srv.rfind("http://", 0) != 0) {
    return invalidError(clWhere + ".server: expected an http(s):// URL, got \"" + *server + "\"");
  }
  cfg.server = srv;
  OCPVDR_TRY(readPemPair(cluster, "certificate-authority", "certificate-authority-data", clWhere,
                         baseDir, cfg.caFile, cfg.caData));
  OCPVDR_ASSIGN_OR_RETURN(cfg.insecureSkipTlsVerify,
                          optBool(cluster, "insecure-skip-tls-verify", clWhere));
  OCPVDR_ASSIGN_OR_RETURN(auto sni, optScalar(cluster, "tls-server-name", clWhere));
  cfg.tlsServerName = sni.value_or("");
  return Status::success();
}

// The user entry: a token (inline or a file) or a client certificate; credential plugins and
// basic authentication are refused.
Status readUserEntry(const YAML::Node& user, const std::string& userName, const std::string& uWhere,
                     const fs::path& baseDir, ClusterConfig& cfg) {
  if (user["exec"].IsDefined() && !user["exec"].IsNull()) {
    std::string cmd;
    if (user["exec"].IsMap() && user["exec"]["command"].IsScalar()) {
      cmd = " (command \"" + user["exec"]["command"].Scalar() + "\")";
    }
    return refusedError(uWhere + ": user \"" + userName +
                        "\" authenticates with an exec credential plugin" + cmd +
                        ", which ocpv-dr does not run; give it a kubeconfig with a token (for "
                        "example a service-account token) or a client certificate");
  }
  if (user["auth-provider"].IsDefined() && !user["auth-provider"].IsNull()) {
    std::string prov;
    if (user["auth-provider"].IsMap() && user["auth-provider"]["name"].IsScalar()) {
      prov = " \"" + user["auth-provider"]["name"].Scalar() + "\"";
    }
    return refusedError(uWhere + ": user \"" + userName + "\" uses the auth-provider plugin" +
                        prov +
                        ", which ocpv-dr does not support; use a token or a client certificate");
  }
  OCPVDR_ASSIGN_OR_RETURN(auto username, optScalar(user, "username", uWhere));
  OCPVDR_ASSIGN_OR_RETURN(auto password, optScalar(user, "password", uWhere));
  if ((username && !username->empty()) || (password && !password->empty())) {
    return refusedError(uWhere + ": user \"" + userName +
                        "\" uses basic authentication (username/password), which ocpv-dr does not "
                        "support (OpenShift rejects it too); use a token or a client certificate");
  }
  OCPVDR_ASSIGN_OR_RETURN(auto token, optScalar(user, "token", uWhere));
  OCPVDR_ASSIGN_OR_RETURN(auto tokenFile, optScalar(user, "tokenFile", uWhere));
  cfg.token = trim(token.value_or(""));
  if (tokenFile && !tokenFile->empty()) {
    cfg.tokenFile = resolvePath(*tokenFile, baseDir);
    auto text = readFile(cfg.tokenFile);
    if (!text) return text.error().wrap(uWhere + ".tokenFile");
    cfg.token = trim(*text);
    if (cfg.token.empty()) {
      return invalidError(uWhere + ".tokenFile: \"" + cfg.tokenFile + "\" is empty");
    }
  }
  OCPVDR_TRY(readPemPair(user, "client-certificate", "client-certificate-data", uWhere, baseDir,
                         cfg.certFile, cfg.certData));
  OCPVDR_TRY(readPemPair(user, "client-key", "client-key-data", uWhere, baseDir, cfg.keyFile,
                         cfg.keyData));
  const bool hasCert = !cfg.certFile.empty() || !cfg.certData.empty();
  const bool hasKey = !cfg.keyFile.empty() || !cfg.keyData.empty();
  if (hasCert != hasKey) {
    return invalidError(uWhere + ": " +
                        (hasCert ? "client-certificate without client-key"
                                 : "client-key without client-certificate"));
  }
  return Status::success();
}

Result<ClusterConfig> parseKubeconfig(const YAML::Node& root, const std::string& file,
                                      const std::string& contextName) {
  if (!root.IsMap()) return invalidError(file + ": not a kubeconfig (expected a YAML map)");
  const fs::path baseDir = fs::path(file).parent_path();

  std::string ctxName = contextName;
  if (ctxName.empty()) {
    OCPVDR_ASSIGN_OR_RETURN(auto cur, optScalar(root, "current-context", file));
    if (!cur || cur->empty()) {
      return invalidError(file + ": no current-context is set and no context was given");
    }
    ctxName = *cur;
  }
  OCPVDR_ASSIGN_OR_RETURN(YAML::Node ctx,
                          findNamed(root, "contexts", "context", ctxName, file, "context"));
  const std::string ctxWhere = "contexts[" + ctxName + "].context";
  OCPVDR_ASSIGN_OR_RETURN(auto clusterName, optScalar(ctx, "cluster", ctxWhere));
  if (!clusterName || clusterName->empty()) {
    return invalidError(file + ": context \"" + ctxName + "\" names no cluster");
  }
  OCPVDR_ASSIGN_OR_RETURN(auto userName, optScalar(ctx, "user", ctxWhere));
  OCPVDR_ASSIGN_OR_RETURN(auto ns, optScalar(ctx, "namespace", ctxWhere));

  ClusterConfig cfg;
  cfg.contextName = ctxName;
  cfg.defaultNamespace = ns.value_or("");
  cfg.source = "kubeconfig " + file + " (context " + ctxName + ")";

  OCPVDR_ASSIGN_OR_RETURN(YAML::Node cluster,
                          findNamed(root, "clusters", "cluster", *clusterName, file,
                                    "context \"" + ctxName + "\" refers to cluster"));
  const std::string clWhere = file + ": clusters[" + *clusterName + "].cluster";
  OCPVDR_TRY(readClusterEntry(cluster, clWhere, baseDir, cfg));

  if (!userName || userName->empty()) return cfg;  // anonymous access
  OCPVDR_ASSIGN_OR_RETURN(YAML::Node user, findNamed(root, "users", "user", *userName, file,
                                                     "context \"" + ctxName + "\" refers to user"));
  const std::string uWhere = file + ": users[" + *userName + "].user";
  OCPVDR_TRY(readUserEntry(user, *userName, uWhere, baseDir, cfg));
  return cfg;
}

}  // namespace

Result<std::string> decodeBase64(std::string_view text) {
  std::string clean;
  clean.reserve(text.size());
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) continue;
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=';
    if (!ok) return invalidError("not valid base64 (unexpected character)");
    clean.push_back(c);
  }
  if (clean.size() % 4 == 1) return invalidError("not valid base64 (bad length)");
  while (clean.size() % 4 != 0) clean.push_back('=');
  if (clean.empty()) return std::string{};
  std::size_t pad = 0;
  if (clean.back() == '=') ++pad;
  if (clean.size() >= 2 && clean[clean.size() - 2] == '=') ++pad;
  if (clean.find('=') < clean.size() - pad) return invalidError("not valid base64 ('=' inside)");
  std::string out(clean.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(clean.data()),
                          static_cast<int>(clean.size()));
  if (n < 0) return invalidError("not valid base64");
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

Result<ClusterConfig> loadKubeconfig(const std::string& path, const std::string& contextName) {
  auto text = readFile(path);
  if (!text) return invalidError("kubeconfig " + path + ": " + text.error().message);
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return invalidError("kubeconfig " + path + ": not valid YAML: " + e.what());
  }
  try {
    return parseKubeconfig(root, path, contextName);
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws on shapes the checks above did not anticipate; still a value to the caller.
    return invalidError("kubeconfig " + path + ": unexpected structure: " + e.what());
  }
}

EnvLookup processEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Result<ClusterConfig> inClusterConfig(const std::string& root, const EnvLookup& env) {
  auto host = env("KUBERNETES_SERVICE_HOST");
  auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return invalidError(
        "in-cluster configuration: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be "
        "set (is this running in a pod?)");
  }
  for (char c : *port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      return invalidError("in-cluster configuration: KUBERNETES_SERVICE_PORT is not a number: \"" +
                          *port + "\"");
    }
  }
  std::string h = *host;
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";
  ClusterConfig cfg;
  cfg.server = "https://" + h + ":" + *port;
  cfg.source = "in-cluster";
  cfg.tokenFile = (fs::path(root) / "token").string();
  auto token = readFile(cfg.tokenFile);
  if (!token) {
    return invalidError("in-cluster configuration: cannot read the service-account token: " +
                        token.error().message);
  }
  cfg.token = trim(*token);
  if (cfg.token.empty()) {
    return invalidError("in-cluster configuration: token file " + cfg.tokenFile + " is empty");
  }
  cfg.caFile = (fs::path(root) / "ca.crt").string();
  OCPVDR_TRY(checkReadable(cfg.caFile, "in-cluster configuration: service-account CA"));
  auto ns = readFile((fs::path(root) / "namespace").string());
  if (ns) cfg.defaultNamespace = trim(*ns);
  return cfg;
}

Result<ClusterConfig> resolveClusterConfig(const config::KubeAccess& access, const EnvLookup& env,
                                           const std::string& serviceAccountRoot) {
  if (!access.kubeconfig.empty()) return loadKubeconfig(access.kubeconfig, access.context);
  if (access.inCluster) return inClusterConfig(serviceAccountRoot, env);
  if (auto kc = env("KUBECONFIG"); kc && !kc->empty()) {
    std::string_view list = *kc;
    while (!list.empty()) {
      auto colon = list.find(':');
      std::string first(list.substr(0, colon));
      if (!first.empty()) return loadKubeconfig(first, access.context);
      if (colon == std::string_view::npos) break;
      list.remove_prefix(colon + 1);
    }
  }
  auto home = env("HOME");
  if (!home || home->empty()) {
    return invalidError(
        "no Kubernetes access configured: no kubeconfig path, in_cluster is false, $KUBECONFIG "
        "is unset and $HOME is unset");
  }
  const std::string path = (fs::path(*home) / ".kube" / "config").string();
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    return invalidError(
        "no Kubernetes access configured: no kubeconfig path, in_cluster is false, $KUBECONFIG "
        "is unset and " +
        path + " does not exist");
  }
  return loadKubeconfig(path, access.context);
}

TlsOptions tlsOptionsFor(const ClusterConfig& cfg) {
  TlsOptions t;
  t.caData = cfg.caData;
  t.caFile = cfg.caFile;
  t.certData = cfg.certData;
  t.certFile = cfg.certFile;
  t.keyData = cfg.keyData;
  t.keyFile = cfg.keyFile;
  t.insecureSkipVerify = cfg.insecureSkipTlsVerify;
  t.serverName = cfg.tlsServerName;
  return t;
}

BearerTokenSource::BearerTokenSource(const ClusterConfig& cfg, Clock& clock,
                                     std::chrono::milliseconds recheck)
    : clock_(clock), file_(cfg.tokenFile), recheck_(recheck), token_(cfg.token) {
  if (!token_.empty()) log::addSecret(token_);
}

Status BearerTokenSource::readLocked() {
  struct stat st {};
  if (::stat(file_.c_str(), &st) != 0) {
    return retryableError("token file " + file_ + " cannot be read");
  }
  const std::int64_t mtimeNs =
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  const std::int64_t size = st.st_size;
  if (loaded_ && mtimeNs == mtimeNs_ && size == size_) return Status::success();
  auto text = readFile(file_);
  if (!text) return retryableError("token file " + file_ + ": " + text.error().message);
  std::string tok = trim(*text);
  if (tok.empty()) return retryableError("token file " + file_ + " is empty");
  if (tok != token_) log::addSecret(tok);
  token_ = std::move(tok);
  mtimeNs_ = mtimeNs;
  size_ = size;
  loaded_ = true;
  return Status::success();
}

Result<std::string> BearerTokenSource::token() {
  std::lock_guard lock(mu_);
  if (file_.empty()) return token_;
  const SteadyTime now = clock_.monotonic();
  if (!loaded_ || now - lastCheck_ >= recheck_) {
    lastCheck_ = now;
    Status st = readLocked();
    if (!st.ok()) {
      // A rotation in progress can briefly hide the file; keep using the token we have.
      if (!token_.empty()) {
        log::warn("kube: keeping the previous bearer token", {{"reason", st.error().message}});
        return token_;
      }
      return st.error();
    }
  }
  return token_;
}

Result<bool> BearerTokenSource::reload() {
  std::lock_guard lock(mu_);
  if (file_.empty()) return false;
  const std::string before = token_;
  loaded_ = false;  // force a read even when mtime and size look unchanged
  lastCheck_ = clock_.monotonic();
  OCPVDR_TRY(readLocked());
  return token_ != before;
}

}  // namespace ocpvdr::kube
