// The framed stream (extent/stream.h): round trip, and the parser's refusals on hostile input.
#include "extent/stream.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "extent/fs.h"

namespace ocpvdr::extent {
namespace {

// An in-memory file holding bytes, rewound for reading.
class MemFile {
 public:
  MemFile() : fd_(::memfd_create("extent-stream-test", MFD_CLOEXEC)) {}
  int fd() const { return fd_.get(); }
  std::string bytes() const {
    std::string s(static_cast<size_t>(::lseek(fd_.get(), 0, SEEK_END)), '\0');
    EXPECT_TRUE(preadAll(fd_.get(), s.data(), s.size(), 0).ok());
    return s;
  }
  void set(const std::string& s) {
    EXPECT_EQ(::ftruncate(fd_.get(), 0), 0);
    EXPECT_TRUE(pwriteAll(fd_.get(), s.data(), s.size(), 0).ok());
    ::lseek(fd_.get(), 0, SEEK_SET);
  }
  void rewind() { ::lseek(fd_.get(), 0, SEEK_SET); }

 private:
  Fd fd_;
};

Entry dirEntry(const std::string& path) {
  Entry e;
  e.path = path;
  e.kind = EntryKind::Dir;
  e.mode = 0755;
  return e;
}

Entry fileEntry(const std::string& path, uint64_t size) {
  Entry e;
  e.path = path;
  e.kind = EntryKind::File;
  e.mode = 0640;
  e.uid = 1234;
  e.gid = 5678;
  e.mtimeSec = 1700000000;
  e.mtimeNsec = 123456789;
  e.size = size;
  return e;
}

// A valid stream: root dir, one 8 KiB file with one data range and one hole.
std::string goodStream(const std::string& filePath = "a/disk.img") {
  MemFile m;
  StreamWriter w(m.fd());
  EXPECT_TRUE(w.header({kStreamVersion, "pv-a", "20260101T000000.000000000Z", "", 42}).ok());
  EXPECT_TRUE(w.entry(dirEntry(""), false).ok());
  EXPECT_TRUE(w.endEntry().ok());
  EXPECT_TRUE(w.entry(dirEntry("a"), false).ok());
  EXPECT_TRUE(w.endEntry().ok());
  EXPECT_TRUE(w.entry(fileEntry(filePath, 8192), true).ok());
  std::string data(4096, 'x');
  EXPECT_TRUE(w.data(4096, reinterpret_cast<const uint8_t*>(data.data()), 4096).ok());
  EXPECT_TRUE(w.hole(0, 4096).ok());
  EXPECT_TRUE(w.endEntry().ok());
  EXPECT_TRUE(w.trailer().ok());
  return m.bytes();
}

// Reads a whole stream; the first error, or ok.
Status readAll(const std::string& bytes) {
  MemFile m;
  m.set(bytes);
  StreamReader r(m.fd());
  auto h = r.header();
  if (!h.ok()) return h.error();
  for (;;) {
    auto f = r.next();
    if (!f.ok()) return f.error();
    if (f->type == Frame::Type::Trailer) return {};
  }
}

TEST(Stream, RoundTrip) {
  std::string bytes = goodStream();
  MemFile m;
  m.set(bytes);
  StreamReader r(m.fd());
  auto h = r.header();
  ASSERT_TRUE(h.ok()) << h.error().describe();
  EXPECT_EQ(h->pv, "pv-a");
  EXPECT_EQ(h->dataTimeNs, 42);
  EXPECT_TRUE(h->baseId.empty());
  std::vector<Frame::Type> types;
  for (;;) {
    auto f = r.next();
    ASSERT_TRUE(f.ok()) << f.error().describe();
    types.push_back(f->type);
    if (f->type == Frame::Type::Entry && f->entry.path == "a/disk.img") {
      EXPECT_EQ(f->entry.uid, 1234u);
      EXPECT_EQ(f->entry.mtimeNsec, 123456789u);
      EXPECT_TRUE(f->fresh);
    }
    if (f->type == Frame::Type::Data) {
      EXPECT_EQ(f->offset, 4096u);
      EXPECT_EQ(f->length, 4096u);
      EXPECT_EQ(f->data[0], 'x');
      EXPECT_EQ(f->sum, sha256(f->data, f->length));
    }
    if (f->type == Frame::Type::Trailer) {
      EXPECT_EQ(f->trailer.entries, 3u);
      EXPECT_EQ(f->trailer.dataBytes, 4096u);
      break;
    }
  }
  using T = Frame::Type;
  EXPECT_EQ(types, (std::vector<T>{T::Entry, T::End, T::Entry, T::End, T::Entry, T::Data, T::Hole,
                                   T::End, T::Trailer}));
  EXPECT_EQ(r.bytesRead(), bytes.size());
  EXPECT_EQ(r.next().error().kind, ErrorKind::NotFound);
}

TEST(Stream, RefusesPathTraversalAbsoluteAndOddComponents) {
  for (std::string bad :
       std::vector<std::string>{"../etc/passwd", "/etc/passwd", "a/../../x", "a//b", "a/./b", "a/",
                                std::string("a\0b", 3), std::string(300, 'n')}) {
    Status s = readAll(goodStream(bad));
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.error().kind, ErrorKind::Invalid);
    EXPECT_NE(s.error().message.find("refused entry path"), std::string::npos) << s.error().message;
  }
}

TEST(Stream, RefusesTruncationAtEveryByte) {
  std::string bytes = goodStream();
  for (size_t n = 0; n < bytes.size(); ++n) {
    Status s = readAll(bytes.substr(0, n));
    ASSERT_FALSE(s.ok()) << "accepted a stream cut at byte " << n;
    EXPECT_EQ(s.error().kind, ErrorKind::Invalid) << n;
  }
  EXPECT_TRUE(readAll(bytes).ok());
}

TEST(Stream, RefusesOversizedAndInconsistentFrames) {
  std::string good = goodStream();
  const size_t headerLen = 16 + 2 + 4 + 2 + 26 + 2 + 8;
  ASSERT_EQ(good[headerLen], 'E');
  // Oversized entry frame: length field 1 GiB.
  std::string big = good;
  uint32_t huge = 1u << 30;
  std::memcpy(&big[headerLen + 1], &huge, 4);
  Status s = readAll(big);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("oversized frame"), std::string::npos) << s.error().message;
  // Unknown frame type.
  std::string unk = good;
  unk[headerLen] = 'Q';
  s = readAll(unk);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("unknown frame type"), std::string::npos);
  // Bad magic and other version.
  std::string magic = good;
  magic[0] = 'X';
  EXPECT_NE(readAll(magic).error().message.find("bad magic"), std::string::npos);
  std::string ver = good;
  ver[8] = 9;
  EXPECT_NE(readAll(ver).error().message.find("stream version 9"), std::string::npos);
  // Data length field that disagrees with its frame: find the 'D' frame and bump its length.
  size_t d = good.find(std::string("D") + std::string("\x2c\x10\x00\x00", 4));
  ASSERT_NE(d, std::string::npos);
  std::string lie = good;
  lie[d + 1 + 4 + 8] = 0x01;  // data length 4097 in a frame carrying 4096
  s = readAll(lie);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("disagrees"), std::string::npos) << s.error().message;
}

