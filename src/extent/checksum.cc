// Per-file SHA-256 of a tree (see checksum.h).
#include "extent/checksum.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>

#include "extent/fs.h"

namespace ocpvdr::extent {
namespace {

constexpr size_t kBuf = 1 << 20;

std::string hex(const unsigned char* d, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s.push_back(digits[d[i] >> 4]);
    s.push_back(digits[d[i] & 15]);
  }
  return s;
}

struct MdCtx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~MdCtx() { EVP_MD_CTX_free(ctx); }
};

Result<std::string> sumFd(int fd, const std::string& what, uint64_t* size) {
  MdCtx md;
  if (md.ctx == nullptr || EVP_DigestInit_ex(md.ctx, EVP_sha256(), nullptr) != 1)
    return terminalError("SHA-256 unavailable");
  std::unique_ptr<unsigned char[]> buf(new unsigned char[kBuf]);
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.get(), kBuf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysError("read " + what, errno);
    }
    if (n == 0) break;
    EVP_DigestUpdate(md.ctx, buf.get(), static_cast<size_t>(n));
    total += static_cast<uint64_t>(n);
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(md.ctx, out, &len);
  *size = total;
  return hex(out, len);
}

std::string sumText(const std::string& s) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_Digest(s.data(), s.size(), out, &len, EVP_sha256(), nullptr);
  return hex(out, len);
}

Status walk(const std::string& root, const std::string& rel, std::vector<FileSum>& out) {
  const std::string dir = rel.empty() ? root : root + "/" + rel;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return sysError("opendir " + dir, errno);
  std::vector<std::string> names;
  while (struct dirent* de = ::readdir(d)) {
    if (std::strcmp(de->d_name, ".") != 0 && std::strcmp(de->d_name, "..") != 0)
      names.emplace_back(de->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    const std::string r = rel.empty() ? n : rel + "/" + n;
    const std::string full = root + "/" + r;
    struct stat st {};
    if (::lstat(full.c_str(), &st) != 0) return sysError("stat " + full, errno);
    if (S_ISDIR(st.st_mode)) {
      OCPVDR_TRY(walk(root, r, out));
    } else if (S_ISREG(st.st_mode)) {
      Fd fd(::open(full.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd.valid()) return sysError("open " + full, errno);
      FileSum s{'f', "", 0, r};
      OCPVDR_ASSIGN_OR_RETURN(s.sha256, sumFd(fd.get(), full, &s.size));
      out.push_back(std::move(s));
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
      if (n < 0) return sysError("readlink " + full, errno);
      target.resize(static_cast<size_t>(n));
      out.push_back(FileSum{'l', sumText(target), target.size(), r});
    }
  }
  return Status::success();
}

bool safeByte(unsigned char c) {
  return std::isalnum(c) != 0 || std::strchr("._/+:@=,-", c) != nullptr;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::vector<FileSum>> checksumTree(const std::string& tree) {
  struct stat st {};
  if (::lstat(tree.c_str(), &st) != 0) return sysError("stat " + tree, errno);
  if (!S_ISDIR(st.st_mode)) return invalidError(tree + " is not a directory");
  std::vector<FileSum> out;
  OCPVDR_TRY(walk(tree, "", out));
  std::sort(out.begin(), out.end(),
            [](const FileSum& a, const FileSum& b) { return a.path < b.path; });
  return out;
}

std::string formatSum(const FileSum& s) {
  std::string path;
  for (unsigned char c : s.path) {
    if (c != 0 && safeByte(c)) {
      path.push_back(static_cast<char>(c));
    } else {
      static const char* digits = "0123456789ABCDEF";
      path += '%';
      path.push_back(digits[c >> 4]);
      path.push_back(digits[c & 15]);
    }
  }
  return std::string(1, s.type) + " " + s.sha256 + " " + std::to_string(s.size) + " " + path;
}

Result<std::vector<FileSum>> parseSums(std::string_view text) {
  std::vector<FileSum> out;
  size_t lineNo = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++lineNo;
    if (line.empty()) continue;
    auto bad = [&] {
      return invalidError("checksum line " + std::to_string(lineNo) + " is malformed: \"" +
                          std::string(line.substr(0, 120)) + "\"");
    };
    if (line.size() < 70 || (line[0] != 'f' && line[0] != 'l') || line[1] != ' ' || line[66] != ' ')
      return bad();
    FileSum s;
    s.type = line[0];
    s.sha256 = std::string(line.substr(2, 64));
    if (!std::all_of(s.sha256.begin(), s.sha256.end(), [](char c) { return hexValue(c) >= 0; }))
      return bad();
    std::string_view rest = line.substr(67);
    size_t sp = rest.find(' ');
    if (sp == 0 || sp == std::string_view::npos || sp + 1 >= rest.size()) return bad();
    for (char c : rest.substr(0, sp)) {
      if (c < '0' || c > '9') return bad();
      s.size = s.size * 10 + static_cast<uint64_t>(c - '0');
    }
    std::string_view p = rest.substr(sp + 1);
    for (size_t i = 0; i < p.size(); ++i) {
      if (p[i] != '%') {
        s.path.push_back(p[i]);
        continue;
      }
      if (i + 2 >= p.size()) return bad();
      int hi = hexValue(p[i + 1]), lo = hexValue(p[i + 2]);
      if (hi < 0 || lo < 0) return bad();
      s.path.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace ocpvdr::extent
