// Sender process → pipe → extent::apply (see extent_pipe.h).
#include "replication/extent_pipe.h"

#include <sstream>

#include "extent/fs.h"

namespace ocpvdr::replication {

namespace {

constexpr size_t kErrTail = 64 * 1024;

}  // namespace

PipeApplyResult pipeIntoApply(ProcessRunner& runner, const std::vector<std::string>& senderArgv,
                              const extent::ApplyOptions& opts, std::chrono::milliseconds timeout,
                              std::stop_token stop) {
  PipeApplyResult res;
  if (senderArgv.empty()) {
    res.applied = invalidError("no sender command");
    return res;
  }
  // stderr: its report line comes last, so the tail is kept (the runner keeps the head).
  std::string errText;
  ProcessSpec spec;
  spec.argv = senderArgv;
  spec.timeout = timeout;
  spec.killGrace = std::chrono::seconds(2);
  spec.maxCapture = 4096;
  spec.onStderrLine = [&errText](std::string_view line) {
    errText.append(line);
    errText.push_back('\n');
    if (errText.size() > 2 * kErrTail) errText.erase(0, errText.size() - kErrTail);
  };
  bool applied = false;
  spec.onStdoutFd = [&](int fd) {
    applied = true;
    const uint64_t read0 = extent::storageReadBytes();
    res.applied = extent::apply(opts, fd);
    res.drReadBytes = extent::storageReadBytes() - read0;
  };
  auto r = runner.run(spec, stop);
  if (!r.ok()) {
    if (!applied) {
      res.applied = r.error().kind == ErrorKind::Terminal
                        ? r.error()
                        : terminalError("cannot start " + senderArgv[0] + ": " + r.error().message);
      return res;
    }
    if (res.applied.ok()) res.applied = r.error().wrap("watching the sender");
  }
  res.started = applied;
  if (r.ok()) {
    res.stopped = r->stopped;
    res.timedOut = r->timedOut;
    res.senderSignaled = r->signaled;
    if (!r->signaled) res.senderExit = r->exitCode;
  }
  res.senderErr = errText.size() > kErrTail ? errText.substr(errText.size() - kErrTail) : errText;
  return res;
}

std::map<std::string, std::string> moverFields(std::string_view text, std::string_view prefix) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.substr(0, prefix.size()) == prefix) {
      std::istringstream in{std::string(line.substr(prefix.size()))};
      std::string kv;
      while (in >> kv) {
        size_t eq = kv.find('=');
        if (eq != std::string::npos) out[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      return out;
    }
    pos = end + 1;
  }
  return out;
}

}  // namespace ocpvdr::replication
