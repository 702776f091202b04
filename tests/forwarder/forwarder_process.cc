// Launching and scraping the forwarder process (ocpv-dr-forward or `ocpv-dr forward`) for tests and
// benchmarks (see forwarder_process.h).
#include "forwarder_process.h"

#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/temp_dir.h"

namespace ocpvdr::testing {
namespace {

std::string readText(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string yamlList(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", \"" : "\"") + v[i] + "\"";
  return out + "]";
}

}  // namespace

std::string forwarderConfigYaml(const ForwarderConfig& c) {
  std::ostringstream y;
  y << "sites:\n"
    << "  primary:\n"
    << "    name: " << c.clusterName << "\n"
    << "    kubernetes:\n"
    << "      kubeconfig: \"" << c.kubeconfig << "\"\n"
    << "    nfs:\n"
    << "      server: nfs-primary.example.com\n"
    << "      export_roots:\n"
    << "        - {export: /exports/ocp, path: /srv/nfs/ocp}\n"
    << "  dr:\n"
    << "    name: dr\n"
    << "    nfs:\n"
    << "      server: nfs-dr.example.com\n"
    << "      export_roots:\n"
    << "        - {export: /exports/ocp, path: /srv/nfs/ocp}\n"
    << "replication:\n"
    << "  storage_classes: " << yamlList(c.storageClasses) << "\n"
    << "  namespaces: " << yamlList(c.namespaces) << "\n"
    << "  label_selector: \"" << c.labelSelector << "\"\n"
    << "  path_mappings:\n"
    << "    - {primary: /exports/ocp, dr: /exports/ocp}\n"
    << "forwarder:\n"
    << "  webhook_url: \"" << c.webhookUrl << "\"\n"
    << "  token_file: \"" << c.tokenFile << "\"\n"
    << "  hmac_secret_file: \"" << c.hmacSecretFile << "\"\n"
    << "  spool_dir: \"" << c.spoolDir << "\"\n"
    << "  spool_max_events: " << c.spoolMaxEvents << "\n"
    << "  settle: " << c.settle << "\n"
    << "  listen: 127.0.0.1:0\n"
    << "  watch_snapshots: " << (c.watchSnapshots ? "true" : "false") << "\n";
  return y.str();
}

ForwarderProcess::ForwarderProcess(std::string configPath, std::string logPath,
                                   std::chrono::milliseconds timeout,
                                   std::map<std::string, std::string> env, Program program)
    : logPath_(std::move(logPath)) {
  const bool image = program == Program::Image;
  const std::string binary =
      binaryPath(image ? "src/cli/ocpv-dr-forward" : "src/cli/ocpv-dr").string();
  if (::access(binary.c_str(), X_OK) != 0) throw std::runtime_error("no binary at " + binary);
  const std::string readyFile = logPath_ + ".ready";
  std::filesystem::remove(readyFile);
  std::vector<std::string> args = {binary, "--log-format", "json", "--log-level", "info"};
  if (!image) args.push_back("forward");
  for (const std::string& a :
       {std::string("-c"), configPath, std::string("--ready-file"), readyFile})
    args.push_back(a);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> envStrings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string s = *e;
    if (env.count(s.substr(0, s.find('='))) == 0) envStrings.push_back(s);
  }
  for (const auto& [k, v] : env) envStrings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : envStrings) envp.push_back(s.data());
  envp.push_back(nullptr);
  const int logFd = ::open(logPath_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    const int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, STDIN_FILENO);
    ::dup2(devnull, STDOUT_FILENO);
    if (logFd >= 0) ::dup2(logFd, STDERR_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  if (logFd >= 0) ::close(logFd);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::string text = readText(readyFile);
    if (!text.empty() && text.back() == '\n') {
      url_ = text.substr(0, text.size() - 1);
      return;
    }
    if (!running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const int st = signal(SIGKILL);
  std::string log = logText();
  if (log.size() > 4000) log = log.substr(log.size() - 4000);
  throw std::runtime_error("the forwarder did not become ready (status " + std::to_string(st) +
                           "): " + log);
}

ForwarderProcess::~ForwarderProcess() {
  if (pid_ > 0) (void)signal(SIGKILL);
}

bool ForwarderProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid_ = -1;
    return false;
  }
  return true;
}

int ForwarderProcess::signal(int sig, std::chrono::milliseconds grace) {
  if (pid_ <= 0) return status_;
  ::kill(pid_, sig);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  while (true) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  pid_ = -1;
  return status_;
}

std::pair<int, std::string> ForwarderProcess::get(const std::string& path) const {
  httplib::Client cli(url_);
  cli.set_connection_timeout(2);
  cli.set_read_timeout(5);
  auto r = cli.Get(path);
  if (!r) return {0, httplib::to_string(r.error())};
  return {r->status, r->body};
}

std::string ForwarderProcess::metricsText() const {
  return get("/metrics").second;
}

double ForwarderProcess::metric(const std::string& name,
                                const std::map<std::string, std::string>& labels) const {
  std::string series = name;
  if (!labels.empty()) {
    series += "{";
    bool first = true;
    for (const auto& [k, v] : labels) {
      series += (first ? "" : ",") + k + "=\"" + v + "\"";
      first = false;
    }
    series += "}";
  }
  std::istringstream in(metricsText());
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

std::string ForwarderProcess::logText() const {
  return readText(logPath_);
}

}  // namespace ocpvdr::testing
