// Helpers shared by the replication tests: PV/snapshot objects, data files (random, sparse,
// patched), and tree digests to prove "DR data untouched".
#pragma once

#include <openssl/evp.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>

#include "config/config.h"
#include "core/json_util.h"

namespace ocpvdr::testing {

// Both sites on this host for the `local` transport: export "/exports/ocp" of nfs-primary is
// <base>/p/srv/nfs/ocp and that of nfs-dr is <base>/d/srv/nfs/ocp (both created); the DR catalog
// and locks live under <base>/d. Tests add what they exercise on top.
inline config::Config localSitesConfig(const std::filesystem::path& base) {
  config::Config cfg;
  auto site = [&](const std::string& name, const std::string& server, const std::string& dir) {
    config::Site s;
    s.name = name;
    s.nfsServer = server;
    s.exportRoots = {{"/exports/ocp", (base / dir / "srv/nfs/ocp").string()}};
    std::filesystem::create_directories(s.exportRoots.front().hostPath);
    return s;
  };
  cfg.primary = site("primary", "nfs-primary", "p");
  cfg.dr = site("dr", "nfs-dr", "d");
  cfg.replication.transport = config::Transport::Local;
  cfg.replication.pathMappings = {{"/exports/ocp", "/exports/ocp"}};
  cfg.catalog.path = (base / "d/catalog.db").string();
  cfg.replication.lockDir = (base / "d/locks").string();
  return cfg;
}

inline Json inTreePv(const std::string& name, const std::string& server, const std::string& path,
                     const std::string& claim = "disk") {
  Json pv = Json::parse(R"({"apiVersion":"v1","kind":"PersistentVolume",
      "metadata":{},"spec":{"storageClassName":"nfs-dynamic","volumeMode":"Filesystem",
      "accessModes":["ReadWriteMany"],"persistentVolumeReclaimPolicy":"Delete",
      "capacity":{"storage":"10Gi"},
      "claimRef":{"namespace":"vms"},"nfs":{}},"status":{"phase":"Bound"}})");
  pv["metadata"]["name"] = name;
  pv["metadata"]["uid"] = "uid-" + name;
  pv["spec"]["claimRef"]["name"] = claim;
  pv["spec"]["nfs"]["server"] = server;
  pv["spec"]["nfs"]["path"] = path;
  return pv;
}

inline Json csiNfsPv(const std::string& name, const std::string& server, const std::string& share,
                     const std::string& subdir) {
  Json pv = Json::parse(R"({"apiVersion":"v1","kind":"PersistentVolume","metadata":{},
      "spec":{"storageClassName":"nfs-csi","claimRef":{"namespace":"vms","name":"csidisk"},
      "csi":{"driver":"nfs.csi.k8s.io","volumeAttributes":{}}},"status":{"phase":"Bound"}})");
  pv["metadata"]["name"] = name;
  pv["metadata"]["uid"] = "uid-" + name;
  std::string trimmed = share;
  while (!trimmed.empty() && trimmed.front() == '/') trimmed.erase(trimmed.begin());
  pv["spec"]["csi"]["volumeHandle"] = server + "#" + trimmed + "#" + subdir + "#" + name + "#";
  pv["spec"]["csi"]["volumeAttributes"] = {{"server", server},
                                           {"share", share},
                                           {"subdir", subdir},
                                           {"csi.storage.k8s.io/pv/name", name}};
  return pv;
}

inline void writeRandomFile(const std::filesystem::path& p, std::size_t size, unsigned seed) {
  std::filesystem::create_directories(p.parent_path());
  std::mt19937_64 rng(seed);
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  std::string buf(1 << 16, '\0');
  for (std::size_t done = 0; done < size;) {
    for (std::size_t i = 0; i + 8 <= buf.size(); i += 8) {
      std::uint64_t v = rng();
      std::memcpy(&buf[i], &v, 8);
    }
    std::size_t n = std::min(buf.size(), size - done);
    f.write(buf.data(), static_cast<std::streamsize>(n));
    done += n;
  }
}

// Overwrites `len` bytes at `offset` in place with fresh random data.
inline void patchFile(const std::filesystem::path& p, std::size_t offset, std::size_t len,
                      unsigned seed) {
  std::mt19937 rng(seed);
  std::string data(len, '\0');
  for (auto& c : data) c = static_cast<char>(rng());
  std::fstream f(p, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(data.data(), static_cast<std::streamsize>(len));
}

// A file of apparent size `size` holding data only in its first and last `dataLen` bytes.
inline void writeSparseFile(const std::filesystem::path& p, std::size_t size, std::size_t dataLen) {
  std::filesystem::create_directories(p.parent_path());
  { std::ofstream(p, std::ios::binary | std::ios::trunc); }
  std::filesystem::resize_file(p, size);
  patchFile(p, 0, dataLen, 1);
  patchFile(p, size - dataLen, dataLen, 2);
}

inline long long allocatedBytes(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return -1;
  return static_cast<long long>(st.st_blocks) * 512;
}

inline std::string sha256File(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::string buf(1 << 16, '\0');
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(f.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx, md, &n);
  EVP_MD_CTX_free(ctx);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

// relative path → "d" | "l:<target>" | "f:<sha256>" for every entry under `root` (empty map when
// `root` does not exist).
inline std::map<std::string, std::string> treeDigest(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::map<std::string, std::string> out;
  std::error_code ec;
  if (!fs::exists(root, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::string rel = fs::relative(it->path(), root).string();
    if (it->is_symlink())
      out[rel] = "l:" + fs::read_symlink(it->path()).string();
    else if (it->is_directory())
      out[rel] = "d";
    else
      out[rel] = "f:" + sha256File(it->path());
  }
  return out;
}

}  // namespace ocpvdr::testing
