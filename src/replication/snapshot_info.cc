// VolumeSnapshot / VolumeSnapshotContent reading, quantity parsing and csi-driver-nfs snapshot
// handles (formats in snapshot_info.h).
#include "replication/snapshot_info.h"
#include "core/time.h"

#include <cctype>
#include <filesystem>
#include <limits>
#include <vector>

namespace ocpvdr::replication {
namespace {

// 128-bit intermediate so mantissa × suffix cannot overflow before the int64 range check.
__extension__ typedef __int128 Int128;
constexpr Int128 kMax = std::numeric_limits<std::int64_t>::max();

Error quantityError(std::string_view what, std::string_view text, std::string_view why) {
  return invalidError(std::string(what) + ": \"" + std::string(text) +
                      "\" is not a Kubernetes quantity (" + std::string(why) +
                      "; expected e.g. \"10Gi\", \"500M\", \"1.5Gi\" or a byte count)");
}

// creationTime on a VolumeSnapshot is an RFC 3339 string; on a content it is int64 nanoseconds.
// Either type is accepted in either place (objects from odd tooling), but nothing else.
Result<std::optional<SystemTime>> readCreationTime(const Json& obj, std::string_view path) {
  const Json* v = jsonAt(obj, path);
  if (v == nullptr || v->is_null()) return std::optional<SystemTime>{};
  if (v->is_string()) {
    auto t = parseTime(v->get<std::string>());
    if (!t.ok()) return invalidError(std::string(path) + ": " + t.error().message);
    return std::optional<SystemTime>{*t};
  }
  if (v->is_number_integer()) {
    std::int64_t ns = v->get<std::int64_t>();
    if (ns < 0) return invalidError(std::string(path) + ": negative nanosecond timestamp");
    return std::optional<SystemTime>{
        SystemTime(std::chrono::duration_cast<SystemTime::duration>(std::chrono::nanoseconds(ns)))};
  }
  return invalidError(std::string(path) +
                      ": expected an RFC 3339 string or int64 nanoseconds, got " +
                      std::string(v->type_name()));
}

Result<std::optional<std::int64_t>> readRestoreSize(const Json& obj, std::string_view path) {
  const Json* v = jsonAt(obj, path);
  if (v == nullptr || v->is_null()) return std::optional<std::int64_t>{};
  if (v->is_string()) {
    OCPVDR_ASSIGN_OR_RETURN(std::int64_t b, parseQuantityBytes(v->get<std::string>(), path));
    return std::optional<std::int64_t>{b};
  }
  if (v->is_number_integer()) {
    std::int64_t b = v->get<std::int64_t>();
    if (b < 0) return invalidError(std::string(path) + ": negative size");
    return std::optional<std::int64_t>{b};
  }
  return invalidError(std::string(path) + ": expected a quantity string or int64 bytes, got " +
                      std::string(v->type_name()));
}

Result<std::string> optString(const Json& obj, std::string_view path) {
  OCPVDR_ASSIGN_OR_RETURN(auto v, jsonOptString(obj, path));
  return v.value_or("");
}

}  // namespace

Result<std::int64_t> parseQuantityBytes(std::string_view text, std::string_view what) {
  std::string_view s = text;
  if (s.empty()) return quantityError(what, text, "empty");
  if (s.front() == '+') s.remove_prefix(1);
  if (!s.empty() && s.front() == '-') return quantityError(what, text, "negative");
  Int128 mantissa = 0;
  int scale10 = 0;
  std::size_t i = 0;
  bool digits = false, dot = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits = true;
      if (mantissa > kMax * 1000) return quantityError(what, text, "too large");
      mantissa = mantissa * 10 + (c - '0');
      if (dot) --scale10;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
  }
  if (!digits) return quantityError(what, text, "no digits");
  std::string_view suffix = s.substr(i);
  int pow2 = 0;
  if (suffix.empty()) {
  } else if (suffix.size() == 2 && suffix[1] == 'i') {
    const std::string_view bin = "KMGTPE";
    auto k = bin.find(suffix[0]);
    if (k == std::string_view::npos) return quantityError(what, text, "unknown suffix");
    pow2 = 10 * static_cast<int>(k + 1);
  } else if (suffix == "n") {
    scale10 -= 9;
  } else if (suffix == "u") {
    scale10 -= 6;
  } else if (suffix == "m") {
    scale10 -= 3;
  } else if (suffix == "k") {
    scale10 += 3;
  } else if (suffix == "M") {
    scale10 += 6;
  } else if (suffix == "G") {
    scale10 += 9;
  } else if (suffix == "T") {
    scale10 += 12;
  } else if (suffix == "P") {
    scale10 += 15;
  } else if (suffix == "E") {
    scale10 += 18;
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    std::string_view exp = suffix.substr(1);
    bool neg = false;
    if (!exp.empty() && (exp[0] == '+' || exp[0] == '-')) {
      neg = exp[0] == '-';
      exp.remove_prefix(1);
    }
    if (exp.empty() || exp.size() > 3) return quantityError(what, text, "bad exponent");
    int e = 0;
    for (char c : exp) {
      if (!std::isdigit(static_cast<unsigned char>(c)))
        return quantityError(what, text, "bad exponent");
      e = e * 10 + (c - '0');
    }
    scale10 += neg ? -e : e;
  } else {
    return quantityError(what, text, "unknown suffix \"" + std::string(suffix) + "\"");
  }
  Int128 v = mantissa;
  for (int k = 0; k < pow2; ++k) {
    v *= 2;
    if (v > kMax) return quantityError(what, text, "larger than int64 bytes");
  }
  for (; scale10 > 0; --scale10) {
    v *= 10;
    if (v > kMax) return quantityError(what, text, "larger than int64 bytes");
  }
  // Fractions of a byte round up, as Kubernetes' Quantity.Value() does.
  for (; scale10 < 0; ++scale10) v = (v + 9) / 10;
  return static_cast<std::int64_t>(v);
}

