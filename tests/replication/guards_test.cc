// Host-side guards: the realpath probe (local and the shell script the primary runs), symlink
// confinement, the empty-source verdict.
#include "replication/guards.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "support/temp_dir.h"

namespace ocpvdr::replication {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

class GuardsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root = fs::canonical(tmp.path()).string() + "/export";
    tmp.write("export/full/disk.img", "data");
    fs::create_directories(root + "/empty");
    fs::create_directories(root + "/partial-only/.ocpv-dr-partial");
    fs::create_directories(tmp.path() / "outside/secret");
    tmp.write("outside/secret/x", "x");
    fs::create_directory_symlink(fs::canonical(tmp.path()) / "outside/secret", root + "/escape");
    fs::create_directory_symlink(root + "/full", root + "/inside-link");
    fs::create_directory_symlink(root + "/nowhere", root + "/dangling");
    tmp.write("export/afile", "f");
  }

  // Both probes must agree: the local one (DR side) and the script (primary side).
  PathProbe both(const std::string& path, std::string_view ignore = {}) {
    auto local = probeLocal(root, path, ignore);
    EXPECT_TRUE(local.ok()) << path << ": " << (local.ok() ? "" : local.error().describe());
    auto scripted = probeWith(runner, {}, root, path, std::chrono::seconds(10));
    EXPECT_TRUE(scripted.ok()) << path << ": "
                               << (scripted.ok() ? "" : scripted.error().describe());
    if (local.ok() && scripted.ok() && ignore.empty()) {
      EXPECT_EQ(local->rootReal, scripted->rootReal) << path;
      EXPECT_EQ(local->exists, scripted->exists) << path;
      if (local->exists) {
        EXPECT_EQ(local->real, scripted->real) << path;
      }
      EXPECT_EQ(local->isDir, scripted->isDir) << path;
      if (local->isDir) {
        EXPECT_EQ(local->empty, scripted->empty) << path;
      }
    }
    return local.ok() ? *local : PathProbe{};
  }

  TempDir tmp;
  std::string root;
  RealProcessRunner runner;
};

TEST_F(GuardsTest, PlainDirectoriesAreConfined) {
  auto full = both(root + "/full");
  EXPECT_TRUE(full.exists);
  EXPECT_TRUE(full.isDir);
  EXPECT_FALSE(full.empty);
  EXPECT_TRUE(checkConfined(full, "DR", root + "/full").ok());
  auto empty = both(root + "/empty");
  EXPECT_TRUE(empty.isDir);
  EXPECT_TRUE(empty.empty);
}

TEST_F(GuardsTest, SymlinkEscapeIsRefused) {
  auto esc = both(root + "/escape");
  EXPECT_TRUE(esc.exists);
  auto st = checkConfined(esc, "primary", root + "/escape");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::Refused);
  EXPECT_NE(st.error().message.find("symlink escape"), std::string::npos);
  EXPECT_NE(st.error().message.find("outside/secret"), std::string::npos);
}

TEST_F(GuardsTest, SymlinkInsideTheRootResolvesToTheTarget) {
  auto in = both(root + "/inside-link");
  EXPECT_EQ(in.real, root + "/full");
  EXPECT_TRUE(checkConfined(in, "DR", root + "/inside-link").ok());
}

TEST_F(GuardsTest, MissingAndDanglingAndNotADirectory) {
  auto missing = both(root + "/missing");
  EXPECT_FALSE(missing.exists);
  EXPECT_TRUE(checkConfined(missing, "DR", root + "/missing").ok());
  // Under a symlink that leaves the root, even a missing leaf resolves outside.
  auto under = probeLocal(root, root + "/escape/new");
  ASSERT_TRUE(under.ok());
  EXPECT_FALSE(under->exists);
  EXPECT_FALSE(checkConfined(*under, "DR", root + "/escape/new").ok());
  auto dangling = probeLocal(root, root + "/dangling");
  ASSERT_FALSE(dangling.ok());
  EXPECT_EQ(dangling.error().kind, ErrorKind::Refused);
  auto file = both(root + "/afile");
  EXPECT_TRUE(file.exists);
  EXPECT_FALSE(file.isDir);
}

TEST_F(GuardsTest, TheRootItselfIsNotAVolume) {
  auto r = both(root);
  EXPECT_FALSE(checkConfined(r, "DR", root).ok());
}

TEST_F(GuardsTest, MissingRootSaysSo) {
  auto p = probeLocal(root + "/no-such-root", root + "/no-such-root/a");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->rootExists);
  auto st = checkConfined(*p, "DR", "/x");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("not mounted"), std::string::npos);
  auto s = probeWith(runner, {}, root + "/no-such-root", root + "/no-such-root/a",
                     std::chrono::seconds(10));
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->rootExists);
}

TEST_F(GuardsTest, PartialDirDoesNotMakeDrNonEmpty) {
  auto p = probeLocal(root, root + "/partial-only", ".ocpv-dr-partial");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->empty);
  auto q = probeLocal(root, root + "/partial-only");
  EXPECT_FALSE(q->empty);
}

TEST_F(GuardsTest, PathsWithSpacesAndQuotesSurviveTheScript) {
  fs::create_directories(root + "/it's a dir");
  tmp.write("export/it's a dir/f", "x");
  auto p = both(root + "/it's a dir");
  EXPECT_TRUE(p.exists);
  EXPECT_FALSE(p.empty);
}

TEST(GuardsParse, ProbeOutputFormat) {
  auto p = parseProbeOutput("root=/srv/nfs\npath=/srv/nfs/a\ndir\nnonempty\n");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->rootExists);
  EXPECT_EQ(p->real, "/srv/nfs/a");
  EXPECT_FALSE(p->empty);
  EXPECT_FALSE(parseProbeOutput("Welcome to the machine\n").ok());
  EXPECT_FALSE(parseProbeOutput("root=/r\npath=/r/a\ndir\nunreadable\n").ok());
}

TEST(GuardsVerdict, EmptySourceGuard) {
  PathProbe srcEmpty{true, "/r", true, "/r/a", true, true};
  PathProbe srcMissing{true, "/r", false, "", false, true};
  PathProbe srcFull{true, "/r", true, "/r/a", true, false};
  PathProbe drFull{true, "/d", true, "/d/a", true, false};
  PathProbe drEmpty{true, "/d", true, "/d/a", true, true};
  PathProbe drMissing{true, "/d", false, "/d/a", false, true};
  EXPECT_EQ(emptySourceVerdict(srcEmpty, drFull, false), EmptySourceVerdict::Refuse);
  EXPECT_EQ(emptySourceVerdict(srcMissing, drFull, false), EmptySourceVerdict::Refuse);
  EXPECT_EQ(emptySourceVerdict(srcEmpty, drFull, true), EmptySourceVerdict::ProceedForced);
  EXPECT_EQ(emptySourceVerdict(srcFull, drFull, false), EmptySourceVerdict::Proceed);
  EXPECT_EQ(emptySourceVerdict(srcEmpty, drEmpty, false), EmptySourceVerdict::Proceed);
  EXPECT_EQ(emptySourceVerdict(srcEmpty, drMissing, false), EmptySourceVerdict::Proceed);
}

}  // namespace
}  // namespace ocpvdr::replication
