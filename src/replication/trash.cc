// DR trash: quarantine, list, restore, purge (layout and manifest format in trash.h).
#include "replication/trash.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <set>

#include "core/files.h"
#include "core/paths.h"
#include "core/time.h"

namespace ocpvdr::replication {
namespace fs = std::filesystem;
namespace {

// Trash entry ids come from PV and snapshot names: keep them to one safe path component.
std::string safeName(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    out += ok ? c : '_';
  }
  if (out.empty() || out == "." || out == "..") out = "unnamed";
  return out.substr(0, 200);
}

Json manifestJson(const TrashManifest& m) {
  return Json{{"version", 1},
              {"kind", m.kind},
              {"pv", m.pv},
              {"uid", m.uid},
              {"namespace", m.ns},
              {"name", m.name},
              {"original_path", m.originalPath},
              {"dr_root", m.drRoot},
              {"time", formatTime(m.time)},
              {"reason", m.reason}};
}

Result<TrashManifest> readManifest(const fs::path& file) {
  OCPVDR_ASSIGN_OR_RETURN(std::string text, readFile(file.string()));
  OCPVDR_ASSIGN_OR_RETURN(Json j, parseJson(text, file.string()));
  TrashManifest m;
  OCPVDR_ASSIGN_OR_RETURN(m.kind, jsonString(j, "kind"));
  OCPVDR_ASSIGN_OR_RETURN(m.originalPath, jsonString(j, "original_path"));
  OCPVDR_ASSIGN_OR_RETURN(m.drRoot, jsonString(j, "dr_root"));
  OCPVDR_ASSIGN_OR_RETURN(std::string t, jsonString(j, "time"));
  OCPVDR_ASSIGN_OR_RETURN(m.time, parseTime(t));
  OCPVDR_ASSIGN_OR_RETURN(auto pv, jsonOptString(j, "pv"));
  OCPVDR_ASSIGN_OR_RETURN(auto uid, jsonOptString(j, "uid"));
  OCPVDR_ASSIGN_OR_RETURN(auto ns, jsonOptString(j, "namespace"));
  OCPVDR_ASSIGN_OR_RETURN(auto name, jsonOptString(j, "name"));
  OCPVDR_ASSIGN_OR_RETURN(auto reason, jsonOptString(j, "reason"));
  m.pv = pv.value_or("");
  m.uid = uid.value_or("");
  m.ns = ns.value_or("");
  m.name = name.value_or("");
  m.reason = reason.value_or("");
  return m;
}

// Entry ids begin with the quarantine time; used when a manifest is unreadable.
std::optional<SystemTime> timeFromId(std::string_view id) {
  if (id.size() < 16 || id[8] != 'T' || id[15] != 'Z') return std::nullopt;
  std::tm tm{};
  auto num = [&](std::size_t pos, std::size_t len) {
    int v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (id[i] < '0' || id[i] > '9') return -1;
      v = v * 10 + (id[i] - '0');
    }
    return v;
  };
  int y = num(0, 4), mo = num(4, 2), d = num(6, 2), h = num(9, 2), mi = num(11, 2), s = num(13, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0) return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

SystemTime sortTime(const TrashEntry& e) {
  return e.quarantinedAt().value_or(SystemTime{});
}

// Why an entry's age is not established at `now` ("" when it is).
std::string unknownAgeReason(const TrashEntry& e, SystemTime now) {
  auto t = e.quarantinedAt();
  if (!t)
    return "no readable manifest (" + e.manifestError +
           ") and no quarantine time in the entry name";
  if (*t > now)
    return "quarantine time " + formatTime(*t) + " is in the future of this host's clock";
  return {};
}

std::vector<std::string> trashRoots(const config::Config& cfg) {
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (const auto& r : cfg.dr.exportRoots) {
    std::error_code ec;
    fs::path real = fs::canonical(r.hostPath, ec);
    std::string root = ec ? r.hostPath : real.string();
    if (seen.insert(root).second) out.push_back(root);
  }
  return out;
}

TrashEntry loadEntry(const fs::path& dir) {
  TrashEntry e;
  e.id = dir.filename().string();
  e.entryPath = dir.string();
  e.dataPath = (dir / "data").string();
  std::error_code ec;
  e.dataPresent = fs::exists(fs::symlink_status(e.dataPath, ec));
  auto m = readManifest(dir / "manifest.json");
  if (m.ok()) {
    e.manifest = *m;
    e.manifestOk = true;
  } else {
    e.manifestError = m.error().message;
  }
  return e;
}

}  // namespace

