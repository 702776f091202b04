// Where a Kubernetes API server is and how to authenticate to it: kubeconfig files (YAML, the
// `kind: Config` format kubectl writes), the in-cluster service-account mount, and the resolution
// order the CLI uses. Also the bearer-token source that re-reads a rotating token file.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "config/config.h"
#include "core/clock.h"
#include "core/http.h"
#include "core/result.h"
#include "core/secret_file.h"

namespace ocpvdr::kube {

inline constexpr const char* kServiceAccountRoot = "/var/run/secrets/kubernetes.io/serviceaccount";

// Everything needed to talk to one API server. Paths are absolute (relative kubeconfig paths are
// resolved against the kubeconfig's directory when loading).
struct ClusterConfig {
  std::string server;  // "https://host:port", no trailing slash
  std::string caData;  // PEM; wins over caFile
  std::string caFile;
  bool insecureSkipTlsVerify = false;
  std::string tlsServerName;
  // Bearer token. When tokenFile is set it wins and is re-read as it changes (service-account
  // tokens are rotated by the kubelet); `token` is then only the value read at load time.
  std::string token;
  std::string tokenFile;
  std::string certData, certFile;  // client certificate (PEM)
  std::string keyData, keyFile;    // client key (PEM)
  std::string defaultNamespace;    // context namespace or the service account's namespace
  std::string contextName;         // empty for in-cluster
  std::string source;  // for messages: "kubeconfig /x/config (context sim)" / "in-cluster"
};

// Reads a kubeconfig. `contextName` empty → the file's current-context. Errors:
//   unreadable / not YAML / missing context, cluster or user entry → Invalid naming which;
//   username/password, exec and auth-provider credentials → Refused naming the user entry.
[[nodiscard]] Result<ClusterConfig> loadKubeconfig(const std::string& path,
                                                   const std::string& contextName = "");

// Reads environment variables; injectable so tests need not touch the process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup processEnv();

// The pod's service account: KUBERNETES_SERVICE_HOST/PORT (an IPv6 host is bracketed),
// <root>/token (re-read on change), <root>/ca.crt, <root>/namespace (optional).
[[nodiscard]] Result<ClusterConfig> inClusterConfig(const std::string& root = kServiceAccountRoot,
                                                    const EnvLookup& env = processEnv());

// The CLI's resolution order: an explicit kubeconfig path; else in-cluster when the site says
// in_cluster (never guessed from the environment: a pod that holds a kubeconfig for another
// cluster must not silently talk to the cluster it runs in); else the first file of $KUBECONFIG;
// else ~/.kube/config.
[[nodiscard]] Result<ClusterConfig> resolveClusterConfig(
    const config::KubeAccess& access, const EnvLookup& env = processEnv(),
    const std::string& serviceAccountRoot = kServiceAccountRoot);

// TLS material for the HttpClient that will carry this cluster's requests.
TlsOptions tlsOptionsFor(const ClusterConfig& cfg);

// Decodes standard base64 (whitespace ignored); Invalid on anything else.
[[nodiscard]] Result<std::string> decodeBase64(std::string_view text);

// The bearer token to send. A static token never changes; a token file (core/secret_file.h) is
// re-checked at most once per `recheck` interval, and immediately when reload() is asked for
// (after a 401), so a rotated token is picked up without a restart. Thread-safe.
class BearerTokenSource {
 public:
  BearerTokenSource(const ClusterConfig& cfg, Clock& clock,
                    std::chrono::milliseconds recheck = std::chrono::seconds(5));
  // Empty string: no bearer authentication configured.
  [[nodiscard]] Result<std::string> token();
  // Re-reads the file now. Returns true when the token changed (worth retrying a 401).
  [[nodiscard]] Result<bool> reload();
  bool fromFile() const { return file_ != nullptr; }

 private:
  // The file's token after refresh(force); Retryable naming the file when unreadable or empty.
  Result<std::string> read(bool force);

  std::unique_ptr<SecretFile> file_;  // null: static token only
  std::mutex mu_;
  std::string token_;  // the last good token: resolved at start, then the file's when not empty
};

}  // namespace ocpvdr::kube
