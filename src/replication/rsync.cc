// rsync command construction, --stats/itemize/progress2 parsing and the exit-code table.
#include "replication/rsync.h"

#include <cctype>

namespace ocpvdr::replication {
namespace {

// "3,000,916" → 3000916; stops at the first character that is neither a digit nor a separator.
std::int64_t parseNumber(std::string_view s) {
  std::int64_t v = 0;
  std::size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (std::isdigit(static_cast<unsigned char>(c)))
      v = v * 10 + (c - '0');
    else if (c != ',')
      break;  // "0.001 seconds": the integral part is enough
  }
  return v;
}

bool startsWith(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

// The value after "<label>: " when `line` starts with that label.
std::optional<std::int64_t> field(std::string_view line, std::string_view label) {
  if (!startsWith(line, label)) return std::nullopt;
  std::string_view rest = line.substr(label.size());
  if (rest.empty() || rest.front() != ':') return std::nullopt;
  return parseNumber(rest.substr(1));
}

// An itemize line: YXcstpoguax-style 11-character code, a space, then the name.
bool isItemizeLine(std::string_view line) {
  if (line.size() < 13 || line[11] != ' ') return false;
  const std::string_view kY = "<>ch.";
  const std::string_view kX = "fdLDS";
  return kY.find(line[0]) != std::string_view::npos && kX.find(line[1]) != std::string_view::npos;
}

std::string tail(const std::string& s, std::size_t n) {
  std::string t = s.size() > n ? s.substr(s.size() - n) : s;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  for (auto& c : t)
    if (c == '\n') c = ' ';
  return t;
}

}  // namespace

std::vector<std::string> buildRsyncArgv(const config::RsyncOptions& opts,
                                        const RsyncInvocation& inv) {
  std::vector<std::string> a{opts.binary.empty() ? "rsync" : opts.binary, "-a", "-H", "-S",
                             "--numeric-ids",
                             // Compare mtimes to the nanosecond: a disk image rewritten within the
                             // same second as the last sync (same size) must not pass as unchanged.
                             "--modify-window=-1"};
  if (inv.mirrorDeletes) {
    a.push_back("--delete");
    a.push_back("--delete-delay");
  }
  if (opts.inplace) {
    a.push_back("--inplace");
  } else {
    a.push_back("--partial-dir=" +
                (opts.partialDir.empty() ? std::string(".ocpv-dr-partial") : opts.partialDir));
  }
  // The extent mover's snapshots and recovery points (<export root>/.ocpv-dr) are never data:
  // not sent from a PV directory that is an export root, and — excluded files are never
  // deleted — not removed from such a DR directory. First among the filter rules: first wins.
  a.push_back("--exclude=/.ocpv-dr/");
  a.push_back("--stats");
  a.push_back("--itemize-changes");
  if (inv.progress) a.push_back("--info=progress2");
  if (opts.bwlimitKiBps > 0) a.push_back("--bwlimit=" + std::to_string(opts.bwlimitKiBps));
  if (opts.ioTimeout.count() > 0)
    a.push_back("--timeout=" + std::to_string(opts.ioTimeout.count()));
  for (const auto& e : opts.extraArgs) a.push_back(e);
  // -a implies --devices --specials: a tenant who can write to a PV (a VM guest, a pod) could
  // plant device nodes or FIFOs that rsync, running as root at DR, would recreate there. Placed
  // after the extra args so that a configured -D cannot turn them back on (the last one wins).
  a.push_back("--no-devices");
  a.push_back("--no-specials");
  if (!inv.sshCommand.empty()) {
    a.push_back("-e");
    a.push_back(inv.sshCommand);
  }
  if (!inv.rsyncPath.empty()) a.push_back("--rsync-path=" + inv.rsyncPath);
  a.push_back(inv.source);
  a.push_back(inv.destination);
  return a;
}

void RsyncOutputParser::feed(std::string_view line) {
  RsyncStats& s = stats_;
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  // Progress records share lines with other output; keep only what follows the last '\r'.
  if (auto r = line.rfind('\r'); r != std::string_view::npos) line = line.substr(r + 1);
  if (line.empty()) return;
  if (startsWith(line, "*deleting ")) {
    ++s.itemizedDeletes;
    ++s.itemizedChanges;
    return;
  }
  if (isItemizeLine(line)) {
    ++s.itemizedChanges;
    return;
  }
  if (auto v = field(line, "Number of files")) {
    s.filesTotal = *v;
    s.parsed = true;
  } else if (auto v2 = field(line, "Number of created files")) {
    s.createdFiles = *v2;
  } else if (auto v3 = field(line, "Number of deleted files")) {
    s.deletedFiles = *v3;
  } else if (auto v4 = field(line, "Number of regular files transferred")) {
    s.regularFilesTransferred = *v4;
  } else if (auto v5 = field(line, "Total file size")) {
    s.totalFileSize = *v5;
  } else if (auto v6 = field(line, "Total transferred file size")) {
    s.transferredFileSize = *v6;
  } else if (auto v7 = field(line, "Literal data")) {
    s.literalData = *v7;
  } else if (auto v8 = field(line, "Matched data")) {
    s.matchedData = *v8;
  } else if (auto v9 = field(line, "Total bytes sent")) {
    s.bytesSent = *v9;
  } else if (auto v10 = field(line, "Total bytes received")) {
    s.bytesReceived = *v10;
  }
}

RsyncStats parseRsyncOutput(std::string_view out) {
  RsyncOutputParser p;
  std::size_t i = 0;
  while (i < out.size()) {
    std::size_t j = out.find('\n', i);
    if (j == std::string_view::npos) j = out.size();
    p.feed(out.substr(i, j - i));
    i = j + 1;
  }
  return p.stats();
}

std::optional<RsyncProgress> parseProgress(std::string_view line) {
  // Walk the records from the end; the last may be cut short while rsync is still writing it.
  std::optional<RsyncProgress> best;
  std::size_t i = 0;
  while (i <= line.size()) {
    std::size_t j = line.find('\r', i);
    if (j == std::string_view::npos) j = line.size();
    std::string_view rec = line.substr(i, j - i);
    i = j + 1;
    std::size_t k = 0;
    while (k < rec.size() && rec[k] == ' ') ++k;
    if (k >= rec.size() || !std::isdigit(static_cast<unsigned char>(rec[k]))) continue;
    // bytes
    std::size_t e = rec.find(' ', k);
    if (e == std::string_view::npos) continue;
    RsyncProgress p;
    p.bytes = parseNumber(rec.substr(k, e - k));
    // percent
    k = rec.find_first_not_of(' ', e);
    if (k == std::string_view::npos) continue;
    e = rec.find('%', k);
    if (e == std::string_view::npos) continue;
    std::string_view pct = rec.substr(k, e - k);
    if (pct.empty() || pct.size() > 3) continue;
    p.percent = static_cast<int>(parseNumber(pct));
    // rate
    k = rec.find_first_not_of(' ', e + 1);
    if (k == std::string_view::npos) continue;
    e = rec.find(' ', k);
    if (e == std::string_view::npos) continue;
    p.rate = std::string(rec.substr(k, e - k));
    // eta
    k = rec.find_first_not_of(' ', e);
    if (k == std::string_view::npos) continue;
    e = rec.find(' ', k);
    p.eta =
        std::string(rec.substr(k, e == std::string_view::npos ? std::string_view::npos : e - k));
    if (p.eta.find(':') == std::string::npos) continue;
    best = p;
  }
  return best;
}

ExitCodeInfo classifyRsyncExit(int code) {
  switch (code) {
    case 0:
      return {ExitClass::Ok, "success"};
    // Fatal: running the same command again gives the same answer.
    case 1:
      return {ExitClass::Fatal, "syntax or usage error (check replication.rsync.extra_args)"};
    case 2:
      return {ExitClass::Fatal, "protocol incompatibility between the two rsync versions"};
    case 3:
      return {ExitClass::Fatal, "errors selecting input/output files or directories"};
    case 4:
      return {ExitClass::Fatal, "requested action not supported by this rsync"};
    case 5:
      return {ExitClass::Fatal, "error starting the client-server protocol"};
    case 6:
      return {ExitClass::Fatal, "daemon unable to append to its log file"};
    case 13:
      return {ExitClass::Fatal, "errors with program diagnostics"};
    case 14:
      return {ExitClass::Fatal, "error in rsync's IPC code"};
    case 20:
      return {ExitClass::Fatal, "rsync received SIGUSR1 or SIGINT"};
    case 21:
      return {ExitClass::Fatal, "some error returned by waitpid()"};
    case 22:
      return {ExitClass::Fatal, "error allocating core memory buffers"};
    case 25:
      return {ExitClass::Fatal, "the --max-delete limit stopped deletions"};
    // Retry: transient by nature; the next run starts from what this one left.
    case 10:
      return {ExitClass::Retry, "error in socket I/O (network)"};
    case 11:
      return {ExitClass::Retry, "error in file I/O (disk full, NFS hiccup)"};
    case 12:
      return {ExitClass::Retry, "error in the rsync protocol data stream (connection cut)"};
    case 23:
      return {ExitClass::Retry, "partial transfer due to error (some files not copied)"};
    case 24:
      return {ExitClass::Retry, "partial transfer: source files vanished during the sync"};
    case 30:
      return {ExitClass::Retry, "timeout in data send/receive (replication.rsync.io_timeout)"};
    case 35:
      return {ExitClass::Retry, "timeout waiting for the daemon connection"};
    case 255:
      return {ExitClass::Retry, "ssh failed (unreachable host, refused key, lost link)"};
    default:
      return {ExitClass::Fatal, "unknown rsync exit code"};
  }
}

Status rsyncOutcome(const ProcessResult& r) {
  if (r.stopped) return retryableError("rsync stopped on request (shutdown or cancel)");
  if (r.timedOut)
    return retryableError("rsync ran longer than replication.rsync.max_duration and was killed");
  if (r.signaled)
    return retryableError("rsync killed by signal " + std::to_string(r.termSignal) +
                          (r.err.empty() ? "" : ": " + tail(r.err, 400)));
  ExitCodeInfo info = classifyRsyncExit(r.exitCode);
  if (info.cls == ExitClass::Ok) return Status::success();
  std::string msg = "rsync exit " + std::to_string(r.exitCode) + " (" + std::string(info.meaning) +
                    ")" + (r.err.empty() ? "" : ": " + tail(r.err, 400));
  return info.cls == ExitClass::Retry ? retryableError(msg) : terminalError(msg);
}

std::optional<std::vector<int>> parseRsyncVersion(std::string_view out) {
  auto p = out.find("version ");
  if (p == std::string_view::npos) return std::nullopt;
  p += 8;
  while (p < out.size() && out[p] == ' ') ++p;
  std::vector<int> v;
  int cur = -1;
  for (; p < out.size(); ++p) {
    char c = out[p];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      cur = (cur < 0 ? 0 : cur * 10) + (c - '0');
    } else if (c == '.' && cur >= 0) {
      v.push_back(cur);
      cur = -1;
    } else {
      break;
    }
  }
  if (cur >= 0) v.push_back(cur);
  if (v.size() < 2) return std::nullopt;
  return v;
}

bool supportsInplaceSparse(const std::vector<int>& v) {
  const std::vector<int> need{3, 1, 3};
  for (std::size_t i = 0; i < need.size(); ++i) {
    int have = i < v.size() ? v[i] : 0;
    if (have != need[i]) return have > need[i];
  }
  return true;
}

}  // namespace ocpvdr::replication