std::optional<SystemTime> TrashEntry::quarantinedAt() const {
  if (manifestOk) return manifest.time;
  return timeFromId(id);
}

Json PurgeResult::summary(SystemTime now) const {
  Json unknown = Json::array();
  for (const auto& e : unknownAge)
    unknown.push_back({{"id", e.id}, {"path", e.entryPath}, {"why", unknownAgeReason(e, now)}});
  return Json{{"purged", purged.size()}, {"kept", kept.size()}, {"unknown_age", unknown}};
}

Json TrashEntry::toJson(SystemTime now) const {
  Json j{{"id", id}, {"path", entryPath}, {"data_present", dataPresent}};
  if (manifestOk) {
    j["kind"] = manifest.kind;
    j["pv"] = manifest.pv;
    j["uid"] = manifest.uid;
    if (manifest.kind == "snapshot") {
      j["namespace"] = manifest.ns;
      j["name"] = manifest.name;
    }
    j["original_path"] = manifest.originalPath;
    j["time"] = formatTime(manifest.time);
    j["reason"] = manifest.reason;
    j["age_seconds"] =
        std::chrono::duration_cast<std::chrono::seconds>(now - manifest.time).count();
  } else {
    j["manifest_error"] = manifestError;
  }
  return j;
}

Result<TrashEntry> Trash::quarantine(const std::string& drRootReal, const std::string& dirReal,
                                     TrashManifest manifest) {
  if (!paths::isUnder(dirReal, drRootReal) || dirReal == drRootReal)
    return refusedError("quarantine: " + dirReal + " is not a directory under " + drRootReal);
  fs::path trashRoot = fs::path(drRootReal) / kTrashDirName;
  if (paths::isUnder(dirReal, trashRoot.string()))
    return refusedError("quarantine: " + dirReal + " is already inside the trash");
  std::error_code ec;
  fs::create_directories(trashRoot, ec);
  if (ec) return terminalError("cannot create " + trashRoot.string() + ": " + ec.message());
  ::chmod(trashRoot.c_str(), 0700);

  manifest.time = clock_.now();
  manifest.originalPath = dirReal;
  manifest.drRoot = drRootReal;
  std::string base =
      compactUtc(manifest.time) + "-" +
      safeName(manifest.kind == "snapshot" ? "snap-" + manifest.ns + "-" + manifest.name
                                           : manifest.pv);
  fs::path entry = trashRoot / base;
  for (int n = 2; fs::exists(fs::symlink_status(entry, ec)); ++n)
    entry = trashRoot / (base + "-" + std::to_string(n));
  if (!fs::create_directory(entry, ec) || ec)
    return terminalError("cannot create trash entry " + entry.string() + ": " + ec.message());
  Status w =
      writeFileAtomic((entry / "manifest.json").string(), manifestJson(manifest).dump(2) + "\n");
  if (!w.ok()) {
    fs::remove_all(entry, ec);
    return w.error().wrap("quarantine");
  }
  if (::rename(dirReal.c_str(), (entry / "data").c_str()) != 0) {
    int err = errno;
    fs::remove_all(entry, ec);
    return terminalError("cannot move " + dirReal + " into the trash " + entry.string() + ": " +
                         std::strerror(err) +
                         (err == EXDEV ? " (the trash must be on the same filesystem)" : ""));
  }
  return loadEntry(entry);
}

