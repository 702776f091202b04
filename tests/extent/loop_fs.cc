// Loop-mounted test file systems (see loop_fs.h).
#include "extent/loop_fs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ocpvdr::testing {

int shell(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

namespace {
std::string capture(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}
}  // namespace

Result<std::unique_ptr<LoopFs>> LoopFs::create(const std::string& type, uint64_t sizeBytes) {
  if (::geteuid() != 0) return notFoundError("loop file systems need root");
  std::string mkfs = type == "xfs"     ? "mkfs.xfs -q -f -m reflink=1"
                     : type == "btrfs" ? "mkfs.btrfs -q -f"
                                       : "mkfs.ext4 -q -F";
  std::string tool = mkfs.substr(0, mkfs.find(' '));
  if (shell("command -v " + tool + " >/dev/null 2>&1") != 0)
    return notFoundError(tool + " not installed (make deps)");
  static std::atomic<int> seq{0};
  std::unique_ptr<LoopFs> fs(new LoopFs());
  std::string base = "/var/tmp/ocpvdr-extent-test-" + std::to_string(::getpid()) + "-" +
                     std::to_string(seq++) + "-" + type;
  fs->image_ = base + ".img";
  fs->mount_ = base + ".mnt";
  if (shell("truncate -s " + std::to_string(sizeBytes) + " " + fs->image_) != 0)
    return terminalError("truncate failed");
  if (shell(mkfs + " " + fs->image_ + " >/dev/null") != 0) return terminalError(tool + " failed");
  fs->device_ = capture("losetup -f --show " + fs->image_);
  if (fs->device_.rfind("/dev/loop", 0) != 0) return terminalError("losetup failed");
  ::mkdir(fs->mount_.c_str(), 0755);
  if (shell("mount " + fs->device_ + " " + fs->mount_) != 0) return terminalError("mount failed");
  fs->mounted_ = true;
  return fs;
}

LoopFs::~LoopFs() {
  // A file system can stay busy for a moment after the processes using it are gone (a killed
  // child's last references): retry before falling back to a lazy unmount.
  if (mounted_)
    shell("for i in $(seq 1 50); do umount " + mount_ +
          " 2>/dev/null && exit 0; sleep 0.1; done; " + "umount -l " + mount_);
  if (!device_.empty()) shell("losetup -d " + device_);
  ::rmdir(mount_.c_str());
  if (!image_.empty()) ::unlink(image_.c_str());
}

uint64_t LoopFs::bytesRead() const {
  std::ifstream f("/sys/block/" + device_.substr(5) + "/stat");
  uint64_t readIos = 0, merges = 0, sectors = 0;
  f >> readIos >> merges >> sectors;
  return sectors * 512;
}

}  // namespace ocpvdr::testing