Result<SnapshotInfo> describeSnapshot(const Json& vs) {
  SnapshotInfo s;
  OCPVDR_ASSIGN_OR_RETURN(s.name, jsonString(vs, "metadata.name"));
  OCPVDR_ASSIGN_OR_RETURN(s.ns, jsonString(vs, "metadata.namespace"));
  OCPVDR_ASSIGN_OR_RETURN(s.uid, jsonString(vs, "metadata.uid"));
  if (s.name.empty() || s.ns.empty() || s.uid.empty())
    return invalidError("metadata: a VolumeSnapshot needs a non-empty name, namespace and uid");
  OCPVDR_ASSIGN_OR_RETURN(s.sourcePvc, optString(vs, "spec.source.persistentVolumeClaimName"));
  OCPVDR_ASSIGN_OR_RETURN(s.sourceContent, optString(vs, "spec.source.volumeSnapshotContentName"));
  OCPVDR_ASSIGN_OR_RETURN(s.className, optString(vs, "spec.volumeSnapshotClassName"));
  OCPVDR_ASSIGN_OR_RETURN(s.boundContent, optString(vs, "status.boundVolumeSnapshotContentName"));
  OCPVDR_ASSIGN_OR_RETURN(auto ready, jsonOptBool(vs, "status.readyToUse"));
  s.ready = ready.value_or(false);
  OCPVDR_ASSIGN_OR_RETURN(s.creationTime, readCreationTime(vs, "status.creationTime"));
  OCPVDR_ASSIGN_OR_RETURN(s.restoreSize, readRestoreSize(vs, "status.restoreSize"));
  const Json* del = jsonAt(vs, "metadata.deletionTimestamp");
  s.deleting = del != nullptr && !del->is_null();
  return s;
}

Result<SnapshotContentInfo> describeSnapshotContent(const Json& vsc) {
  SnapshotContentInfo c;
  OCPVDR_ASSIGN_OR_RETURN(c.name, jsonString(vsc, "metadata.name"));
  OCPVDR_ASSIGN_OR_RETURN(c.driver, optString(vsc, "spec.driver"));
  OCPVDR_ASSIGN_OR_RETURN(c.snapshotHandle, optString(vsc, "status.snapshotHandle"));
  if (c.snapshotHandle.empty()) {
    OCPVDR_ASSIGN_OR_RETURN(c.snapshotHandle, optString(vsc, "spec.source.snapshotHandle"));
  }
  OCPVDR_ASSIGN_OR_RETURN(c.sourceVolumeHandle, optString(vsc, "spec.source.volumeHandle"));
  OCPVDR_ASSIGN_OR_RETURN(c.snapshotRefNamespace,
                          optString(vsc, "spec.volumeSnapshotRef.namespace"));
  OCPVDR_ASSIGN_OR_RETURN(c.snapshotRefName, optString(vsc, "spec.volumeSnapshotRef.name"));
  OCPVDR_ASSIGN_OR_RETURN(c.snapshotRefUid, optString(vsc, "spec.volumeSnapshotRef.uid"));
  OCPVDR_ASSIGN_OR_RETURN(auto ready, jsonOptBool(vsc, "status.readyToUse"));
  c.ready = ready.value_or(false);
  OCPVDR_ASSIGN_OR_RETURN(c.creationTime, readCreationTime(vsc, "status.creationTime"));
  OCPVDR_ASSIGN_OR_RETURN(c.restoreSize, readRestoreSize(vsc, "status.restoreSize"));
  return c;
}

Result<CsiNfsSnapshotLocation> parseCsiNfsSnapshotHandle(std::string_view handle) {
  std::vector<std::string_view> parts;
  std::size_t i = 0;
  while (true) {
    std::size_t j = handle.find('#', i);
    parts.push_back(handle.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  if (parts.size() != 5)
    return invalidError("snapshotHandle: \"" + std::string(handle) +
                        "\" is not a csi-driver-nfs handle server#share#snapName#snapName#src");
  for (std::size_t k : {0u, 2u, 3u, 4u})
    if (parts[k].empty())
      return invalidError("snapshotHandle: \"" + std::string(handle) + "\" has an empty field");
  for (auto p : {parts[2], parts[3], parts[4]})
    if (p.find('/') != std::string_view::npos || p == "." || p == "..")
      return invalidError("snapshotHandle: \"" + std::string(handle) +
                          "\": snapshot and source names must be plain names");
  CsiNfsSnapshotLocation loc;
  loc.server = std::string(parts[0]);
  std::string share(parts[1]);
  while (!share.empty() && share.front() == '/') share.erase(share.begin());
  while (!share.empty() && share.back() == '/') share.pop_back();
  // The driver mounts <share>/<snapName> from the third field (its volumeFromSnapshot).
  loc.archiveDir = (share.empty() ? "" : "/" + share) + "/" + std::string(parts[2]);
  loc.sourceVolume = std::string(parts[4]);
  loc.archiveName = loc.sourceVolume + ".tar.gz";
  return loc;
}

std::vector<std::string> CsiNfsSnapshotLocation::archiveNames() const {
  return {sourceVolume + ".tar.gz", sourceVolume + ".tar"};
}

std::optional<std::string> findCsiNfsArchive(const std::string& dir,
                                             const CsiNfsSnapshotLocation& loc) {
  for (const auto& name : loc.archiveNames()) {
    std::error_code ec;
    const auto path = std::filesystem::path(dir) / name;
    if (std::filesystem::is_regular_file(path, ec)) return path.string();
  }
  return std::nullopt;
}

}  // namespace ocpvdr::replication