Result<std::vector<TrashEntry>> Trash::list() const {
  std::vector<TrashEntry> out;
  for (const auto& root : trashRoots(cfg_)) {
    fs::path trashRoot = fs::path(root) / kTrashDirName;
    std::error_code ec;
    if (!fs::is_directory(trashRoot, ec)) continue;
    fs::directory_iterator it(trashRoot, ec);
    if (ec) return terminalError("cannot list " + trashRoot.string() + ": " + ec.message());
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) return terminalError("cannot list " + trashRoot.string() + ": " + ec.message());
      if (!it->is_directory(ec) || it->is_symlink(ec)) continue;
      out.push_back(loadEntry(it->path()));
    }
  }
  std::sort(out.begin(), out.end(), [](const TrashEntry& a, const TrashEntry& b) {
    auto ta = sortTime(a), tb = sortTime(b);
    return ta != tb ? ta < tb : a.id < b.id;
  });
  return out;
}

Result<TrashEntry> Trash::restore(std::string_view id) {
  if (id.empty() || id.find('/') != std::string_view::npos || id == "." || id == "..")
    return invalidError("trash id \"" + std::string(id) + "\" is not an entry name");
  OCPVDR_ASSIGN_OR_RETURN(auto entries, list());
  auto it =
      std::find_if(entries.begin(), entries.end(), [&](const TrashEntry& e) { return e.id == id; });
  if (it == entries.end()) return notFoundError("no trash entry \"" + std::string(id) + "\"");
  TrashEntry e = *it;
  if (!e.manifestOk)
    return terminalError("trash entry " + e.id + " has no readable manifest (" + e.manifestError +
                         "); move " + e.dataPath + " back by hand");
  if (!e.dataPresent) return notFoundError("trash entry " + e.id + " holds no data/ directory");
  // The manifest is a file on disk: re-check that its target is still inside the root the entry
  // sits in before moving anything there.
  std::string root = fs::path(e.entryPath).parent_path().parent_path().string();
  OCPVDR_ASSIGN_OR_RETURN(std::string target,
                          paths::normaliseAbsolute(e.manifest.originalPath, "original_path"));
  if (!paths::isUnder(target, root) || target == root ||
      paths::isUnder(target, root + "/" + std::string(kTrashDirName)))
    return refusedError("trash entry " + e.id + ": original path " + target +
                        " is not a volume directory under " + root);
  std::error_code ec;
  if (fs::exists(fs::symlink_status(target, ec)))
    return conflictError("cannot restore " + e.id + ": " + target +
                         " already exists (move it away first; nothing was changed)");
  fs::path parent = fs::path(target).parent_path();
  fs::create_directories(parent, ec);
  if (ec) return terminalError("cannot create " + parent.string() + ": " + ec.message());
  fs::path parentReal = fs::canonical(parent, ec);
  if (ec || !paths::isUnder(parentReal.string(), root))
    return refusedError("cannot restore " + e.id + ": " + parent.string() + " resolves outside " +
                        root);
  if (::rename(e.dataPath.c_str(), target.c_str()) != 0)
    return terminalError("cannot move " + e.dataPath + " back to " + target + ": " +
                         std::strerror(errno));
  fs::remove_all(e.entryPath, ec);
  e.dataPresent = false;
  e.dataPath = target;
  return e;
}

Result<PurgeResult> Trash::purge(const PurgeOptions& opts) {
  OCPVDR_ASSIGN_OR_RETURN(auto entries, list());
  const auto now = clock_.now();
  const auto limit = opts.olderThan ? *opts.olderThan : cfg_.replication.trashRetention;
  PurgeResult out;
  for (auto& e : entries) {
    // Retention needs an age: without one the entry is kept and reported, never guessed old.
    if (!opts.all && !unknownAgeReason(e, now).empty()) {
      out.unknownAge.push_back(std::move(e));
      continue;
    }
    bool expired = opts.all || now - *e.quarantinedAt() >= limit;
    if (!expired) {
      out.kept.push_back(std::move(e));
      continue;
    }
    std::error_code ec;
    fs::remove_all(e.entryPath, ec);
    if (ec) return terminalError("cannot purge " + e.entryPath + ": " + ec.message());
    out.purged.push_back(std::move(e));
  }
  return out;
}

}  // namespace ocpvdr::replication
