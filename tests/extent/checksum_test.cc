// Per-file SHA-256 of a tree (the code both ends of `points verify` run): files with odd names,
// symlinks summed as their target (never followed), holes read as zeros, directories not listed;
// the line format round trip and its refusals.
#include "extent/checksum.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "support/temp_dir.h"

namespace ocpvdr::extent {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

TEST(ChecksumTree, SumsFilesAndLinksSortedByPath) {
  TempDir tmp;
  tmp.write("t/b.txt", "abc");
  tmp.write("t/dir/a file\nwith newline", "");
  fs::create_directories(tmp / "t/empty-dir");
  fs::create_symlink("/etc/passwd", tmp / "t/link");
  // A sparse file: 1 MiB hole, then "x".
  int fd = ::open((tmp / "t/sparse.img").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "x", 1, 1 << 20), 1);
  ::close(fd);
  auto sums = checksumTree((tmp / "t").string());
  ASSERT_TRUE(sums.ok()) << sums.error().describe();
  ASSERT_EQ(sums->size(), 4u);
  EXPECT_EQ((*sums)[0].path, "b.txt");
  // sha256("abc")
  EXPECT_EQ((*sums)[0].sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ((*sums)[0].size, 3u);
  EXPECT_EQ((*sums)[1].path, "dir/a file\nwith newline");
  // sha256("")
  EXPECT_EQ((*sums)[1].sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ((*sums)[2].type, 'l');
  EXPECT_EQ((*sums)[2].size, std::string("/etc/passwd").size());
  EXPECT_EQ((*sums)[3].path, "sparse.img");
  EXPECT_EQ((*sums)[3].size, (1u << 20) + 1);

  // The same bytes elsewhere sum the same; one changed byte does not.
  tmp.write("u/b.txt", "abd");
  auto other = checksumTree((tmp / "u").string());
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)[0].sha256, (*sums)[0].sha256);
}

TEST(ChecksumTree, LinesRoundTripAndMalformedLinesAreRefused) {
  TempDir tmp;
  tmp.write("t/sp ace/%odd\tname", "data");
  fs::create_symlink("target with space", tmp / "t/l");
  auto sums = checksumTree((tmp / "t").string());
  ASSERT_TRUE(sums.ok());
  std::string text;
  for (const auto& s : *sums) {
    std::string line = formatSum(s);
    EXPECT_EQ(line.find('\t'), std::string::npos) << line;
    EXPECT_EQ(std::count(line.begin(), line.end(), ' '), 3) << line;
    text += line + "\n";
  }
  auto parsed = parseSums(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().describe();
  EXPECT_EQ(*parsed, *sums);
  for (const char* bad :
       {"x 00 1 a", "f nothex 1 a",
        "f e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 1x a",
        "f e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 1 a%4",
        "f e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 1"}) {
    auto r = parseSums(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  auto notDir = checksumTree((tmp / "t/l").string());
  EXPECT_FALSE(notDir.ok());
}

}  // namespace
}  // namespace ocpvdr::extent
