// Extent diff between two snapshots of one file (see extent_diff.h).
#include "extent/extent_diff.h"

#include <linux/fiemap.h>

#include <algorithm>

namespace ocpvdr::extent {

namespace {

constexpr uint32_t kTrustedFlags =
    FIEMAP_EXTENT_LAST | FIEMAP_EXTENT_SHARED | FIEMAP_EXTENT_MERGED | FIEMAP_EXTENT_UNWRITTEN;

void appendMerged(std::vector<Range>& out, Range r) {
  if (r.length == 0) return;
  if (!out.empty() && out.back().offset + out.back().length == r.offset) {
    out.back().length += r.length;
  } else {
    out.push_back(r);
  }
}

// Clips [logical, logical+length) to [0, size); false when nothing is left.
bool clip(const PhysExtent& e, uint64_t size, uint64_t* start, uint64_t* end) {
  *start = e.logical;
  *end = e.logical + e.length;
  if (*end < *start) *end = UINT64_MAX;  // overflow: treat as to the end
  if (*end > size) *end = size;
  return *start < *end;
}

std::vector<Range> normalise(std::vector<Range> v) {
  std::sort(v.begin(), v.end(), [](const Range& a, const Range& b) { return a.offset < b.offset; });
  std::vector<Range> out;
  for (const auto& r : v) {
    if (r.length == 0) continue;
    if (!out.empty() && r.offset <= out.back().offset + out.back().length) {
      uint64_t end = std::max(out.back().offset + out.back().length, r.offset + r.length);
      out.back().length = end - out.back().offset;
    } else {
      out.push_back(r);
    }
  }
  return out;
}

}  // namespace

bool extentTrusted(uint32_t flags) {
  return (flags & ~kTrustedFlags) == 0;
}

std::vector<Range> subtractRanges(const std::vector<Range>& a, const std::vector<Range>& b) {
  std::vector<Range> out;
  size_t j = 0;
  for (const auto& r : a) {
    uint64_t cur = r.offset;
    const uint64_t end = r.offset + r.length;
    while (j < b.size() && b[j].offset + b[j].length <= cur) ++j;
    size_t k = j;
    while (cur < end && k < b.size() && b[k].offset < end) {
      if (b[k].offset > cur) appendMerged(out, {cur, b[k].offset - cur});
      cur = std::max(cur, b[k].offset + b[k].length);
      ++k;
    }
    if (cur < end) appendMerged(out, {cur, end - cur});
  }
  return out;
}

FileDelta diffExtents(const std::vector<PhysExtent>& next, const std::vector<PhysExtent>* base,
                      uint64_t size) {
  FileDelta d;
  // Written data of N (unwritten extents read as zeros: they count as holes).
  std::vector<Range> data;
  std::vector<const PhysExtent*> dataExt;
  for (const auto& e : next) {
    uint64_t s = 0, t = 0;
    if (!clip(e, size, &s, &t)) continue;
    bool trusted = extentTrusted(e.flags);
    if (trusted && (e.flags & FIEMAP_EXTENT_UNWRITTEN)) continue;
    data.push_back({s, t - s});
    dataExt.push_back(&e);
  }
  data = normalise(std::move(data));
  for (const auto& r : data) d.allocated += r.length;
  if (base == nullptr) {
    for (const auto& r : data) appendMerged(d.send, r);
    return d;
  }

  // Ranges of N whose physical address equals B's for the same logical offset.
  std::vector<Range> same;
  for (const PhysExtent* n : dataExt) {
    if (!extentTrusted(n->flags)) continue;
    uint64_t ns = 0, ne = 0;
    if (!clip(*n, size, &ns, &ne)) continue;
    auto it = std::lower_bound(base->begin(), base->end(), ns, [](const PhysExtent& b, uint64_t v) {
      return b.logical + b.length <= v;
    });
    for (; it != base->end() && it->logical < ne; ++it) {
      const PhysExtent& b = *it;
      if (!extentTrusted(b.flags) || (b.flags & FIEMAP_EXTENT_UNWRITTEN)) continue;
      // Same mapping offset means the same physical block for every logical offset they share.
      if (n->physical - n->logical != b.physical - b.logical) continue;
      uint64_t s = std::max(ns, b.logical);
      uint64_t e = std::min(ne, b.logical + b.length);
      if (s < e) same.push_back({s, e - s});
    }
  }
  same = normalise(std::move(same));
  d.send = subtractRanges(data, same);

  // Punch where B had any extent and N has no written data.
  std::vector<Range> baseAlloc;
  for (const auto& b : *base) {
    uint64_t s = 0, t = 0;
    if (clip(b, size, &s, &t)) baseAlloc.push_back({s, t - s});
  }
  d.punch = subtractRanges(normalise(std::move(baseAlloc)), data);
  return d;
}

}  // namespace ocpvdr::extent
