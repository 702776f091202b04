// kube-sim: an API-compatible Kubernetes test server (see docs/kube-sim.md).
//
// Prints exactly one line, `kube-sim listening on http(s)://host:port`, once the socket is bound,
// and writes the URL to --ready-file. SIGTERM/SIGINT end it cleanly with exit status 0.
#include <pthread.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <future>
#include <iostream>
#include <sstream>
#include <thread>

#include "api_server.h"
#include "body_parser.h"
#include "builtin_controllers.h"
#include "controller.h"
#include "core/clock.h"
#include "faults.h"
#include "store.h"

namespace {

bool splitListen(const std::string& listen, std::string* host, int* port) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  *host = listen.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  try {
    std::size_t used = 0;
    *port = std::stoi(listen.substr(colon + 1), &used);
    return used == listen.size() - colon - 1 && *port >= 0 && *port <= 65535 && !host->empty();
  } catch (const std::exception&) {
    return false;
  }
}

std::string readWholeFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kubesim;
  CLI::App app{"kube-sim: an API-compatible Kubernetes test server (for tests and the demo)",
               "kube-sim"};
  std::string listen = "127.0.0.1:0";
  std::vector<std::string> tokens;
  std::string tokenFile, tlsCert, tlsKey, loadFile, readyFile;
  std::size_t compactionWindow = 0;
  int compactionInterval = 300;
  int bookmarkInterval = 60;
  int watchTimeout = 1800;
  std::size_t maxThreads = 1024;
  bool logRequests = false;
  bool rbac = false;
  std::vector<std::string> tokenUsers;
  std::vector<std::string> controllerNames;
  std::vector<std::string> controllerOptions;
  int tickMs = 1000;
  double faultErrorRate = 0.0;
  int faultErrorCode = 500, faultRetryAfter = 1, faultLatencyMs = 0;
  std::int64_t faultCloseAfter = 0, faultErrorCount = 0;
  std::string faultPathPrefix;

  app.add_option("--listen", listen, "host:port to listen on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--token", tokens, "Accepted bearer token (repeatable)");
  app.add_option("--token-user", tokenUsers,
                 "TOKEN=USER: a bearer token of a user bound by RBAC, e.g. "
                 "t1=system:serviceaccount:ocpv-dr:ocpv-dr-forwarder (repeatable)");
  app.add_flag("--rbac", rbac,
               "Authorize --token-user tokens against the stored ClusterRoles/Roles and "
               "(Cluster)RoleBindings (--token and --token-file tokens stay cluster admins)");
  app.add_option("--token-file", tokenFile,
                 "File holding an accepted bearer token; re-read when it changes");
  app.add_option("--tls-cert", tlsCert, "PEM server certificate (HTTPS with --tls-key)");
  app.add_option("--tls-key", tlsKey, "PEM private key of --tls-cert");
  app.add_option("--compaction-interval", compactionInterval,
                 "Seconds between compactions of the history, as kube-apiserver compacts etcd: "
                 "a resourceVersion older than one to two intervals gets 410 (0 = never)")
      ->check(CLI::Range(0, 86400 * 365))
      ->capture_default_str();
  app.add_option("--compaction-window", compactionWindow,
                 "History events kept for watches/lists from a resourceVersion (0 = unlimited)")
      ->capture_default_str();
  app.add_option("--bookmark-interval", bookmarkInterval,
                 "Seconds between BOOKMARK events on watches that allow them")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--watch-timeout", watchTimeout,
                 "Seconds a watch without timeoutSeconds stays open")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  app.add_option("--max-threads", maxThreads, "Upper bound on connection threads")
      ->check(CLI::Range(8, 65536))
      ->capture_default_str();
  app.add_option("--load", loadFile, "JSON state to start with (GET /admin/state format)");
  app.add_option("--ready-file", readyFile, "Write the URL here once listening");
  app.add_flag("--log-requests", logRequests, "Log every request to stderr");
  app.add_option("--controller", controllerNames,
                 "Run a simulated controller (repeatable; \"all\" for every one)");
  app.add_option("--controller-option", controllerOptions,
                 "KEY=VALUE setting for a controller (repeatable; see docs/kube-sim.md)");
  app.add_option("--controller-tick-ms", tickMs, "Interval of the controllers' tick")
      ->check(CLI::Range(10, 3600000))
      ->capture_default_str();
  app.add_option("--fault-error-rate", faultErrorRate, "Share of requests answered with an error")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--fault-error-code", faultErrorCode, "Status of injected errors (500|429|503)");
  app.add_option("--fault-retry-after", faultRetryAfter, "Retry-After seconds for 429/503");
  app.add_option("--fault-error-count", faultErrorCount, "Fail exactly the next N requests");
  app.add_option("--fault-latency-ms", faultLatencyMs, "Added latency per request");
  app.add_option("--fault-path-prefix", faultPathPrefix, "Only fault requests under this path");
  app.add_option("--fault-close-watches-after-events", faultCloseAfter,
                 "End every watch after N events (0 = never)");
  CLI11_PARSE(app, argc, argv);

  try {
    ServerConfig sc;
    if (!splitListen(listen, &sc.host, &sc.port)) {
      std::cerr << "kube-sim: --listen must be host:port, got \"" << listen << "\"\n";
      return 2;
    }
    sc.tokens = tokens;
    sc.tokenFile = tokenFile;
    sc.rbac = rbac;
    for (const auto& tu : tokenUsers) {
      auto eq = tu.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == tu.size()) {
        std::cerr << "kube-sim: --token-user must be TOKEN=USER, got \"" << tu << "\"\n";
        return 2;
      }
      sc.tokenUsers[tu.substr(0, eq)] = tu.substr(eq + 1);
    }
    if (sc.tokens.empty() && sc.tokenFile.empty() && sc.tokenUsers.empty()) {
      std::cerr << "kube-sim: give --token or --token-file (every API request needs a bearer "
                   "token)\n";
      return 2;
    }
    sc.tlsCertFile = tlsCert;
    sc.tlsKeyFile = tlsKey;
    sc.bookmarkInterval = std::chrono::seconds(bookmarkInterval);
    sc.defaultWatchTimeout = std::chrono::seconds(watchTimeout);
    sc.maxThreads = maxThreads;
    sc.logRequests = logRequests;

    Json faultJson = {{"errorRate", faultErrorRate},
                      {"errorCode", faultErrorCode},
                      {"retryAfterSeconds", faultRetryAfter},
                      {"errorCount", faultErrorCount},
                      {"latencyMs", faultLatencyMs},
                      {"pathPrefix", faultPathPrefix},
                      {"closeWatchesAfterEvents", faultCloseAfter}};
    auto faultCfg = FaultConfig::fromJson(faultJson);
    if (!faultCfg.ok()) {
      std::cerr << "kube-sim: " << faultCfg.error().message << "\n";
      return 2;
    }

    // Signals are taken by one thread (sigwait) so every other thread runs with them blocked.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    ocpvdr::RealClock clock;
    StoreOptions so;
    so.compactionWindow = compactionWindow;
    so.compactionInterval = std::chrono::seconds(compactionInterval);
    Store store(clock, so);
    if (!loadFile.empty()) {
      auto parsed = parseBody(readWholeFile(loadFile), true);
      if (!parsed.ok()) {
        std::cerr << "kube-sim: --load " << loadFile << ": " << parsed.error().message << "\n";
        return 2;
      }
      auto st = store.loadState(parsed.value());
      if (!st.ok()) {
        std::cerr << "kube-sim: --load " << loadFile << ": " << st.error().message << "\n";
        return 2;
      }
    }
    Faults faults(faultCfg.value());
    ControllerRunner controllers(store, clock, std::chrono::milliseconds(tickMs));
    ControllerOptions copts;
    for (const auto& kv : controllerOptions) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "kube-sim: --controller-option must be KEY=VALUE, got \"" << kv << "\"\n";
        return 2;
      }
      copts[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    if (auto st = addBuiltinControllers(controllers, controllerNames, copts); !st.ok()) {
      std::cerr << "kube-sim: " << st.error().message << "\n";
      return 2;
    }
    controllers.start();
    ApiServer server(store, faults, controllers, sc);
    std::string error;
    if (!server.bind(&error)) {
      std::cerr << "kube-sim: " << error << "\n";
      return 1;
    }
    if (!readyFile.empty()) {
      const std::string tmp = readyFile + ".tmp";
      {
        std::ofstream f(tmp);
        f << server.url() << "\n";
        if (!f) {
          std::cerr << "kube-sim: cannot write --ready-file " << readyFile << "\n";
          return 1;
        }
      }
      std::rename(tmp.c_str(), readyFile.c_str());
    }
    std::cout << "kube-sim listening on " << server.url() << std::endl;

    std::promise<void> done;
    std::shared_future<void> finished = done.get_future().share();
    std::thread signalThread([&server, signals, finished] {
      int sig = 0;
      sigwait(&signals, &sig);
      server.stop();
      // Idle keep-alive connections hold their threads up to the keep-alive timeout; a test
      // harness waiting for the exit should not have to. Everything that matters is done.
      if (finished.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
        std::fflush(stdout);
        std::cerr << "kube-sim: stopped" << std::endl;
        std::_Exit(0);
      }
    });
    server.run();
    done.set_value();
    controllers.stop();
    // run() may also end without a signal: wake the signal thread so it can be joined.
    pthread_kill(signalThread.native_handle(), SIGTERM);
    signalThread.join();
    std::cerr << "kube-sim: stopped\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "kube-sim: " << e.what() << "\n";
    return 1;
  }
}
