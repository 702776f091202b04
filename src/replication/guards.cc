// Host-side guards: realpath probes, confinement, empty-source verdict (see guards.h).
#include "replication/guards.h"

#include <filesystem>

#include "core/paths.h"

namespace ocpvdr::replication {
namespace fs = std::filesystem;

const std::string& guardScript() {
  // No single quotes inside: the whole script travels single-quoted through the remote shell.
  static const std::string kScript =
      "root=$1; path=$2; mode=$3; shift 3; "
      "g() { printf \"OCPVDR-GUARD %s\\n\" \"$*\" >&2; }; "
      // One realpath for both (a process less on every sync); on failure tell which one.
      "if x=$(realpath -e -- \"$root\" \"$path\" 2>/dev/null); then "
      "nl=$(printf \"\\nx\"); nl=${nl%x}; r=${x%%\"$nl\"*}; p=${x#*\"$nl\"}; "
      "elif realpath -e -- \"$root\" >/dev/null 2>&1; then g missing \"$path\"; exit 97; "
      "else g root-missing \"$root\"; exit 97; fi; "
      "case \"$r\" in /) case \"$p\" in /) g escape \"$p\"; exit 97;; esac;; "
      "*) case \"$p/\" in \"$r\"/?*) ;; *) g escape \"$p\"; exit 97;; esac;; esac; "
      "if [ ! -d \"$p\" ]; then g notdir \"$p\"; exit 97; fi; "
      "if ! e=$(find \"$p\" -mindepth 1 -maxdepth 1 -print -quit); then g unreadable \"$p\"; "
      "exit 97; fi; "
      "if [ -z \"$e\" ]; then s=empty; else s=nonempty; fi; "
      "if [ $s = empty ] && [ \"$mode\" = guard ]; then g empty \"$p\"; exit 97; fi; "
      "g ok $s \"$p\"; "
      "n=$#; i=0; "
      "for a do i=$((i+1)); if [ $i -eq 1 ]; then set --; fi; "
      "if [ $i -lt $n ]; then set -- \"$@\" \"$a\"; else set -- \"$@\" \"$p/\"; fi; done; "
      "exec \"$@\"";
  return kScript;
}

std::string guardedRsyncPath(const std::string& root, const std::string& path, RemoteGuardMode mode,
                             const std::string& remoteRsync) {
  return "sh -c " + shellQuote(guardScript()) + " ocpvdr-guard " + shellQuote(root) + " " +
         shellQuote(path) + (mode == RemoteGuardMode::RefuseEmpty ? " guard " : " allow ") +
         shellQuote(remoteRsync);
}

std::optional<GuardReport> parseGuardReport(std::string_view err) {
  static constexpr std::string_view kMarker = "OCPVDR-GUARD ";
  std::size_t i = 0;
  while (i < err.size()) {
    std::size_t j = err.find('\n', i);
    if (j == std::string_view::npos) j = err.size();
    std::string_view line = err.substr(i, j - i);
    i = j + 1;
    if (line.substr(0, kMarker.size()) != kMarker) continue;
    line.remove_prefix(kMarker.size());
    GuardReport g;
    auto sp = line.find(' ');
    g.verdict = std::string(line.substr(0, sp));
    std::string_view rest = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
    if (g.verdict == "ok") {
      auto sp2 = rest.find(' ');
      g.sourceEmpty = rest.substr(0, sp2) == "empty";
      rest = sp2 == std::string_view::npos ? std::string_view{} : rest.substr(sp2 + 1);
    }
    g.path = std::string(rest);
    return g;
  }
  return std::nullopt;
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

}  // namespace ocpvdr::replication
