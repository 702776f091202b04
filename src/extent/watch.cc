// Change detection on the primary (see watch.h).
#include "extent/watch.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <unordered_map>

#include "extent/fs.h"

namespace ocpvdr::extent {

namespace {

constexpr std::string_view kStateDir = ".ocpv-dr";
constexpr std::string_view kPrefix = "OCPVDR-WATCH ";

std::int64_t clockNs(clockid_t id) {
  timespec ts{};
  ::clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
std::int64_t monoNs() {
  return clockNs(CLOCK_MONOTONIC);
}
std::int64_t wallNs() {
  return clockNs(CLOCK_REALTIME);
}

std::string errnoText(int e) {
  return std::strerror(e);
}

struct RootId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const RootId& o) const { return dev == o.dev && ino == o.ino; }
};

std::optional<RootId> rootId(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return std::nullopt;
  return RootId{st.st_dev, st.st_ino};
}

// Writes whole lines to the reader; false once it is gone.
class Output {
 public:
  explicit Output(int fd) : fd_(fd) {}
  bool line(const std::string& body) {
    std::string l = std::string(kPrefix) + body + "\n";
    const char* p = l.data();
    std::size_t left = l.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      p += n;
      left -= static_cast<std::size_t>(n);
    }
    return true;
  }

 private:
  int fd_;
};

// State shared by both backends: roots, folder, output.
struct Watcher {
  const WatchOptions& o;
  std::vector<std::string> roots;  // real paths
  std::vector<std::optional<RootId>> ids;
  ChangeFolder folder;
  Output out;
  bool alive = true;

  Watcher(const WatchOptions& opts, int fd) : o(opts), folder(opts.settle, opts.cap), out(fd) {}

