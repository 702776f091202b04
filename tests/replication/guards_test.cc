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

  // The local probe (DR side, local transport) and the guard script (primary side over ssh) must
  // agree on every fixture. The script runs here through sh and execs `printf` in place of the
  // rsync server, so its argument rewriting is visible too.
  struct Scripted {
    int code = -1;
    std::optional<GuardReport> report;
    std::string execOut;
  };
  Scripted script(const std::string& path, const char* mode = "allow") {
    ProcessSpec spec;
    spec.argv = {"sh",     "-c",   guardScript(), "ocpvdr-guard", root, path,      mode,
                 "printf", "%s\n", "--server",    "--sender",     ".",  path + "/"};
    auto r = runner.run(spec);
    EXPECT_TRUE(r.ok());
    Scripted s;
    if (!r.ok()) return s;
    s.code = r->exitCode;
    s.report = parseGuardReport(r->err);
    s.execOut = r->out;
    return s;
  }
  PathProbe both(const std::string& path, std::string_view ignore = {}) {
    auto local = probeLocal(root, path, ignore);
    EXPECT_TRUE(local.ok()) << path << ": " << (local.ok() ? "" : local.error().describe());
    auto s = script(path);
    EXPECT_TRUE(s.report.has_value()) << path;
    if (local.ok() && s.report && ignore.empty()) {
      const std::string expect = !local->exists                           ? "missing"
                                 : !checkConfined(*local, "x", path).ok() ? "escape"
                                 : !local->isDir                          ? "notdir"
                                                                          : "ok";
      EXPECT_EQ(s.report->verdict, expect) << path;
      if (expect == "ok") {
        EXPECT_EQ(s.code, 0) << path;
        EXPECT_EQ(s.report->path, local->real) << path;
        EXPECT_EQ(s.report->sourceEmpty, local->empty) << path;
        // The exec'd command got every argument, the source replaced by the resolved path.
        EXPECT_EQ(s.execOut, "--server\n--sender\n.\n" + local->real + "/\n") << path;
      } else {
        EXPECT_EQ(s.code, 97) << path;
        EXPECT_EQ(s.execOut, "") << path << ": the command must not run after a refusal";
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
  ProcessSpec spec;
  spec.argv = {"sh",    "-c",  guardScript(), "g", root + "/no-such-root", root + "/no-such-root/a",
               "allow", "true"};
  auto r = runner.run(spec);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exitCode, 97);
  auto g = parseGuardReport(r->err);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->verdict, "root-missing");
}

TEST_F(GuardsTest, GuardModeRefusesAnEmptySourceOnly) {
  auto e = script(root + "/empty", "guard");
  ASSERT_TRUE(e.report);
  EXPECT_EQ(e.report->verdict, "empty");
  EXPECT_EQ(e.code, 97);
  EXPECT_EQ(e.execOut, "");
  auto m = script(root + "/missing", "guard");
  EXPECT_EQ(m.report->verdict, "missing");
  auto f = script(root + "/full", "guard");
  EXPECT_EQ(f.report->verdict, "ok");
  EXPECT_EQ(f.code, 0);
  auto a = script(root + "/empty", "allow");
  EXPECT_EQ(a.report->verdict, "ok");
  EXPECT_TRUE(a.report->sourceEmpty);
}

TEST_F(GuardsTest, GuardedRsyncPathSurvivesAShellRoundTrip) {
  // What the remote login shell receives: the --rsync-path value with rsync's arguments appended.
  fs::create_directories(root + "/it's a dir");
  tmp.write("export/it's a dir/f", "x");
  std::string cmd =
      guardedRsyncPath(root, root + "/it's a dir", RemoteGuardMode::RefuseEmpty, "printf") +
      " '%s\\n' --server x";
  ProcessSpec spec;
  spec.argv = {"sh", "-c", cmd};
  auto r = runner.run(spec);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exitCode, 0) << r->err;
  EXPECT_EQ(r->out, "--server\n" + root + "/it's a dir/\n");
  auto g = parseGuardReport(r->err);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->verdict, "ok");
  EXPECT_FALSE(g->sourceEmpty);
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

TEST(GuardsParse, GuardLines) {
  auto ok = parseGuardReport("Warning: something\nOCPVDR-GUARD ok nonempty /srv/nfs/a b\n");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->verdict, "ok");
  EXPECT_FALSE(ok->sourceEmpty);
  EXPECT_EQ(ok->path, "/srv/nfs/a b");
  auto esc = parseGuardReport("OCPVDR-GUARD escape /etc\nrsync: connection unexpectedly closed\n");
  ASSERT_TRUE(esc);
  EXPECT_EQ(esc->verdict, "escape");
  EXPECT_EQ(esc->path, "/etc");
  EXPECT_FALSE(parseGuardReport("ssh: connect to host 10.0.0.2 port 22: No route to host\n"));
}

}  // namespace
}  // namespace ocpvdr::replication
