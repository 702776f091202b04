// Digests of live PV directories for the cheap full pass (see manifest.h).
#include "extent/manifest.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <openssl/evp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "extent/fs.h"

namespace ocpvdr::extent {

namespace {

class DigestHasher {
 public:
  DigestHasher() : ctx_(EVP_MD_CTX_new()) {
    ok_ = ctx_ != nullptr && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1;
  }
  ~DigestHasher() { EVP_MD_CTX_free(ctx_); }
  DigestHasher(const DigestHasher&) = delete;
  DigestHasher& operator=(const DigestHasher&) = delete;

  bool ok() const { return ok_; }
  void u64(uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
    EVP_DigestUpdate(ctx_, b, sizeof b);
  }
  void str(const std::string& s) {
    u64(s.size());
    EVP_DigestUpdate(ctx_, s.data(), s.size());
  }
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, out, &len);
    static const char* digits = "0123456789abcdef";
    std::string h;
    for (unsigned i = 0; i < len; ++i) {
      h += digits[out[i] >> 4];
      h += digits[out[i] & 15];
    }
    return h;
  }

 private:
  EVP_MD_CTX* ctx_;
  bool ok_ = false;
};

std::string joinRel(const std::string& a, const std::string& b) {
  return a.empty() ? b : a + "/" + b;
}

uint64_t ns(const struct timespec& t) {
  return static_cast<uint64_t>(t.tv_sec) * 1000000000ull + static_cast<uint64_t>(t.tv_nsec);
}

struct DigestWalker {
  DigestHasher& h;
  PvDigest& d;
  void entry(const std::string& path, char type, const struct stat& st) {
    h.str(path);
    h.u64(static_cast<uint64_t>(type));
    h.u64(st.st_ino);
    h.u64(st.st_mode);
    h.u64(st.st_uid);
    h.u64(st.st_gid);
    h.u64(static_cast<uint64_t>(st.st_size));
    h.u64(ns(st.st_mtim));
    h.u64(ns(st.st_ctim));
  }

  Status extents(int fd, const std::string& path) {
    uint64_t n = 0;
    Status s = forEachExtent(fd, [&](const PhysExtent& e) {
      h.u64(e.logical);
      h.u64(e.physical);
      h.u64(e.length);
      h.u64(e.flags & ~static_cast<uint32_t>(FIEMAP_EXTENT_SHARED));
      ++n;
    });
    if (!s.ok()) return s.error().wrap(path);
    h.u64(n);  // the end of this file's map
    d.extents += n;
    return {};
  }

