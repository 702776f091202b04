// extent/extent_diff.h — which byte ranges of a file to send, from two extent maps (pure, no I/O).
//
// The model is ZFS `send -i`: a delta between two immutable snapshots. While the base snapshot B
// of a file exists its blocks cannot be rewritten in place (copy-on-write), so in the newer
// snapshot N every logical range mapped to the same physical address as in B holds the same bytes,
// and every other range may have changed. Rules (FACTS.md §10):
//   - a range of N whose physical address differs from B's, or that B does not map, is sent;
//   - an extent of N with a flag the map cannot vouch for (anything but LAST, SHARED, MERGED,
//     UNWRITTEN: ENCODED, DELALLOC, UNKNOWN, NOT_ALIGNED, DATA_INLINE, DATA_TAIL, ENCRYPTED, or a
//     bit this code does not know) is sent whole; a B extent with such a flag vouches for nothing;
//   - holes of N are never read: where B had an extent and N has none (or an UNWRITTEN one, which
//     reads as zeros) the range is punched at DR;
//   - no base: every allocated (written) extent of N is sent, nothing is punched.
// Extents are clipped to the file size of N (FIEMAP reports preallocation beyond EOF).
#pragma once

#include <cstdint>
#include <vector>

#include "extent/fs.h"

namespace ocpvdr::extent {

struct Range {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool operator==(const Range&) const = default;
};

struct FileDelta {
  std::vector<Range> send;   // sorted, disjoint, adjacent ranges merged
  std::vector<Range> punch;  // sorted, disjoint; within [0, size)
  uint64_t allocated = 0;    // bytes of N holding written data (within size)
};

// True when the extent's flags let the map vouch for its physical address.
bool extentTrusted(uint32_t flags);

// base == nullptr: no base snapshot for this file.
FileDelta diffExtents(const std::vector<PhysExtent>& next, const std::vector<PhysExtent>* base,
                      uint64_t size);

// a minus b; both sorted and disjoint.
std::vector<Range> subtractRanges(const std::vector<Range>& a, const std::vector<Range>& b);

}  // namespace ocpvdr::extent
