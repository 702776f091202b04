// LoopFs: a file system of a given type (xfs with reflink, btrfs, ext4) on a loop device over a
// sparse image in /var/tmp (ocpvdr-extent-*), mounted for one test and torn down after it
// (unmount, losetup -d, image removed). Needs root and the mkfs tools: create() answers NotFound
// otherwise, for the test to skip.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/result.h"

namespace ocpvdr::testing {

class LoopFs {
 public:
  static Result<std::unique_ptr<LoopFs>> create(const std::string& type, uint64_t sizeBytes);
  ~LoopFs();
  LoopFs(const LoopFs&) = delete;
  LoopFs& operator=(const LoopFs&) = delete;

  const std::string& mountPoint() const { return mount_; }
  const std::string& device() const { return device_; }  // /dev/loopN
  // Bytes read from the device so far (/sys/block/loopN/stat, field 3 × 512).
  uint64_t bytesRead() const;

 private:
  LoopFs() = default;
  std::string image_, mount_, device_;
  bool mounted_ = false;
};

// Runs a shell command; its exit status (0 = success).
int shell(const std::string& cmd);

}  // namespace ocpvdr::testing
