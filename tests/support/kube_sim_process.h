// KubeSimProcess: starts the built kube-sim binary for one test and stops it afterwards.
//
// The constructor waits (up to 10 s) for the `kube-sim listening on <url>` line and throws — the
// test fails with kube-sim's stderr — when the process dies or never gets there. The destructor
// sends SIGTERM to the process's PID and SIGKILL after 5 s, and fails the test when kube-sim's
// exit status is not 0 (a crash would otherwise go unnoticed). REST helpers use cpp-httplib so
// tests can arrange cluster state without the product's Kubernetes client.
//
// A test target that uses this must depend on the binary:
//   ocpvdr_needs_kube_sim(<test target>)   (or add_dependencies(<test target> kube-sim))
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace ocpvdr::testing {

struct KubeSimOptions {
  std::string token = "test-token";
  bool tls = false;  // serve HTTPS with a fresh self-signed certificate (CA in the kubeconfig)
  int compactionWindow = 0;
  std::vector<std::string> extraArgs;  // e.g. {"--bookmark-interval", "1"}
  std::string loadFile;                // --load
  // --listen host:port. The netns ssh hosts reach the root namespace only at the test bridge
  // address, so tests that run commands "on" those hosts listen there (NetnsHosts::bridgeIp()).
  std::string listen = "127.0.0.1:0";
};

// One HTTP exchange with kube-sim.
struct KubeSimResponse {
  int status = 0;  // 0: transport error (see `error`)
  std::string body;
  std::multimap<std::string, std::string> headers;
  std::string error;
  nlohmann::json json() const;  // the body parsed; null when it is not JSON
  std::string header(const std::string& name) const;
};

class KubeSimProcess {
 public:
  explicit KubeSimProcess(KubeSimOptions options = {});
  ~KubeSimProcess();
  KubeSimProcess(const KubeSimProcess&) = delete;
  KubeSimProcess& operator=(const KubeSimProcess&) = delete;

  std::string url() const { return url_; }
  const std::string& token() const { return options_.token; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  // PEM file of the server certificate (its own CA) when tls; empty otherwise.
  const std::string& caFile() const { return caFile_; }

  // Writes a kubeconfig (clusters/users/contexts, token auth, certificate-authority-data when
  // TLS) whose current-context is `context`. Returns `path`. `token` replaces the admin token
  // (e.g. a `--token-user` token with `--rbac`).
  std::string writeKubeconfig(const std::string& path, const std::string& context = "sim",
                              const std::string& token = "") const;

  // /admin endpoints; the parsed response (a failure adds a test failure and returns the Status).
  nlohmann::json admin(const std::string& method, const std::string& path,
                       const nlohmann::json& body = {});
  void compact();
  void closeWatches();
  void setFaults(const nlohmann::json& faults);

  // Plain REST helpers for arranging test state without the product's client. request() returns
  // the parsed body (a Status object on failure); send() returns everything.
  nlohmann::json request(const std::string& method, const std::string& path,
                         const std::string& body = "",
                         const std::string& contentType = "application/json");
  KubeSimResponse send(const std::string& method, const std::string& path,
                       const std::string& body = "",
                       const std::string& contentType = "application/json",
                       const std::map<std::string, std::string>& extraHeaders = {}) const;

  // SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status (128+signal when killed
  // by a signal). Idempotent; the destructor calls it.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));
  // kube-sim's stderr so far.
  std::string stderrText() const;

 private:
  KubeSimOptions options_;
  TempDir dir_;
  std::string url_;
  std::string host_;
  int port_ = 0;
  std::string caFile_;
  pid_t pid_ = -1;
  int exitStatus_ = -1;
};

// Writes a self-signed EC P-256 certificate for 127.0.0.1 / localhost and `extraIp` when given
// (CA:TRUE, so it is its own trust anchor) and its private key, both PEM. Throws on OpenSSL
// failure.
void generateSelfSignedCert(const std::string& certPath, const std::string& keyPath,
                            const std::string& extraIp = "");

}  // namespace ocpvdr::testing
