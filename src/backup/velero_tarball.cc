// Streaming Velero tarball reader over libarchive (see velero_tarball.h).
#include "backup/velero_tarball.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

namespace ocpvdr::backup {
namespace {

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

std::vector<std::string_view> splitPath(std::string_view p) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i <= p.size()) {
    std::size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    out.push_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string trimmedLine(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// Where an item entry sits in the layout.
enum class Copy { Plain, Preferred, OtherVersion };

struct ItemPath {
  std::string groupResource, ns, name;
  Copy copy = Copy::Plain;
};

// Parses resources/... paths; nullopt-like error for anything that is not the Velero layout.
Result<ItemPath> parseItemPath(const std::vector<std::string_view>& s, std::string_view entry) {
  auto bad = [&](std::string_view why) {
    return invalidError("entry \"" + std::string(entry) + "\" " + std::string(why));
  };
  constexpr std::string_view kLayout =
      "is not a Velero item path (resources/<resource>/cluster/<name>.json or "
      "resources/<resource>/namespaces/<ns>/<name>.json)";
  if (s.size() < 4 || s[1].empty()) return bad(kLayout);
  ItemPath p;
  p.groupResource = std::string(s[1]);
  std::size_t scope = 2;
  if (s[2] != "cluster" && s[2] != "namespaces") {
    // A version directory: "<version>-preferredversion" is the preferred-version copy; a bare
    // version appears when Velero backs up every API group version (EnableAPIGroupVersions).
    std::string_view v = s[2];
    constexpr std::string_view kSuffix = "-preferredversion";
    p.copy = v.size() > kSuffix.size() && v.substr(v.size() - kSuffix.size()) == kSuffix
                 ? Copy::Preferred
                 : Copy::OtherVersion;
    scope = 3;
  }
  std::string_view file;
  if (s.size() == scope + 2 && s[scope] == "cluster") {
    file = s[scope + 1];
  } else if (s.size() == scope + 3 && s[scope] == "namespaces" && !s[scope + 1].empty()) {
    p.ns = std::string(s[scope + 1]);
    file = s[scope + 2];
  } else {
    return bad(kLayout);
  }
  constexpr std::string_view kJson = ".json";
  if (file.size() <= kJson.size() || file.substr(file.size() - kJson.size()) != kJson)
    return bad("has an item file name that does not end in .json");
  p.name = std::string(file.substr(0, file.size() - kJson.size()));
  return p;
}

std::string itemKey(const ItemPath& p) {
  return p.groupResource + '\0' + p.ns + '\0' + p.name;
}

const char* typeName(mode_t type) {
  switch (type) {
    case AE_IFLNK:
      return "a symbolic link";
    case AE_IFDIR:
      return "a directory";
    case AE_IFCHR:
      return "a character device";
    case AE_IFBLK:
      return "a block device";
    case AE_IFIFO:
      return "a FIFO";
    case AE_IFSOCK:
      return "a socket";
    default:
      return "not a regular file";
  }
}

class Scanner {
 public:
  Scanner(const std::string& path, const TarballOptions& options,
          const std::function<Status(TarballItem&&)>& onItem)
      : path_(path), opt_(options), onItem_(onItem) {}

  Result<TarballContents> run() {
    std::unique_ptr<archive, ArchiveFree> a(archive_read_new());
    if (!a) return terminalError("libarchive: out of memory");
    archive_read_support_filter_gzip(a.get());
    archive_read_support_format_tar(a.get());
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
      std::string msg = "backup tarball " + path_ + ": " + std::strerror(errno);
      return errno == ENOENT ? notFoundError(msg) : terminalError(msg);
    }
    if (archive_read_open_filename(a.get(), path_.c_str(), 1 << 17) != ARCHIVE_OK)
      return corrupt(a.get(), "");
    archive_entry* e = nullptr;
    bool checkedGzip = false;
    for (;;) {
      int r = archive_read_next_header(a.get(), &e);
      if (r == ARCHIVE_EOF) break;
      if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return corrupt(a.get(), lastEntry_);
      if (!checkedGzip) {
        // The filter chain is known once the first header is read; Velero always gzips.
        bool gz = false;
        for (int i = 0; i < archive_filter_count(a.get()); ++i)
          gz = gz || archive_filter_code(a.get(), i) == ARCHIVE_FILTER_GZIP;
        if (!gz)
          return invalidError("backup tarball " + path_ +
                              ": not gzip-compressed (a Velero backup is a .tar.gz)");
        checkedGzip = true;
      }
      OCPVDR_TRY(checkTotal(a.get(), e));
      if (++out_.entries > opt_.maxEntries)
        return invalidError("backup tarball " + path_ + ": more than " +
                            std::to_string(opt_.maxEntries) + " entries");
      OCPVDR_TRY(entry(a.get(), e));
    }
    OCPVDR_TRY(flushPending());
    if (out_.formatVersion.empty())
      return invalidError("backup tarball " + path_ +
                          ": no metadata/version entry (not a Velero backup tarball?)");
    return std::move(out_);
  }

 private:
  Error corrupt(archive* a, const std::string& entry) const {
    const char* why = archive_error_string(a);
    return invalidError("backup tarball " + path_ + ": corrupt or truncated archive" +
                        (entry.empty() ? "" : " (after entry \"" + entry + "\")") + ": " +
                        (why ? why : "unknown libarchive error"));
  }

  // Bytes inflated so far plus the data the current entry declares (read or skipped, gzip has
  // to inflate it): refused before that data is touched when it would pass the total cap.
  Status checkTotal(archive* a, archive_entry* e) const {
    const la_int64_t done = archive_filter_bytes(a, 0);
    const la_int64_t declared = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    const std::uint64_t total = static_cast<std::uint64_t>(std::max<la_int64_t>(done, 0)) +
                                static_cast<std::uint64_t>(std::max<la_int64_t>(declared, 0));
    if (total > opt_.maxTotalBytes)
      return invalidError("backup tarball " + path_ + ": decompressed size passes the limit of " +
                          std::to_string(opt_.maxTotalBytes) + " bytes at entry \"" +
                          (archive_entry_pathname(e) ? archive_entry_pathname(e) : "?") +
                          "\" (a gzip bomb, or a backup larger than this reader allows)");
    return Status::success();
  }

  Error badEntry(std::string_view entry, std::string_view why) const {
    return invalidError("backup tarball " + path_ + ": entry \"" + std::string(entry) + "\" " +
                        std::string(why));
  }

  // Reads the current entry's data, refusing more than `cap` bytes.
  Result<std::string> readData(archive* a, std::string_view entry, std::size_t cap) {
    std::string buf;
    la_int64_t size = archive_entry_size(current_);
    if (size > 0) buf.reserve(static_cast<std::size_t>(std::min<la_int64_t>(size, cap)));
    char chunk[1 << 16];
    for (;;) {
      la_ssize_t n = archive_read_data(a, chunk, sizeof chunk);
      if (n < 0) return corrupt(a, std::string(entry));
      if (n == 0) break;
      if (buf.size() + static_cast<std::size_t>(n) > cap)
        return badEntry(entry,
                        "is larger than the per-item limit of " + std::to_string(cap) + " bytes");
      buf.append(chunk, static_cast<std::size_t>(n));
    }
    return buf;
  }

  Status skipData(archive* a, std::string_view entry) {
    if (archive_read_data_skip(a) != ARCHIVE_OK) return corrupt(a, std::string(entry));
    return Status::success();
  }

  Status entry(archive* a, archive_entry* e) {
    current_ = e;
    const char* raw = archive_entry_pathname(e);
    if (!raw || !*raw) return invalidError("backup tarball " + path_ + ": entry without a name");
    std::string_view name = raw;
    lastEntry_ = std::string(name);
    if (name.front() == '/') return badEntry(name, "has an absolute path");
    while (name.substr(0, 2) == "./") name.remove_prefix(2);
    auto segs = splitPath(name);
    bool isDirEntry = !name.empty() && name.back() == '/';
    if (isDirEntry) segs.pop_back();
    for (std::string_view s : segs) {
      if (s == "..") return badEntry(lastEntry_, "escapes the archive root (\"..\")");
      if (s.empty() || s == ".")
        return badEntry(lastEntry_, "has an empty or \".\" path component");
    }
    if (const char* link = archive_entry_hardlink(e))
      return badEntry(lastEntry_, std::string("is a hard link (to \"") + link + "\")");
    const mode_t type = archive_entry_filetype(e);
    if (type == AE_IFLNK || archive_entry_symlink(e)) {
      const char* target = archive_entry_symlink(e);
      return badEntry(lastEntry_,
                      std::string("is a symbolic link (to \"") + (target ? target : "?") + "\")");
    }
    if (type == AE_IFDIR || (isDirEntry && type == 0)) return Status::success();
    if (type != AE_IFREG) return badEntry(lastEntry_, std::string("is ") + typeName(type));
    if (archive_entry_size_is_set(e) &&
        archive_entry_size(e) > static_cast<la_int64_t>(opt_.maxItemBytes))
      return badEntry(lastEntry_, "is " + std::to_string(archive_entry_size(e)) +
                                      " bytes, over the per-item limit of " +
                                      std::to_string(opt_.maxItemBytes));

    if (segs.size() == 2 && segs[0] == "metadata" && segs[1] == "version") {
      if (!out_.formatVersion.empty()) return badEntry(lastEntry_, "appears twice");
      OCPVDR_ASSIGN_OR_RETURN(std::string text, readData(a, lastEntry_, 256));
      std::string v = trimmedLine(text);
      auto ok = checkFormatVersion(v);
      if (!ok.ok()) return ok.error().wrap("backup tarball " + path_);
      out_.formatVersion = v;
      return Status::success();
    }
    if (segs[0] != "resources") {
      ++out_.otherEntries;
      return skipData(a, lastEntry_);
    }
    auto parsed = parseItemPath(segs, lastEntry_);
    if (!parsed.ok()) return parsed.error().wrap("backup tarball " + path_);
    ItemPath& p = parsed.value();
    if (p.copy == Copy::OtherVersion) {
      ++out_.copiesSkipped;
      return skipData(a, lastEntry_);
    }
    const std::string key = itemKey(p);
    const bool wanted = opt_.extract.count(p.groupResource) > 0;
    if (p.copy == Copy::Plain) {
      if (!plainSeen_.insert(key).second) return badEntry(lastEntry_, "appears twice");
      if (!preferredSeen_.count(key))
        ++out_.inventory[p.groupResource];
      else
        ++out_.copiesSkipped;
      pending_.erase(key);  // the plain copy wins over a preferred copy stashed earlier
      if (!wanted) return skipData(a, lastEntry_);
      OCPVDR_ASSIGN_OR_RETURN(std::string body, readData(a, lastEntry_, opt_.maxItemBytes));
      return emit(p, lastEntry_, body, false);
    }
    // Preferred-version copy. Velero writes it right after the plain copy, which we read
    // instead (it is what a Velero restore reads, and both hold the same object). It is used
    // only when the archive has no plain copy of the item; since that is known only at the end,
    // the bodies of wanted items are kept until then (unwanted ones are never read).
    if (!preferredSeen_.insert(key).second) return badEntry(lastEntry_, "appears twice");
    if (plainSeen_.count(key)) {
      ++out_.copiesSkipped;
      return skipData(a, lastEntry_);
    }
    ++out_.inventory[p.groupResource];
    if (!wanted) return skipData(a, lastEntry_);
    OCPVDR_ASSIGN_OR_RETURN(std::string body, readData(a, lastEntry_, opt_.maxItemBytes));
    pendingOrder_.push_back(key);
    pending_.emplace(key, Pending{std::move(p), lastEntry_, std::move(body)});
    return Status::success();
  }

  Status emit(const ItemPath& p, const std::string& entry, std::string_view body, bool preferred) {
    auto json = parseJson(body, "backup tarball " + path_ + " entry \"" + entry + "\"");
    if (!json.ok()) return json.error();
    if (!json->is_object()) return badEntry(entry, "does not hold a JSON object");
    // The file name is the object's name: a mismatch means a damaged or forged archive.
    const Json* metaName = jsonAt(*json, "metadata.name");
    const Json* metaNs = jsonAt(*json, "metadata.namespace");
    if (!metaName || !metaName->is_string() || metaName->get<std::string>() != p.name)
      return badEntry(entry, "holds an object whose metadata.name is not \"" + p.name + "\"");
    if (!p.ns.empty() && (!metaNs || !metaNs->is_string() || metaNs->get<std::string>() != p.ns))
      return badEntry(entry, "holds an object whose metadata.namespace is not \"" + p.ns + "\"");
    TarballItem item;
    item.groupResource = p.groupResource;
    item.ns = p.ns;
    item.name = p.name;
    item.entry = entry;
    item.fromPreferredVersion = preferred;
    item.object = std::move(json).value();
    return onItem_(std::move(item));
  }

  Status flushPending() {
    for (const std::string& key : pendingOrder_) {
      auto it = pending_.find(key);
      if (it == pending_.end()) continue;  // a plain copy turned up after all
      OCPVDR_TRY(emit(it->second.path, it->second.entry, it->second.body, true));
    }
    return Status::success();
  }

  struct Pending {
    ItemPath path;
    std::string entry;
    std::string body;
  };

  const std::string& path_;
  const TarballOptions& opt_;
  const std::function<Status(TarballItem&&)>& onItem_;
  TarballContents out_;
  archive_entry* current_ = nullptr;
  std::string lastEntry_;
  std::unordered_set<std::string> plainSeen_, preferredSeen_;
  std::unordered_map<std::string, Pending> pending_;
  std::vector<std::string> pendingOrder_;
};

}  // namespace

std::vector<const TarballItem*> TarballContents::of(std::string_view groupResource) const {
  std::vector<const TarballItem*> out;
  for (const auto& i : items)
    if (i.groupResource == groupResource) out.push_back(&i);
  return out;
}

std::size_t TarballContents::totalItems() const {
  std::size_t n = 0;
  for (const auto& [_, c] : inventory) n += c;
  return n;
}

Status checkFormatVersion(std::string_view version) {
  // major.minor.patch, digits only, major 1.
  int dots = 0;
  bool ok = !version.empty() && version.front() != '.' && version.back() != '.';
  for (std::size_t i = 0; ok && i < version.size(); ++i) {
    char c = version[i];
    if (c == '.') {
      ++dots;
      ok = version[i - 1] != '.';
    } else {
      ok = std::isdigit(static_cast<unsigned char>(c)) != 0;
    }
  }
  ok = ok && dots == 2 && version.substr(0, 2) == "1.";
  if (!ok)
    return invalidError("metadata/version is \"" + std::string(version.substr(0, 40)) +
                        "\": this reader supports Velero backup format 1.x (1.1.0 is current)");
  return Status::success();
}

Result<TarballContents> scanVeleroTarball(const std::string& path, const TarballOptions& options,
                                          const std::function<Status(TarballItem&&)>& onItem) {
  return Scanner(path, options, onItem).run();
}

Result<TarballContents> readVeleroTarball(const std::string& path, const TarballOptions& options) {
  std::vector<TarballItem> items;
  auto contents = scanVeleroTarball(path, options, [&](TarballItem&& item) -> Status {
    items.push_back(std::move(item));
    return Status::success();
  });
  if (!contents.ok()) return contents.error();
  std::sort(items.begin(), items.end(), [](const TarballItem& a, const TarballItem& b) {
    return std::tie(a.groupResource, a.ns, a.name) < std::tie(b.groupResource, b.ns, b.name);
  });
  contents->items = std::move(items);
  return contents;
}

}  // namespace ocpvdr::backup