  void emit(const std::string& body) {
    if (alive && !out.line(body)) alive = false;
  }
  void rescan(std::size_t root, const char* reason) {
    emit("rescan " + escapeField(roots[root]) + " " + reason);
  }
  void rescanAll(const char* reason) {
    for (std::size_t i = 0; i < roots.size(); ++i) rescan(i, reason);
  }
  void changed(std::size_t root, const std::string& pvdir) {
    if (!pvdir.empty()) folder.note(root, pvdir, monoNs(), wallNs());
  }
  void flushDue() {
    for (const auto& d : folder.takeDue(monoNs()))
      emit("changed " + escapeField(roots[d.root]) + " " + escapeField(d.pvdir) + " " +
           std::to_string(d.firstWallNs));
  }
  // Milliseconds until the next fold or heartbeat is due.
  int pollTimeout(std::int64_t nextBeat) const {
    std::int64_t next = nextBeat;
    if (auto d = folder.nextDue()) next = std::min(next, *d);
    std::int64_t ms = (next - monoNs() + 999'999) / 1'000'000;
    return static_cast<int>(std::clamp<std::int64_t>(ms, 0, 60'000));
  }
};

// ---- fanotify ---------------------------------------------------------------------------------

constexpr std::uint64_t kFanMask = FAN_MODIFY | FAN_ATTRIB | FAN_CLOSE_WRITE | FAN_CREATE |
                                   FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_ONDIR;

struct FanRoot {
  Fd fd;  // O_RDONLY|O_DIRECTORY of the root: the mount for open_by_handle_at
  __kernel_fsid_t fsid{};
};

class FanotifyBackend {
 public:
  explicit FanotifyBackend(Watcher& w) : w_(w) {}

  Status init() {
    int fd = ::fanotify_init(FAN_CLASS_NOTIF | FAN_REPORT_DFID_NAME | FAN_CLOEXEC | FAN_NONBLOCK,
                             O_RDONLY | O_LARGEFILE);
    if (fd < 0) return refusedError("fanotify_init: " + errnoText(errno));
    fan_ = Fd(fd);
    roots_.resize(w_.roots.size());
    for (std::size_t i = 0; i < w_.roots.size(); ++i) OCPVDR_TRY(mark(i));
    return {};
  }

  int fd() const { return fan_.get(); }

  // (Re)marks root i's file system and records its descriptor and fsid.
  Status mark(std::size_t i) {
    const std::string& r = w_.roots[i];
    int rfd = ::open(r.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rfd < 0) return notFoundError("opening root " + r + ": " + errnoText(errno));
    roots_[i].fd = Fd(rfd);
    struct statfs sf {};
    if (::fstatfs(rfd, &sf) != 0) return terminalError("statfs " + r + ": " + errnoText(errno));
    std::memcpy(&roots_[i].fsid, &sf.f_fsid, sizeof roots_[i].fsid);
    if (::fanotify_mark(fan_.get(), FAN_MARK_ADD | FAN_MARK_FILESYSTEM, kFanMask, AT_FDCWD,
                        r.c_str()) != 0)
      return refusedError("fanotify_mark " + r + ": " + errnoText(errno));
    w_.ids[i] = rootId(r);
    cache_.clear();
    return {};
  }

  // Reads every queued event; false on a read error that ends the backend.
  bool drain() {
    alignas(fanotify_event_metadata) char buf[64 * 1024];
    for (;;) {
      ssize_t n = ::read(fan_.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno == EAGAIN;
      }
      if (n == 0) return true;
      auto* m = reinterpret_cast<fanotify_event_metadata*>(buf);
      for (; FAN_EVENT_OK(m, n); m = FAN_EVENT_NEXT(m, n)) {
        if (m->vers != FANOTIFY_METADATA_VERSION) return false;
        if (m->fd >= 0) ::close(m->fd);
        if (m->mask & FAN_Q_OVERFLOW) {
          cache_.clear();
          w_.rescanAll("overflow");
          continue;
        }
        handle(m);
      }
    }
  }

 private:
  struct Where {
    int root = -1;  // -1: outside every root (or unresolvable)
    bool isRoot = false;
    std::string pvdir;
  };

  void handle(const fanotify_event_metadata* m) {
    const char* p = reinterpret_cast<const char*>(m) + m->metadata_len;
    const char* end = reinterpret_cast<const char*>(m) + m->event_len;
    while (p + sizeof(fanotify_event_info_header) <= end) {
      const auto* h = reinterpret_cast<const fanotify_event_info_header*>(p);
      if (h->len == 0 || p + h->len > end) break;
      if (h->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME ||
          h->info_type == FAN_EVENT_INFO_TYPE_DFID) {
        const auto* fid = reinterpret_cast<const fanotify_event_info_fid*>(p);
        const auto* fh = reinterpret_cast<const file_handle*>(fid->handle);
        const char* name = nullptr;
        if (h->info_type == FAN_EVENT_INFO_TYPE_DFID_NAME)
          name = reinterpret_cast<const char*>(fh->f_handle) + fh->handle_bytes;
        Where w = resolve(fid->fsid, fh);
        if (w.root >= 0) {
          if (!w.isRoot)
            w_.changed(static_cast<std::size_t>(w.root), w.pvdir);
          else if (name != nullptr && std::strcmp(name, ".") != 0 && kStateDir != name)
            w_.changed(static_cast<std::size_t>(w.root), name);
        }
      }
      p += h->len;
    }
    // A directory moved: cached directory → PV answers may be stale now.
    if ((m->mask & FAN_ONDIR) && (m->mask & (FAN_MOVED_FROM | FAN_MOVED_TO))) cache_.clear();
  }

  Where resolve(const __kernel_fsid_t& fsid, const file_handle* fh) {
    std::string key(reinterpret_cast<const char*>(&fsid), sizeof fsid);
    key.append(reinterpret_cast<const char*>(fh), sizeof(file_handle) + fh->handle_bytes);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    Where w;
    bool stale = false;
    for (std::size_t i = 0; i < roots_.size() && w.root < 0; ++i) {
      if (std::memcmp(&roots_[i].fsid, &fsid, sizeof fsid) != 0 || !roots_[i].fd.valid()) continue;
      // open_by_handle_at wants a mutable handle.
      std::string copy(reinterpret_cast<const char*>(fh), sizeof(file_handle) + fh->handle_bytes);
      int dfd = ::open_by_handle_at(roots_[i].fd.get(), reinterpret_cast<file_handle*>(copy.data()),
                                    O_PATH | O_CLOEXEC);
      if (dfd < 0) {
        // Gone already: its removal is an event in its parent, which names it.
        stale = true;
        continue;
      }
      char link[PATH_MAX + 1];
      std::string proc = "/proc/self/fd/" + std::to_string(dfd);
      ssize_t len = ::readlink(proc.c_str(), link, PATH_MAX);
      ::close(dfd);
      if (len <= 0) continue;
      std::string path(link, static_cast<std::size_t>(len));
      if (path.size() > 10 && path.compare(path.size() - 10, 10, " (deleted)") == 0) {
        stale = true;
        continue;
      }
      // The directory's path decides among every root on this file system.
      for (std::size_t j = i; j < roots_.size() && w.root < 0; ++j) {
        if (std::memcmp(&roots_[j].fsid, &fsid, sizeof fsid) != 0) continue;
        if (path == w_.roots[j]) {
          w.root = static_cast<int>(j);
          w.isRoot = true;
        } else if (std::string d = pvDirOf(w_.roots[j], path); !d.empty()) {
          w.root = static_cast<int>(j);
          w.pvdir = d;
        }
      }
      break;
    }
    if (!stale) {
      if (cache_.size() > 65'536) cache_.clear();
      cache_.emplace(std::move(key), w);
    }
    return w;
  }

  Watcher& w_;
  Fd fan_;
  std::vector<FanRoot> roots_;
  std::unordered_map<std::string, Where> cache_;
};

// ---- inotify ----------------------------------------------------------------------------------

constexpr std::uint32_t kInMask = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE |
                                  IN_MOVED_FROM | IN_MOVED_TO | IN_MOVE_SELF | IN_DELETE_SELF |
                                  IN_DONT_FOLLOW | IN_ONLYDIR | IN_EXCL_UNLINK;

class InotifyBackend {
 public:
  explicit InotifyBackend(Watcher& w) : w_(w) {}

  Status init() {
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) return terminalError("inotify_init1: " + errnoText(errno));
    in_ = Fd(fd);
    for (std::size_t i = 0; i < w_.roots.size(); ++i) {
      if (addTree(i, "") < 0) return notFoundError("cannot watch root " + w_.roots[i]);
      w_.ids[i] = rootId(w_.roots[i]);
    }
    return {};
  }

  int fd() const { return in_.get(); }

  // Watches root i again after its watch was lost.
  bool remark(std::size_t i) {
    dropUnder(i, "", true);
    w_.ids[i] = rootId(w_.roots[i]);
    return addTree(i, "") >= 0;
  }

  bool drain() {
    alignas(inotify_event) char buf[64 * 1024];
    for (;;) {
      ssize_t n = ::read(in_.get(), buf, sizeof buf);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno == EAGAIN;
      }
      if (n == 0) return true;
      for (char* p = buf; p < buf + n;) {
        auto* e = reinterpret_cast<inotify_event*>(p);
        handle(e);
        p += sizeof(inotify_event) + e->len;
      }
    }
  }

 private:
  struct Dir {
    std::size_t root = 0;
    std::string rel;  // "" for the root
  };

  void handle(const inotify_event* e) {
    if (e->mask & IN_Q_OVERFLOW) {
      w_.rescanAll("overflow");
      return;
    }
    auto it = dirs_.find(e->wd);
    if (it == dirs_.end()) return;
    const Dir d = it->second;
    if (e->mask & IN_IGNORED) {
      byRel_.erase({d.root, d.rel});
      dirs_.erase(it);
      if (d.rel.empty()) w_.rescan(d.root, "lost-mark");
      return;
    }
    if (e->mask & (IN_MOVE_SELF | IN_DELETE_SELF)) {
      // Its watches carry the old path: drop them; IN_MOVED_TO in the new parent adds it again.
      if (!d.rel.empty()) {
        w_.changed(d.root, firstComponent(d.rel));
        dropUnder(d.root, d.rel, true);
      }
      return;
    }
    std::string name = e->len > 0 ? std::string(e->name) : std::string();
    std::string rel = d.rel.empty() ? name : (name.empty() ? d.rel : d.rel + "/" + name);
    if (rel.empty()) return;
    std::string pv = firstComponent(rel);
    if (pv == kStateDir) return;
    w_.changed(d.root, pv);
    if ((e->mask & IN_ISDIR) && (e->mask & (IN_CREATE | IN_MOVED_TO)) && !name.empty())
      (void)addTree(d.root, rel);
    if ((e->mask & IN_ISDIR) && (e->mask & IN_MOVED_FROM) && !name.empty())
      dropUnder(d.root, rel, true);
  }

  static std::string firstComponent(const std::string& rel) { return rel.substr(0, rel.find('/')); }

  // Adds watches for `rel` under root i and every directory below it; the root's watch
  // descriptor (or -1).
  int addTree(std::size_t i, const std::string& rel) {
    std::string path = rel.empty() ? w_.roots[i] : w_.roots[i] + "/" + rel;
    int wd = ::inotify_add_watch(in_.get(), path.c_str(), kInMask);
    if (wd < 0) {
      if (errno == ENOSPC) w_.rescan(i, "watch-limit");
      return -1;
    }
    dirs_[wd] = Dir{i, rel};
    byRel_[{i, rel}] = wd;
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr) return wd;
    std::vector<std::string> subs;
    while (dirent* de = ::readdir(dir)) {
      std::string n = de->d_name;
      if (n == "." || n == "..") continue;
      if (rel.empty() && n == kStateDir) continue;
      bool isDir = de->d_type == DT_DIR;
      if (de->d_type == DT_UNKNOWN) {
        struct stat st {};
        isDir = ::lstat((path + "/" + n).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
      }
      if (isDir) subs.push_back(rel.empty() ? n : rel + "/" + n);
    }
    ::closedir(dir);
    for (const auto& s : subs) (void)addTree(i, s);
    return wd;
  }

  // Forgets (and removes) the watches of `rel` and everything below it.
  void dropUnder(std::size_t i, const std::string& rel, bool removeWatch) {
    for (auto it = byRel_.lower_bound({i, rel}); it != byRel_.end() && it->first.first == i;) {
      const std::string& r = it->first.second;
      bool under =
          rel.empty() || r == rel ||
          (r.size() > rel.size() && r.compare(0, rel.size(), rel) == 0 && r[rel.size()] == '/');
      if (!under) {
        if (r.compare(0, rel.size(), rel) != 0) break;
        ++it;
        continue;
      }
      if (removeWatch) ::inotify_rm_watch(in_.get(), it->second);
      dirs_.erase(it->second);
      it = byRel_.erase(it);
    }
  }

  Watcher& w_;
  Fd in_;
  std::unordered_map<int, Dir> dirs_;
  std::map<std::pair<std::size_t, std::string>, int> byRel_;
};

template <class Backend>
Status runLoop(Watcher& w, Backend& b, const char* name) {
  w.emit(std::string("ready backend=") + name + " roots=" + std::to_string(w.roots.size()));
  w.rescanAll("start");
  const std::int64_t beatNs = std::max<std::int64_t>(1, w.o.heartbeat.count()) * 1'000'000;
  std::int64_t nextBeat = monoNs() + beatNs;
  while (w.alive) {
    pollfd p{b.fd(), POLLIN, 0};
    int r = ::poll(&p, 1, w.pollTimeout(nextBeat));
    if (r < 0 && errno != EINTR) return terminalError("poll: " + errnoText(errno));
    if (r > 0 && !b.drain()) return terminalError(std::string(name) + " read: " + errnoText(errno));
    w.flushDue();
    if (monoNs() >= nextBeat) {
      nextBeat = monoNs() + beatNs;
      // A root replaced or unmounted lost its mark: mark it again, then rescan it.
      for (std::size_t i = 0; i < w.roots.size(); ++i) {
        auto now = rootId(w.roots[i]);
        if (now && w.ids[i] && *now == *w.ids[i]) continue;
        if (!now) {
          if (w.ids[i]) w.rescan(i, "lost-mark");
          w.ids[i].reset();
          continue;
        }
        bool ok;
        if constexpr (std::is_same_v<Backend, FanotifyBackend>)
          ok = b.mark(i).ok();
        else
          ok = b.remark(i);
        if (ok) w.rescan(i, "lost-mark");
      }
      w.emit("heartbeat " + std::to_string(wallNs()));
    }
  }
  return {};
}

}  // namespace

void ChangeFolder::note(std::size_t root, const std::string& pvdir, std::int64_t monoNs,
                        std::int64_t wallNs) {
  auto [it, fresh] = folds_.try_emplace({root, pvdir});
  if (fresh) {
    it->second.firstMono = monoNs;
    it->second.firstWall = wallNs;
  }
  it->second.lastMono = monoNs;
}

std::vector<ChangeFolder::Due> ChangeFolder::takeDue(std::int64_t monoNs) {
  std::vector<Due> due;
  for (auto it = folds_.begin(); it != folds_.end();) {
    const Fold& f = it->second;
    if (monoNs - f.lastMono >= settleNs_ || monoNs - f.firstMono >= capNs_) {
      due.push_back(Due{it->first.first, it->first.second, f.firstWall});
      it = folds_.erase(it);
    } else {
      ++it;
    }
  }
  return due;
}

std::optional<std::int64_t> ChangeFolder::nextDue() const {
  std::optional<std::int64_t> next;
  for (const auto& [k, f] : folds_) {
    std::int64_t d = std::min(f.lastMono + settleNs_, f.firstMono + capNs_);
    if (!next || d < *next) next = d;
  }
  return next;
}

std::string pvDirOf(std::string_view root, std::string_view path) {
  while (root.size() > 1 && root.back() == '/') root.remove_suffix(1);
  if (path.size() <= root.size() || path.compare(0, root.size(), root) != 0) return {};
  std::string_view rest = path.substr(root.size());
  if (root != "/") {
    if (rest.front() != '/') return {};
    rest.remove_prefix(1);
  }
  std::string_view first = rest.substr(0, rest.find('/'));
  if (first.empty() || first == kStateDir || first == "." || first == "..") return {};
  return std::string(first);
}

std::string escapeField(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == '%' || u == 0x7f) {
      out += '%';
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  if (out.empty()) out = "%00";  // never an empty field
  return out;
}

std::optional<std::string> unescapeField(std::string_view s) {
  if (s == "%00") return std::string();
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    auto val = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'A' && c <= 'F') return c - 'A' + 10;
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = val(s[i + 1]), lo = val(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::optional<WatchRecord> parseWatchRecord(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  line.remove_prefix(kPrefix.size());
  std::vector<std::string_view> f;
  while (!line.empty()) {
    auto sp = line.find(' ');
    f.push_back(line.substr(0, sp));
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
  }
  if (f.empty()) return std::nullopt;
  auto num = [](std::string_view v) -> std::optional<std::int64_t> {
    if (v.empty() || v.size() > 19) return std::nullopt;
    std::int64_t n = 0;
    for (char c : v) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + (c - '0');
    }
    return n;
  };
  WatchRecord r;
  if (f[0] == "ready" && f.size() >= 2) {
    r.type = WatchRecord::Type::Ready;
    if (f[1].substr(0, 8) == "backend=") r.backend = std::string(f[1].substr(8));
    return r;
  }
  if (f[0] == "rescan" && f.size() == 3) {
    auto root = unescapeField(f[1]);
    if (!root || root->empty()) return std::nullopt;
    r.type = WatchRecord::Type::Rescan;
    r.root = *root;
    r.reason = std::string(f[2]);
    return r;
  }
  if (f[0] == "changed" && f.size() == 4) {
    auto root = unescapeField(f[1]);
    auto pv = unescapeField(f[2]);
    auto t = num(f[3]);
    if (!root || !pv || !t || root->empty() || pv->empty()) return std::nullopt;
    r.type = WatchRecord::Type::Changed;
    r.root = *root;
    r.pvdir = *pv;
    r.timeNs = *t;
    return r;
  }
  if (f[0] == "heartbeat" && f.size() == 2) {
    auto t = num(f[1]);
    if (!t) return std::nullopt;
    r.type = WatchRecord::Type::Heartbeat;
    r.timeNs = *t;
    return r;
  }
  return std::nullopt;
}

Status watch(const WatchOptions& o, int outFd) {
  if (o.roots.empty()) return invalidError("watch needs at least one --root");
  if (o.settle.count() < 0 || o.cap.count() <= 0 || o.heartbeat.count() <= 0)
    return invalidError("--settle must be >= 0, --cap and --heartbeat > 0");
  std::signal(SIGPIPE, SIG_IGN);
  Watcher w(o, outFd);
  for (const auto& r : o.roots) {
    char* real = ::realpath(r.c_str(), nullptr);
    if (real == nullptr) return notFoundError("root " + r + ": " + errnoText(errno));
    std::string rp = real;
    std::free(real);
    if (!rootId(rp)) return notFoundError("root " + r + " is not a directory");
    w.roots.push_back(rp);
  }
  w.ids.resize(w.roots.size());
  if (o.backend != WatchBackend::Inotify) {
    FanotifyBackend fan(w);
    Status s = fan.init();
    if (s.ok()) return runLoop(w, fan, "fanotify");
    if (o.backend == WatchBackend::Fanotify) return s;
  }
  InotifyBackend in(w);
  OCPVDR_TRY(in.init());
  return runLoop(w, in, "inotify");
}

}  // namespace ocpvdr::extent
