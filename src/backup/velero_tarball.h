// Streaming reader for Velero backup tarballs (`<backup>.tar.gz`), over libarchive.
//
// Format (FACTS §7): a gzip-compressed tar of regular files holding compact JSON objects:
//   metadata/version                                            "1.1.0"
//   resources/<groupResource>/cluster/<name>.json               cluster-scoped items
//   resources/<groupResource>/namespaces/<ns>/<name>.json       namespaced items
//   resources/<groupResource>/<version>-preferredversion/...    the same items again
// `<groupResource>` is the plural alone for the core group, else `plural.group`.
//
// The archive is read once, front to back, without extracting anything to disk. Items of the
// wanted group-resources (by default PVs, PVCs, KubeVirt VMs, CDI DataVolumes and
// ControllerRevisions) are parsed and handed over; every other entry is skipped unread and only
// counted in the inventory.
//
// Hostile or damaged archives are refused with an Invalid error naming the file and the entry:
// paths that are absolute or contain "..", symbolic and hard links, devices and other non-regular
// entries, entries over the per-item size cap, invalid JSON in an item that is read, duplicate
// entries, a missing or unsupported metadata/version, a corrupt gzip stream or a truncated tar.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_util.h"
#include "core/result.h"

namespace ocpvdr::backup {

inline constexpr std::string_view kPersistentVolumes = "persistentvolumes";
inline constexpr std::string_view kPersistentVolumeClaims = "persistentvolumeclaims";
inline constexpr std::string_view kVirtualMachines = "virtualmachines.kubevirt.io";
inline constexpr std::string_view kDataVolumes = "datavolumes.cdi.kubevirt.io";

struct TarballItem {
  std::string groupResource;  // "persistentvolumes", "virtualmachines.kubevirt.io"
  std::string ns;             // empty for cluster-scoped items
  std::string name;
  std::string entry;                  // the archive path the item was read from
  bool fromPreferredVersion = false;  // no plain copy existed; the preferred-version copy was used
  Json object;
};

struct TarballOptions {
  std::set<std::string, std::less<>> extract = {
      std::string(kPersistentVolumes), std::string(kPersistentVolumeClaims),
      std::string(kVirtualMachines), std::string(kDataVolumes),
      // the instancetype/preference revisions VMs name (preflight's vm-revisions check)
      std::string("controllerrevisions.apps")};
  std::size_t maxItemBytes = 16 * 1024 * 1024;  // any single entry larger than this is refused
  std::size_t maxEntries = 10'000'000;
  // Decompressed bytes of the whole tar stream (headers, padding and data, skipped entries
  // included). A real backup's tarball is a few MiB to a few hundred MiB of JSON; a small gzip
  // file that inflates past this is refused instead of burning CPU for hours.
  std::uint64_t maxTotalBytes = 4ULL << 30;
};

struct TarballContents {
  std::string formatVersion;                     // metadata/version, trimmed
  std::map<std::string, std::size_t> inventory;  // groupResource -> items, each counted once
  std::vector<TarballItem> items;                // extracted; sorted by resource, ns, name
  std::size_t entries = 0;                       // tar entries (directories included)
  std::size_t copiesSkipped = 0;                 // second copies of items not re-read
  std::size_t otherEntries = 0;                  // entries outside resources/ and metadata/

  std::vector<const TarballItem*> of(std::string_view groupResource) const;
  std::size_t totalItems() const;
};

// The versions of the tarball layout this reader understands: 1.x (Velero writes 1.1.0; a minor
// bump adds files, a major bump would change the layout).
[[nodiscard]] Status checkFormatVersion(std::string_view version);

// Streams the archive, calling `onItem` once per wanted item (in archive order; items found only
// as preferred-version copies come last). An error from onItem stops the read and is returned.
// The returned contents carry the inventory and counters but no items.
[[nodiscard]] Result<TarballContents> scanVeleroTarball(
    const std::string& path, const TarballOptions& options,
    const std::function<Status(TarballItem&&)>& onItem);

// Convenience: scan and keep the wanted items.
[[nodiscard]] Result<TarballContents> readVeleroTarball(const std::string& path,
                                                        const TarballOptions& options = {});

}  // namespace ocpvdr::backup
