// Fencing the primary export (see fencing.h).
#include "failover/fencing.h"

#include <algorithm>

#include "core/log.h"
#include "core/paths.h"
#include "core/text.h"

namespace ocpvdr::failover {
namespace {

std::vector<std::string> splitLines(std::string_view text, bool* trailingNewline) {
  std::vector<std::string> lines;
  std::size_t i = 0;
  while (i < text.size()) {
    auto j = text.find('\n', i);
    if (j == std::string_view::npos) {
      lines.emplace_back(text.substr(i));
      *trailingNewline = false;
      return lines;
    }
    lines.emplace_back(text.substr(i, j - i));
    i = j + 1;
  }
  *trailingNewline = true;
  return lines;
}

// Fields of one logical exports line: whitespace-separated, double quotes and parentheses keep
// whitespace inside one field.
Result<std::vector<std::string>> fields(const std::string& line, int lineNo) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  int depth = 0;
  for (char c : line) {
    if (c == '"') quoted = !quoted;
    if (!quoted && c == '(') ++depth;
    if (!quoted && c == ')') {
      if (--depth < 0) return invalidError("line " + std::to_string(lineNo) + ": unbalanced ')'");
    }
    if (!quoted && depth == 0 && (c == ' ' || c == '\t' || c == '\r')) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (quoted) return invalidError("line " + std::to_string(lineNo) + ": unbalanced '\"'");
  if (depth != 0) return invalidError("line " + std::to_string(lineNo) + ": unbalanced '('");
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::string readOnlyOptions(const std::string& opts) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i <= opts.size()) {
    auto j = opts.find(',', i);
    if (j == std::string::npos) j = opts.size();
    parts.push_back(opts.substr(i, j - i));
    i = j + 1;
  }
  bool mode = false;
  for (auto& p : parts) {
    if (p == "rw") p = "ro";
    mode = mode || p == "ro";
  }
  parts.erase(std::remove(parts.begin(), parts.end(), std::string()), parts.end());
  if (!mode) parts.push_back("ro");
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

bool belongsToRoot(const std::string& exportPath, const std::vector<std::string>& roots) {
  std::string p = exportPath;
  if (p.size() >= 2 && p.front() == '"' && p.back() == '"') p = p.substr(1, p.size() - 2);
  auto norm = paths::normaliseAbsolute(p, "export path");
  if (!norm.ok()) return false;
  for (const auto& r : roots) {
    auto root = paths::normaliseAbsolute(r, "export root");
    if (root.ok() && paths::isUnder(*norm, *root)) return true;
  }
  return false;
}

std::vector<std::string> splitOptions(std::string_view opts) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i <= opts.size()) {
    auto j = opts.find(',', i);
    if (j == std::string_view::npos) j = opts.size();
    if (j > i) out.emplace_back(opts.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// "<client>(<options>)" as exportfs -v prints it.
Result<LiveExport> clientSpec(std::string path, std::string_view spec, std::string_view line) {
  const std::string t = std::string(trim(spec));
  const auto open = t.rfind('(');
  if (t.empty() || open == std::string::npos || open == 0 || t.back() != ')')
    return invalidError("unexpected `exportfs -v` line (no \"client(options)\"): \"" +
                        std::string(line) + "\"");
  LiveExport e;
  e.path = std::move(path);
  e.client = t.substr(0, open);
  e.options = splitOptions(std::string_view(t).substr(open + 1, t.size() - open - 2));
  return e;
}

std::string withoutTrailingBlanks(std::string_view s) {
  auto e = s.find_last_not_of(" \r");
  return e == std::string_view::npos ? std::string() : std::string(s.substr(0, e + 1));
}

}  // namespace

bool LiveExport::writable() const {
  bool ro = false;
  for (const auto& o : options) {
    if (o == "rw") return true;
    ro = ro || o == "ro";
  }
  return !ro;
}

std::string LiveExport::text() const {
  std::string opts;
  for (const auto& o : options) opts += (opts.empty() ? "" : ",") + o;
  return path + " " + client + "(" + opts + ")";
}

Result<std::vector<LiveExport>> parseExportfsVerbose(std::string_view out) {
  bool trailingNewline = true;
  const auto lines = splitLines(out, &trailingNewline);
  std::vector<LiveExport> live;
  std::string pending;  // a long path waiting for its "\t\t<client>" line
  for (const auto& raw : lines) {
    const std::string line = withoutTrailingBlanks(raw);
    if (line.empty()) continue;
    if (line.front() == '\t' || line.front() == ' ') {
      if (pending.empty())
        return invalidError("unexpected `exportfs -v` line (a client without a path): \"" + line +
                            "\"");
      OCPVDR_ASSIGN_OR_RETURN(LiveExport e, clientSpec(pending, line, line));
      live.push_back(std::move(e));
      pending.clear();
      continue;
    }
    if (!pending.empty())
      return invalidError("unexpected `exportfs -v` output: path \"" + pending +
                          "\" without a client line");
    const auto tab = line.find('\t');
    if (tab == std::string::npos) {
      pending = line;  // longer than 14 characters: the client follows on the next line
      continue;
    }
    OCPVDR_ASSIGN_OR_RETURN(LiveExport e,
                            clientSpec(withoutTrailingBlanks(std::string_view(line).substr(0, tab)),
                                       std::string_view(line).substr(tab + 1), line));
    live.push_back(std::move(e));
  }
  if (!pending.empty())
    return invalidError("unexpected `exportfs -v` output: path \"" + pending +
                        "\" without a client line");
  return live;
}

std::vector<LiveExport> exportsCovering(const std::vector<LiveExport>& live,
                                        const std::vector<std::string>& roots) {
  std::vector<LiveExport> out;
  for (const auto& e : live) {
    auto p = paths::normaliseAbsolute(e.path, "export path");
    // A path that does not even normalise cannot be shown to be elsewhere: it counts.
    bool covers = !p.ok();
    for (const auto& r : roots) {
      auto root = paths::normaliseAbsolute(r, "export root");
      if (covers) break;
      if (root.ok()) covers = paths::isUnder(*p, *root) || paths::isUnder(*root, *p);
    }
    if (covers) out.push_back(e);
  }
  return out;
}

Result<ExportsEdit> fenceExportsText(std::string_view text, const std::vector<std::string>& roots) {
  bool trailingNewline = true;
  const auto physical = splitLines(text, &trailingNewline);
  ExportsEdit edit;
  std::vector<std::string> out;
  for (std::size_t i = 0; i < physical.size();) {
    // One logical line: physical lines joined while they end with a backslash.
    const std::size_t first = i;
    std::string logical;
    for (;;) {
      std::string part = physical[i++];
      const bool continued = !part.empty() && part.back() == '\\';
      if (continued) part.pop_back();
      logical += part;
      if (!continued || i >= physical.size()) break;
      logical += ' ';
    }
    const std::string t = std::string(trim(logical));
    auto keep = [&] {
      for (std::size_t k = first; k < i; ++k) out.push_back(physical[k]);
    };
    if (t.empty() || t.front() == '#') {
      keep();
      continue;
    }
    // Which line: the first physical line's number (1-based) for messages.
    const int lineNo = static_cast<int>(first) + 1;
    auto parsed = fields(t, lineNo);
    if (!parsed.ok()) {
      // Only lines that matter to the fence must parse; others are left exactly as they are.
      const std::string head = t.substr(0, t.find_first_of(" \t"));
      if (belongsToRoot(head, roots)) return parsed.error();
      keep();
      continue;
    }
    auto f = std::move(parsed).value();
    if (f.empty() || !belongsToRoot(f[0], roots)) {
      keep();
      continue;
    }
    edit.matchedPaths.push_back(f[0]);
    std::vector<std::string> g = f;
    for (std::size_t k = 1; k < g.size(); ++k) {
      std::string& tok = g[k];
      if (tok.front() == '-') {
        tok = "-" + readOnlyOptions(tok.substr(1));
        continue;
      }
      auto open = tok.find('(');
      if (open == std::string::npos) continue;  // bare client: default options
      if (tok.back() != ')')
        return invalidError("line " + std::to_string(lineNo) + ": client \"" + tok +
                            "\" does not end with ')'");
      tok = tok.substr(0, open) + "(" +
            readOnlyOptions(tok.substr(open + 1, tok.size() - open - 2)) + ")";
    }
    if (g == f) {
      keep();
      continue;
    }
    std::string line;
    for (const auto& tok : g) line += (line.empty() ? "" : " ") + tok;
    edit.before.push_back(t);
    edit.after.push_back(line);
    out.push_back(line);
  }
  for (std::size_t k = 0; k < out.size(); ++k) {
    edit.content += out[k];
    if (k + 1 < out.size() || trailingNewline) edit.content += '\n';
  }
  return edit;
}

Result<ProcessResult> Fencer::remote(const std::string& command,
                                     std::optional<std::string> stdinData, std::stop_token stop) {
  ProcessSpec spec;
  spec.argv = ssh_.remoteArgv(command);
  spec.stdinData = std::move(stdinData);
  spec.timeout = std::chrono::seconds(120);
  OCPVDR_ASSIGN_OR_RETURN(ProcessResult r, runner_.run(spec, stop));
  if (r.exitCode == 255 && !r.signaled)
    return retryableError("ssh to the primary NFS host (" + ssh_.destination() +
                          ") failed: " + std::string(trim(r.err)));
  return r;
}

Result<ExportsEdit> Fencer::readAndEdit(const std::vector<std::string>& roots,
                                        std::stop_token stop) {
  const std::string& file = cfg_.exportsFile;
  OCPVDR_ASSIGN_OR_RETURN(ProcessResult r, remote("cat -- " + shellQuote(file), {}, stop));
  if (!r.success())
    return terminalError("cannot read " + file +
                         " on the primary NFS host: " + std::string(trim(r.err)));
  OCPVDR_ASSIGN_OR_RETURN(ExportsEdit edit, fenceExportsText(r.out, roots));
  if (edit.matchedPaths.empty())
    return refusedError("no line of " + file + " on the primary NFS host exports " +
                        join(roots, " ") +
                        ": nothing to fence (check failover.fencing.exports_file, or fence by "
                        "hand and set failover.fencing.method: none)");
  return edit;
}

Result<FenceResult> Fencer::preview(const std::vector<std::string>& roots, std::stop_token stop) {
  FenceResult fr;
  fr.method = config::toString(cfg_.method);
  if (cfg_.method == config::FencingMethod::None) {
    fr.warnings.push_back("fencing.method is none: the primary export stays writable");
    return fr;
  }
  if (cfg_.method == config::FencingMethod::Command) {
    fr.details["command"] = cfg_.command;
    return fr;
  }
  OCPVDR_ASSIGN_OR_RETURN(ExportsEdit edit, readAndEdit(roots, stop));
  fr.details = {{"exportsFile", cfg_.exportsFile},
                {"matched", edit.matchedPaths},
                {"before", edit.before},
                {"after", edit.after}};
  return fr;
}

Status Fencer::verifyLiveExports(const std::vector<std::string>& roots, FenceResult& fr,
                                 std::stop_token stop) {
  OCPVDR_ASSIGN_OR_RETURN(ProcessResult v, remote("exportfs -v", {}, stop));
  if (!v.success())
    return terminalError("`exportfs -v` failed on the primary NFS host (exit " +
                         std::to_string(v.exitCode) + "): " + std::string(trim(v.err)) +
                         "; the fence cannot be verified");
  auto parsed = parseExportfsVerbose(v.out);
  if (!parsed.ok()) return parsed.error().wrap("verifying the fence on the primary NFS host");
  const auto covering = exportsCovering(*parsed, roots);
  Json live = Json::array();
  std::string writable;
  for (const auto& e : covering) {
    live.push_back(e.text());
    if (e.writable()) writable += (writable.empty() ? "" : "; ") + e.text();
  }
  fr.details["liveExports"] = live;
  if (!writable.empty())
    return refusedError(
        "the primary NFS host still exports " + join(roots, " ") +
        " writable after fencing (`exportfs -v`): " + writable +
        ". ocpv-dr makes read-only only the lines of " + cfg_.exportsFile +
        " that export the roots or directories under them; an export of a parent directory, or "
        "one from /etc/exports.d/*.exports, must be made read-only (or removed) by hand, then "
        "run `exportfs -ra` there and `ocpv-dr failover resume`");
  if (covering.empty())
    fr.warnings.push_back("`exportfs -v` on the primary NFS host lists no export covering " +
                          join(roots, " ") + ": nothing is exported there now");
  return Status::success();
}

Result<FenceResult> Fencer::fence(const std::string& runId, const std::vector<std::string>& roots,
                                  std::stop_token stop) {
  FenceResult fr;
  fr.method = config::toString(cfg_.method);
  fr.details["roots"] = roots;
  if (cfg_.method == config::FencingMethod::None) {
    fr.warnings.push_back(
        "fencing.method is none: the primary export was NOT made read-only; make sure nothing "
        "writes to " +
        join(roots, " ") + " on the primary");
    return fr;
  }
  if (cfg_.method == config::FencingMethod::Command) {
    if (cfg_.command.empty())
      return invalidError("failover.fencing.command is empty (method command)");
    ProcessSpec spec;
    spec.argv = cfg_.command;
    spec.env = {{"OCPVDR_FAILOVER_RUN_ID", runId}, {"OCPVDR_FENCE_ROOTS", join(roots, " ")}};
    spec.timeout = std::chrono::seconds(300);
    OCPVDR_ASSIGN_OR_RETURN(ProcessResult r, runner_.run(spec, stop));
    fr.details["command"] = cfg_.command;
    fr.details["exitCode"] = r.exitCode;
    if (!r.success())
      return terminalError("fencing command " + cfg_.command.front() + " failed (exit " +
                           std::to_string(r.exitCode) + "): " + std::string(trim(r.err)) +
                           " — the primary export may still be writable");
    return fr;
  }

  OCPVDR_ASSIGN_OR_RETURN(ExportsEdit edit, readAndEdit(roots, stop));
  const std::string& file = cfg_.exportsFile;
  const std::string backup = file + ".ocpv-dr-" + runId + ".bak";
  fr.details["exportsFile"] = file;
  fr.details["backupCopy"] = backup;
  fr.details["matched"] = edit.matchedPaths;
  fr.details["before"] = edit.before;
  fr.details["after"] = edit.after;
  if (edit.changed()) {
    // The backup is taken once: a redo after a crash must not overwrite the original with a
    // half-fenced copy.
    const std::string f = shellQuote(file), b = shellQuote(backup),
                      tmp = shellQuote(file + ".ocpv-dr.tmp");
    const std::string cmd = "set -e; [ -e " + b + " ] || cp -p -- " + f + " " + b + "; cat > " +
                            tmp + "; chmod --reference=" + f + " " + tmp + "; mv -f -- " + tmp +
                            " " + f;
    OCPVDR_ASSIGN_OR_RETURN(ProcessResult w, remote(cmd, edit.content, stop));
    if (!w.success())
      return terminalError("cannot rewrite " + file +
                           " on the primary NFS host: " + std::string(trim(w.err)));
    log::info("fenced primary exports", {{"file", file}, {"lines", edit.after}});
  } else {
    fr.details["alreadyFenced"] = true;
  }
  OCPVDR_ASSIGN_OR_RETURN(ProcessResult x, remote("exportfs -ra", {}, stop));
  if (!x.success())
    return terminalError("`exportfs -ra` failed on the primary NFS host (exit " +
                         std::to_string(x.exitCode) + "): " + std::string(trim(x.err)) + "; " +
                         file + " is already read-only, the running NFS server may not be yet");
  OCPVDR_TRY(verifyLiveExports(roots, fr, stop));
  return fr;
}

}  // namespace ocpvdr::failover
