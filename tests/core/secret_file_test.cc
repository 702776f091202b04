// core/secret_file.h: the one re-reader of credential files. Whitespace, the recheck interval,
// change detection (a same-size rewrite, an atomic rename), a vanished file keeping the last
// value, and the generation counter.
#include "core/secret_file.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/temp_dir.h"

namespace ocpvdr {
namespace {

using namespace std::chrono_literals;
using ocpvdr::testing::TempDir;
namespace fs = std::filesystem;

TEST(SecretFileTest, ReadsTrimmedAndCountsGenerations) {
  TempDir dir("plumbing-secret");
  ManualClock clock;
  const auto path = dir.write("token", "  s3cret\n");
  SecretFile f(path.string(), clock, 1s);
  EXPECT_FALSE(f.hasValue());
  EXPECT_EQ(f.generation(), 0u);
  ASSERT_TRUE(f.refresh().ok());
  EXPECT_TRUE(f.hasValue());
  EXPECT_EQ(f.value(), "s3cret");
  EXPECT_EQ(f.generation(), 1u);
  ASSERT_TRUE(f.refresh(true).ok());
  EXPECT_EQ(f.generation(), 1u) << "an unchanged file is not a new value";
}

TEST(SecretFileTest, WaitsForTheRecheckIntervalUnlessForced) {
  TempDir dir("plumbing-secret");
  ManualClock clock;
  const auto path = dir.write("token", "one-token");
  SecretFile f(path.string(), clock, 1s);
  ASSERT_TRUE(f.refresh().ok());
  dir.write("token", "two-token-longer");
  ASSERT_TRUE(f.refresh().ok());
  EXPECT_EQ(f.value(), "one-token") << "checked again before the interval";
  clock.advance(999ms);
  ASSERT_TRUE(f.refresh().ok());
  EXPECT_EQ(f.value(), "one-token");
  clock.advance(1ms);
  ASSERT_TRUE(f.refresh().ok());
  EXPECT_EQ(f.value(), "two-token-longer");
  EXPECT_EQ(f.generation(), 2u);
  dir.write("token", "three-token");
  ASSERT_TRUE(f.refresh(true).ok());
  EXPECT_EQ(f.value(), "three-token");
}

TEST(SecretFileTest, SeesARenamedInReplacementOfTheSameSize) {
  // How kubelet updates a mounted Secret: a new file renamed over the old name.
  TempDir dir("plumbing-secret");
  ManualClock clock;
  const auto path = dir.write("token", "aaaa-token");
  SecretFile f(path.string(), clock, 0ms);
  ASSERT_TRUE(f.refresh().ok());
  const auto next = dir.write("token.new", "bbbb-token");
  fs::rename(next, path);
  ASSERT_TRUE(f.refresh().ok());
  EXPECT_EQ(f.value(), "bbbb-token");
}

TEST(SecretFileTest, AMissingFileIsNotFoundAndKeepsTheLastValue) {
  TempDir dir("plumbing-secret");
  ManualClock clock;
  SecretFile never((dir / "absent").string(), clock, 0ms);
  Status st = never.refresh();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::NotFound);
  EXPECT_NE(st.error().message.find("absent"), std::string::npos);
  EXPECT_FALSE(never.hasValue());

  const auto path = dir.write("token", "kept-token");
  SecretFile f(path.string(), clock, 0ms);
  ASSERT_TRUE(f.refresh().ok());
  fs::remove(path);
  EXPECT_FALSE(f.refresh().ok());
  EXPECT_TRUE(f.hasValue());
  EXPECT_EQ(f.value(), "kept-token");
}

TEST(SecretFileTest, AnEmptyFileIsAnEmptyValueTheCallerJudges) {
  TempDir dir("plumbing-secret");
  ManualClock clock;
  const auto path = dir.write("token", " \n");
  SecretFile f(path.string(), clock, 0ms);
  ASSERT_TRUE(f.refresh().ok());
  EXPECT_TRUE(f.hasValue());
  EXPECT_EQ(f.value(), "");
}

TEST(SecretFileTest, ADirectoryIsAnError) {
  TempDir dir("plumbing-secret");
  ManualClock clock;
  SecretFile f(dir.str(), clock, 0ms);
  Status st = f.refresh();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::Invalid);
}

}  // namespace
}  // namespace ocpvdr