TEST(Stream, RefusesRangesBeyondTheFileAndFramesOutOfPlace) {
  MemFile m;
  StreamWriter w(m.fd());
  ASSERT_TRUE(w.header({kStreamVersion, "pv", "id1", "", 0}).ok());
  ASSERT_TRUE(w.entry(dirEntry(""), false).ok());
  ASSERT_TRUE(w.endEntry().ok());
  ASSERT_TRUE(w.entry(fileEntry("f", 100), true).ok());
  std::string data(4096, 'y');
  ASSERT_TRUE(w.data(0, reinterpret_cast<const uint8_t*>(data.data()), 4096).ok());
  ASSERT_TRUE(w.trailer().ok());
  Status s = readAll(m.bytes());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("beyond the file size"), std::string::npos);

  MemFile m2;
  StreamWriter w2(m2.fd());
  ASSERT_TRUE(w2.header({kStreamVersion, "pv", "id1", "", 0}).ok());
  ASSERT_TRUE(w2.entry(fileEntry("f", 100), true).ok());
  ASSERT_TRUE(w2.endEntry().ok());
  ASSERT_TRUE(w2.trailer().ok());
  s = readAll(m2.bytes());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("first entry must be the PV directory"), std::string::npos);
}

TEST(Stream, HeaderNamesAreChecked) {
  MemFile m;
  StreamWriter w(m.fd());
  ASSERT_TRUE(w.header({kStreamVersion, "pv", "../../x", "", 0}).ok());
  ASSERT_TRUE(w.flush().ok());
  Status s = readAll(m.bytes());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("invalid snapshot id"), std::string::npos);
}

TEST(Paths, ValidRelativePath) {
  std::string why;
  EXPECT_TRUE(validRelativePath("", &why));
  EXPECT_TRUE(validRelativePath("a/b.c/d", &why));
  EXPECT_TRUE(validRelativePath("..a/b..", &why));
  EXPECT_FALSE(validRelativePath("..", &why));
  EXPECT_FALSE(validRelativePath("/a", &why));
  EXPECT_EQ(why, "absolute path");
}

}  // namespace
}  // namespace ocpvdr::extent