  Status walk(int dirFd, const std::string& rel) {
    OCPVDR_ASSIGN_OR_RETURN(auto names, sortedNames(dirFd));
    h.u64(names.size());
    for (const auto& name : names) {
      const std::string path = joinRel(rel, name);
      struct stat st {};
      if (::fstatat(dirFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed while we walk: the digest differs anyway
        return sysError("stat " + path, errno);
      }
      if (S_ISDIR(st.st_mode)) {
        Fd sub(::openat(dirFd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub.valid()) {
          if (errno == ENOENT) continue;
          return sysError("open " + path, errno);
        }
        ++d.dirs;
        entry(path, 'd', st);
        OCPVDR_TRY(walk(sub.get(), path));
      } else if (S_ISREG(st.st_mode)) {
        Fd f(::openat(dirFd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
        if (!f.valid()) {
          if (errno == ENOENT) continue;
          return sysError("open " + path, errno);
        }
        // The opened file's own metadata (a rename between the stat and the open is caught
        // by the inode number).
        if (::fstat(f.get(), &st) != 0) return sysError("stat " + path, errno);
        ++d.files;
        d.bytes += static_cast<uint64_t>(st.st_size);
        entry(path, 'f', st);
        OCPVDR_TRY(extents(f.get(), path));
      } else if (S_ISLNK(st.st_mode)) {
        std::string target(4097, '\0');
        ssize_t n = ::readlinkat(dirFd, name.c_str(), target.data(), target.size());
        if (n < 0) {
          if (errno == ENOENT) continue;
          return sysError("readlink " + path, errno);
        }
        target.resize(static_cast<size_t>(n));
        ++d.links;
        entry(path, 'l', st);
        h.str(target);
      } else {
        ++d.other;
        entry(path, 'o', st);
      }
    }
    return {};
  }
};

Result<std::string> resolvedPath(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf) == nullptr) return sysError("resolving " + p, errno);
  return std::string(buf);
}

bool strictlyBelow(const std::string& path, const std::string& root) {
  if (root == "/") return path.size() > 1;
  return path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
         path[root.size()] == '/';
}

// Line-safe: a reason never spans lines.
std::string oneLineOf(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

}  // namespace

Result<PvDigest> digestDirectory(const std::string& dir) {
  Fd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root.valid()) return sysError("open " + dir, errno);
  struct stat st {};
  if (::fstat(root.get(), &st) != 0) return sysError("stat " + dir, errno);
  DigestHasher h;
  if (!h.ok()) return terminalError("SHA-256 is not available");
  PvDigest d;
  DigestWalker w{h, d};
  h.str(kDigestVersion);
  w.entry("", 'd', st);
  OCPVDR_TRY(w.walk(root.get(), ""));
  d.digest = std::string(kDigestVersion) + ":" + h.hex();
  return d;
}

Result<ManifestItem> parseManifestItem(const std::string& arg) {
  ManifestItem it;
  auto eq = arg.find('=');
  it.pv = arg.substr(0, eq);
  it.dir = eq == std::string::npos ? it.pv : arg.substr(eq + 1);
  if (!validName(it.pv)) return invalidError("invalid PV name \"" + it.pv + "\"");
  if (it.dir.empty()) return invalidError("empty directory for PV " + it.pv);
  return it;
}

Status writeManifest(const std::string& root, std::vector<ManifestItem> items, std::FILE* out) {
  auto rootReal = resolvedPath(root);
  struct stat rs {};
  if (!rootReal.ok() || ::stat(rootReal->c_str(), &rs) != 0 || !S_ISDIR(rs.st_mode))
    return notFoundError("export root " + root + " is not a directory");
  const std::string state = *rootReal + "/.ocpv-dr";
  if (items.empty()) {
    Fd rd(::open(rootReal->c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!rd.valid()) return sysError("open " + *rootReal, errno);
    OCPVDR_ASSIGN_OR_RETURN(auto names, sortedNames(rd.get()));
    for (const auto& n : names) {
      struct stat st {};
      if (n.front() == '.' || !validName(n)) continue;
      if (::fstatat(rd.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
        items.push_back({n, n});
    }
  }
  uint64_t ok = 0;
  for (const auto& it : items) {
    const std::string dir = it.dir.front() == '/' ? it.dir : *rootReal + "/" + it.dir;
    std::string line = "OCPVDR-MANIFEST pv=" + it.pv + " ";
    auto real = resolvedPath(dir);
    struct stat st {};
    if (!real.ok()) {
      line +=
          std::string(real.error().kind == ErrorKind::NotFound ? "state=missing" : "state=error") +
          " why=" + oneLineOf(real.error().message);
    } else if (!strictlyBelow(*real, *rootReal) || *real == state || strictlyBelow(*real, state)) {
      line += "state=escape why=" + oneLineOf(*real);
    } else if (::stat(real->c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      line += "state=notdir why=" + oneLineOf(*real);
    } else if (auto d = digestDirectory(*real); !d.ok()) {
      line += "state=error why=" + oneLineOf(d.error().message);
    } else {
      ++ok;
      line += "state=ok digest=" + d->digest + " files=" + std::to_string(d->files) +
              " dirs=" + std::to_string(d->dirs) + " links=" + std::to_string(d->links) +
              " bytes=" + std::to_string(d->bytes) + " extents=" + std::to_string(d->extents);
    }
    line += "\n";
    if (std::fputs(line.c_str(), out) < 0 || std::fflush(out) != 0)
      return terminalError("writing the manifest");
  }
  std::fprintf(out, "OCPVDR-MANIFEST end pvs=%zu ok=%llu\n", items.size(),
               static_cast<unsigned long long>(ok));
  if (std::fflush(out) != 0) return terminalError("writing the manifest");
  return {};
}

bool parseManifestLine(const std::string& line, ManifestLine* out) {
  static const std::string kPrefix = "OCPVDR-MANIFEST ";
  if (line.rfind(kPrefix, 0) != 0) return false;
  *out = ManifestLine{};
  std::string rest = line.substr(kPrefix.size());
  if (rest.rfind("end ", 0) == 0 || rest == "end") {
    out->end = true;
    return true;
  }
  // key=value words until "why=", which takes the rest of the line.
  size_t pos = 0;
  while (pos < rest.size()) {
    size_t sp = rest.find(' ', pos);
    std::string word = rest.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos);
    if (word.rfind("why=", 0) == 0) {
      out->why = rest.substr(pos + 4);
      break;
    }
    auto eq = word.find('=');
    if (eq != std::string::npos) {
      std::string k = word.substr(0, eq), v = word.substr(eq + 1);
      if (k == "pv") out->pv = v;
      if (k == "state") out->state = v;
      if (k == "digest") out->digest = v;
    }
    if (sp == std::string::npos) break;
    pos = sp + 1;
  }
  return !out->pv.empty() && !out->state.empty();
}

}  // namespace ocpvdr::extent
