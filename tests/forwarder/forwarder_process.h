// Test helpers for the real `ocpv-dr forward` process: a configuration file writer and a
// launcher that starts the binary, waits for its ready file (the health/metrics URL), scrapes
// /metrics, and stops it with SIGTERM or kills it with SIGKILL. Also used by bench/forwarder.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace ocpvdr::testing {

struct ForwarderConfig {
  std::string kubeconfig;
  std::string webhookUrl;
  std::string tokenFile;
  std::string hmacSecretFile;
  std::string spoolDir;
  std::string clusterName = "primary";
  std::vector<std::string> storageClasses{"nfs-dynamic"};
  std::vector<std::string> namespaces;  // VolumeSnapshot namespaces; empty: all
  std::string labelSelector;
  long spoolMaxEvents = 10000;
  std::string settle = "0s";
  bool watchSnapshots = true;
};

// The YAML of a complete, valid ocpv-dr configuration around `c`.
std::string forwarderConfigYaml(const ForwarderConfig& c);

class ForwarderProcess {
 public:
  // Which program runs the forwarder: the container image's `ocpv-dr-forward` (what deploys),
  // or the `ocpv-dr forward` subcommand (the same code in the full binary).
  enum class Program { Image, Subcommand };

  // Starts the forwarder with `-c <configPath> --ready-file ... --log-format json`, stderr
  // going to `logPath` (appended, so restarts keep one log), and waits up to `timeout` for the
  // ready file. Throws std::runtime_error (with the log's tail) when the process dies first.
  ForwarderProcess(std::string configPath, std::string logPath,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30),
                   std::map<std::string, std::string> env = {}, Program program = Program::Image);
  ~ForwarderProcess();  // SIGKILL if still running
  ForwarderProcess(const ForwarderProcess&) = delete;
  ForwarderProcess& operator=(const ForwarderProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& url() const { return url_; }  // http://127.0.0.1:<port>

  // Sends `sig` and waits up to `grace` for the exit (SIGKILL after that). Returns the exit code,
  // or 128 + signal number when killed by a signal.
  int signal(int sig, std::chrono::milliseconds grace = std::chrono::seconds(20));
  bool running();

  // GET <url><path>: status and body (status 0 when the request failed).
  std::pair<int, std::string> get(const std::string& path) const;
  std::string metricsText() const;
  // The value of one series (exact label set as rendered, e.g. {code="401"}); -1 when absent.
  double metric(const std::string& name,
                const std::map<std::string, std::string>& labels = {}) const;
  std::string logText() const;

 private:
  std::string logPath_;
  std::string url_;
  pid_t pid_ = -1;
  int status_ = -1;
};

}  // namespace ocpvdr::testing
