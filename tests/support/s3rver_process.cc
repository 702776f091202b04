// Launching and stopping s3rver for tests (see s3rver_process.h).
#include "support/s3rver_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <thread>

namespace ocpvdr::testing {
namespace {

std::string findInPath(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<std::unique_ptr<S3rverProcess>> S3rverProcess::start(
    const std::vector<std::string>& buckets) {
  return start(buckets, "127.0.0.1");
}

Result<std::unique_ptr<S3rverProcess>> S3rverProcess::start(const std::vector<std::string>& buckets,
                                                            const std::string& host) {
  const std::filesystem::path script = sourcePath("node_modules/s3rver/bin/s3rver.js");
  if (!std::filesystem::exists(script)) {
    std::cerr << "\n*** s3rver is not installed (" << script.string()
              << " missing): run `make deps` (npm ci). Skipping. ***\n\n";
    return notFoundError("s3rver not installed: " + script.string() + " missing (run make deps)");
  }
  const std::string node = findInPath("node");
  if (node.empty()) {
    std::cerr << "\n*** node is not on PATH: s3rver cannot run. Skipping. ***\n\n";
    return notFoundError("node not found on PATH");
  }

  std::unique_ptr<S3rverProcess> p(new S3rverProcess());
  p->host_ = host;
  p->dir_ = std::make_unique<TempDir>("ocpvdr-s3rver");
  const std::string data = (p->dir_->path() / "data").string();
  const std::string logFile = (p->dir_->path() / "s3rver.log").string();
  std::filesystem::create_directories(data);

  std::vector<std::string> args = {node, script.string(), "-d", data, "-a", host, "-p",
                                   "0",  "--silent"};
  for (const auto& b : buckets) {
    args.push_back("--configure-bucket");
    args.push_back(b);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The environment is built before fork: the child may only call async-signal-safe functions.
  std::vector<std::string> envStore;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "NODE_OPTIONS=", 13) != 0) envStore.emplace_back(*e);
  envStore.emplace_back("NODE_OPTIONS=--openssl-legacy-provider");
  std::vector<char*> envp;
  for (auto& e : envStore) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) return terminalError(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Child: output to the log file (a file, not a pipe: nobody has to drain it).
    int fd = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execve(node.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  p->pid_ = pid;

  // s3rver prints "S3rver listening on 127.0.0.1:<port>" once it accepts connections.
  const std::regex listening("listening on " +
                             std::regex_replace(host, std::regex(R"(\.)"), R"(\.)") + R"(:(\d+))");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch m;
    std::string out = slurp(logFile);
    if (std::regex_search(out, m, listening)) {
      p->port_ = std::stoi(m[1].str());
      return p;
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      p->pid_ = -1;
      return terminalError("s3rver exited before listening: " + out);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return terminalError("s3rver did not report a port within 30 s: " + slurp(logFile));
}

std::string S3rverProcess::log() const {
  return dir_ ? slurp(dir_->path() / "s3rver.log") : std::string();
}

void S3rverProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

S3rverProcess::~S3rverProcess() {
  stop();
}

}  // namespace ocpvdr::testing
