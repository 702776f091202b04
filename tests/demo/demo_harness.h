// Runs `ocpv-dr-demo` as a child process for the demo tests and checks what it leaves behind:
// any process whose command line names the demo's work directory (every peer the demo starts —
// kube-sim, s3rver, serve, forward, sshd — is given paths under it), any PID the demo printed
// that is still alive, and any network namespace of the demo's PID.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/process.h"
#include "demo/peer_process.h"
#include "support/temp_dir.h"

namespace ocpvdr::testing {

struct DemoRunResult {
  int exitCode = -1;
  std::string output;
  pid_t pid = -1;
};

inline std::string readAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// `whileRunning` (optional) gets the process once it runs; it may signal it.
inline DemoRunResult runDemo(const TempDir& tmp, std::vector<std::string> args,
                             const std::function<void(demo::PeerProcess&)>& whileRunning = {}) {
  demo::PeerSpec spec;
  spec.name = "ocpv-dr-demo";
  spec.argv = {binaryPath("tools/demo/ocpv-dr-demo").string(), "--s3rver",
               sourcePath("node_modules/s3rver").string()};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.logFile = tmp / "demo-output.txt";
  DemoRunResult out;
  auto p = demo::PeerProcess::start(spec);
  if (!p.ok()) {
    ADD_FAILURE() << p.error().describe();
    return out;
  }
  out.pid = (*p)->pid();
  if (whileRunning) whileRunning(**p);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(8);
  while ((*p)->running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const bool finished = !(*p)->running();
  out.exitCode = (*p)->stop(std::chrono::seconds(30));
  EXPECT_TRUE(finished) << "ocpv-dr-demo did not finish within 8 minutes";
  out.output = readAll(spec.logFile);
  return out;
}

// Processes (other than this test) whose command line contains `needle`.
inline std::vector<std::string> processesMentioning(const std::string& needle) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (std::stol(name) == ::getpid()) continue;
    std::string cmd = readAll(e.path() / "cmdline");
    for (auto& c : cmd)
      if (c == '\0') c = ' ';
    if (cmd.find(needle) != std::string::npos) found.push_back(name + ": " + cmd);
  }
  return found;
}

inline void expectNothingLeft(const DemoRunResult& r, const std::filesystem::path& workdir) {
  EXPECT_TRUE(processesMentioning(workdir.string()).empty())
      << "still running:\n"
      << [&] {
           std::string s;
           for (const auto& p : processesMentioning(workdir.string())) s += p + "\n";
           return s;
         }();
  // Every "pid N" the demo printed is gone.
  static const std::regex pidRe(R"(pid (\d+))");
  std::set<long> pids;
  for (std::sregex_iterator it(r.output.begin(), r.output.end(), pidRe), end; it != end; ++it)
    pids.insert(std::stol((*it)[1].str()));
  for (long pid : pids) {
    if (pid > 0) {
      EXPECT_NE(::kill(static_cast<pid_t>(pid), 0), 0) << "pid " << pid << " is alive";
    }
  }
  RealProcessRunner runner;
  ProcessSpec list;
  list.argv = {"ip", "netns", "list"};
  list.timeout = std::chrono::seconds(10);
  auto ns = runner.run(list);
  if (ns.ok()) {
    EXPECT_EQ(ns->out.find("ocpvdr-" + std::to_string(r.pid) + "-"), std::string::npos)
        << "network namespaces of the demo left behind:\n"
        << ns->out;
  }
}

inline bool s3rverInstalled() {
  return std::filesystem::exists(sourcePath("node_modules/s3rver/bin/s3rver.js")) &&
         !demo::findProgram("node").empty();
}

}  // namespace ocpvdr::testing
