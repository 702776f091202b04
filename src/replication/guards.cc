// Host-side guards: realpath probes, confinement, empty-source verdict (see guards.h).
#include "replication/guards.h"

#include <filesystem>

#include "core/paths.h"

namespace ocpvdr::replication {
namespace fs = std::filesystem;

const std::string& probeScript() {
  static const std::string kScript =
      "if r=$(realpath -e -- \"$1\" 2>/dev/null); then printf 'root=%s\\n' \"$r\"; "
      "else echo root-missing; exit 0; fi; "
      "if p=$(realpath -e -- \"$2\" 2>/dev/null); then printf 'path=%s\\n' \"$p\"; "
      "if [ -d \"$p\" ]; then echo dir; "
      "if e=$(find \"$p\" -mindepth 1 -maxdepth 1 -print -quit); then "
      "if [ -n \"$e\" ]; then echo nonempty; else echo empty; fi; "
      "else echo unreadable; fi; "
      "else echo notdir; fi; "
      "else echo missing; fi";
  return kScript;
}

Result<PathProbe> parseProbeOutput(std::string_view out) {
  PathProbe p;
  bool sawRoot = false;
  std::size_t i = 0;
  while (i < out.size()) {
    std::size_t j = out.find('\n', i);
    if (j == std::string_view::npos) j = out.size();
    std::string_view line = out.substr(i, j - i);
    i = j + 1;
    if (line.substr(0, 5) == "root=") {
      p.rootExists = true;
      p.rootReal = std::string(line.substr(5));
      sawRoot = true;
    } else if (line == "root-missing") {
      sawRoot = true;
    } else if (line.substr(0, 5) == "path=") {
      p.exists = true;
      p.real = std::string(line.substr(5));
    } else if (line == "missing") {
      p.exists = false;
    } else if (line == "dir") {
      p.isDir = true;
    } else if (line == "notdir") {
      p.isDir = false;
    } else if (line == "empty") {
      p.empty = true;
    } else if (line == "nonempty") {
      p.empty = false;
    } else if (line == "unreadable") {
      return terminalError("cannot list the source directory " + p.real +
                           " on the primary (permissions?)");
    }
  }
  if (!sawRoot)
    return terminalError("unexpected output from the path probe: \"" +
                         std::string(out.substr(0, 200)) + "\"");
  return p;
}

Result<PathProbe> probeLocal(const std::string& root, const std::string& path,
                             std::string_view ignoreEntry) {
  PathProbe p;
  std::error_code ec;
  fs::path rootReal = fs::canonical(root, ec);
  if (ec) return p;  // rootExists stays false
  p.rootExists = true;
  p.rootReal = rootReal.string();

  auto lst = fs::symlink_status(path, ec);
  if (ec || !fs::exists(lst)) {
    // Missing: resolve what does exist so a future mkdir cannot land outside the root.
    fs::path weak = fs::weakly_canonical(path, ec);
    if (ec) return terminalError("cannot resolve " + path + ": " + ec.message());
    p.real = weak.string();
    return p;
  }
  fs::path real = fs::canonical(path, ec);
  if (ec) {
    if (fs::is_symlink(lst))
      return refusedError(path + " is a dangling symlink; refusing to write through it");
    return terminalError("cannot resolve " + path + ": " + ec.message());
  }
  p.exists = true;
  p.real = real.string();
  p.isDir = fs::is_directory(real, ec);
  if (p.isDir) {
    fs::directory_iterator it(real, ec);
    if (ec) return terminalError("cannot list " + p.real + ": " + ec.message());
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) return terminalError("cannot list " + p.real + ": " + ec.message());
      if (!ignoreEntry.empty() && it->path().filename() == ignoreEntry) continue;
      p.empty = false;
      break;
    }
  }
  return p;
}

Result<PathProbe> probeWith(ProcessRunner& runner, const std::vector<std::string>& sshArgvPrefix,
                            const std::string& root, const std::string& path,
                            std::chrono::milliseconds timeout) {
  ProcessSpec spec;
  if (sshArgvPrefix.empty()) {
    spec.argv = {"sh", "-c", probeScript(), "ocpvdr-probe", root, path};
  } else {
    // ssh hands the remote login shell one command line: quote every piece.
    std::string cmd = "sh -c " + shellQuote(probeScript()) + " ocpvdr-probe " + shellQuote(root) +
                      " " + shellQuote(path);
    spec.argv = sshArgvPrefix;
    spec.argv.push_back(cmd);
  }
  spec.timeout = timeout;
  spec.maxCapture = 64 * 1024;
  OCPVDR_ASSIGN_OR_RETURN(ProcessResult r, runner.run(spec));
  if (r.timedOut)
    return retryableError("checking " + path + " on the primary timed out after " +
                          std::to_string(timeout.count() / 1000) + "s");
  if (!r.success()) {
    std::string err = r.err;
    while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
    if (!sshArgvPrefix.empty() && !r.signaled && r.exitCode == 255)
      return retryableError("cannot reach the primary NFS host over ssh: " +
                            (err.empty() ? std::string("ssh exit 255") : err));
    return terminalError("checking " + path + " on the primary failed (exit " +
                         std::to_string(r.exitCode) + "): " + err);
  }
  return parseProbeOutput(r.out);
}

Status checkConfined(const PathProbe& p, std::string_view side, std::string_view lexical) {
  if (!p.rootExists)
    return refusedError(std::string(side) + " export root for " + std::string(lexical) +
                        " does not exist (export not mounted?)");
  if (p.real.empty()) return Status::success();
  if (!paths::isUnder(p.real, p.rootReal) || p.real == p.rootReal)
    return refusedError(std::string(side) + " path " + std::string(lexical) + " resolves to " +
                        p.real + ", outside its export root " + p.rootReal + " (symlink escape)");
  return Status::success();
}

EmptySourceVerdict emptySourceVerdict(const PathProbe& source, const PathProbe& dr, bool force) {
  bool sourceEmpty = !source.exists || (source.isDir && source.empty);
  bool drHasData = dr.exists && dr.isDir && !dr.empty;
  if (!sourceEmpty || !drHasData) return EmptySourceVerdict::Proceed;
  return force ? EmptySourceVerdict::ProceedForced : EmptySourceVerdict::Refuse;
}

}  // namespace ocpvdr::replication
