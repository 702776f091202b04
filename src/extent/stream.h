// extent/stream.h — the extent mover's framed stream (version 1), writer and strict parser.
//
// Layout (all integers little-endian):
//   header   magic "OCPVDRX\n" (8 bytes), u32 version, u32 header length, then the header body:
//            str16 pv, str16 snapshot id, str16 base id ("" = full), i64 data time (ns since epoch)
//   frames   u8 type, u32 payload length, payload:
//     'E' entry    u8 kind (1 file, 2 dir, 3 symlink), u8 flags (bit 0 fresh: the file does not
//                  start from the base point's copy), u32 mode, u32 uid, u32 gid, i64 atime s,
//                  u32 atime ns, i64 mtime s, u32 mtime ns, u64 size, str16 path, str16 link target
//     'D' data     u64 offset, u32 length, 32-byte SHA-256 of the data, the data (length bytes,
//                  1..1 MiB); only inside a file entry
//     'H' hole     u64 offset, u64 length: deallocate (punch) this range; only inside a file entry
//     'Z' end      closes the current entry (every entry, whatever its kind)
//     'T' trailer  u64 entries, u64 data frames, u64 data bytes; the last frame of a stream
//   str16 = u16 length + bytes. Paths are relative to the PV directory ("" is the directory
//   itself, always the first entry); entries come in pre-order, a directory before its contents.
// The same encoding, without data frames, is the manifest a snapshot keeps beside its files.
//
// The parser trusts nothing: an unknown type, a payload longer than its type allows, a length
// field that disagrees with the payload, a path that is absolute or has "." / ".." / empty
// components, a frame out of place, or a stream that ends before its trailer are all Invalid
// errors naming what was wrong. It never allocates more than one maximal frame.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace ocpvdr::extent {

inline constexpr char kStreamMagic[8] = {'O', 'C', 'P', 'V', 'D', 'R', 'X', '\n'};
inline constexpr uint32_t kStreamVersion = 1;
inline constexpr uint32_t kMaxDataChunk = 1u << 20;
inline constexpr uint32_t kMaxEntryPayload = 64 + 2 * (2 + 4096);
inline constexpr uint32_t kMaxHeaderBody = 3 * (2 + 128) + 8;

enum class EntryKind : uint8_t { File = 1, Dir = 2, Symlink = 3 };

struct Entry {
  std::string path;  // relative, validated (see fs.h validRelativePath)
  EntryKind kind = EntryKind::File;
  uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky (no type bits)
  uint32_t uid = 0, gid = 0;
  int64_t atimeSec = 0;
  uint32_t atimeNsec = 0;
  int64_t mtimeSec = 0;
  uint32_t mtimeNsec = 0;
  uint64_t size = 0;       // files: the exact size at DR
  std::string linkTarget;  // symlinks only
};

struct StreamHeader {
  uint32_t version = kStreamVersion;
  std::string pv;
  std::string snapshotId;
  std::string baseId;  // "" = full stream (no base)
  int64_t dataTimeNs = 0;
};

struct StreamTrailer {
  uint64_t entries = 0;
  uint64_t dataFrames = 0;
  uint64_t dataBytes = 0;
};

using Sha256 = std::array<uint8_t, 32>;
Sha256 sha256(const uint8_t* data, size_t n);

// Writes a stream to a file descriptor, buffered. Counts what it wrote.
class StreamWriter {
 public:
  explicit StreamWriter(int fd) : fd_(fd) {}
  [[nodiscard]] Status header(const StreamHeader& h);
  [[nodiscard]] Status entry(const Entry& e, bool fresh);
  [[nodiscard]] Status data(uint64_t offset, const uint8_t* bytes, uint32_t length);
  [[nodiscard]] Status hole(uint64_t offset, uint64_t length);
  [[nodiscard]] Status endEntry();
  [[nodiscard]] Status trailer();  // uses the counts of what was written; flushes
  [[nodiscard]] Status flush();

  uint64_t bytesWritten() const { return written_ + buf_.size(); }
  const StreamTrailer& counts() const { return counts_; }

 private:
  [[nodiscard]] Status frame(char type, const std::string& payload);
  int fd_;
  std::string buf_;
  uint64_t written_ = 0;
  StreamTrailer counts_;
};

struct Frame {
  enum class Type { Entry, Data, Hole, End, Trailer } type = Type::End;
  Entry entry;
  bool fresh = false;
  uint64_t offset = 0;
  uint64_t length = 0;
  Sha256 sum{};
  const uint8_t* data = nullptr;  // Data: points into the reader's buffer until the next call
  StreamTrailer trailer;
};

// Reads and checks a stream: the frame order (entry … end, data/hole only inside a file entry,
// the first entry the root directory, trailer last, counts matching) is enforced here too.
class StreamReader {
 public:
  explicit StreamReader(int fd) : fd_(fd) {}
  [[nodiscard]] Result<StreamHeader> header();
  // The next frame; after the trailer, NotFound.
  [[nodiscard]] Result<Frame> next();
  uint64_t bytesRead() const { return read_; }

 private:
  // Steps of next(): the entry and data frames whose payload (`len` bytes) is in buf_.
  [[nodiscard]] Result<Frame> entryFrame(uint32_t len);
  [[nodiscard]] Result<Frame> dataFrame(uint32_t len);
  int fd_;
  std::vector<uint8_t> buf_;
  uint64_t read_ = 0;
  bool inEntry_ = false;
  EntryKind entryKind_ = EntryKind::File;
  uint64_t entrySize_ = 0;
  bool done_ = false;
  StreamTrailer seen_;
};

}  // namespace ocpvdr::extent
