// Fencing is verified: after the exports file is rewritten and `exportfs -ra` ran, the live export
// table (`exportfs -v`) is read back and the step fails while any export covering a fenced root is
// still writable.
//   parse   `exportfs -v` output exactly as Debian's nfs-kernel-server 2.6 prints it (short paths
//           padded and tab-separated, long paths on a line of their own, <world>, unescaped
//           spaces), and which exports cover a root (itself, a parent, a directory under it).
//   real    the Fencer with its ssh commands run by a local shell, where `exportfs` on the PATH is
//           the real /usr/sbin/exportfs in a private mount namespace whose /etc/exports,
//           /etc/exports.d and /var/lib/nfs are this test's files (no NFS server is started; the
//           kernel export table is not touched). Needs root and nfs-kernel-server; skips loudly
//           otherwise.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "failover/fencing.h"
#include "support/temp_dir.h"

namespace ocpvdr::failover {
namespace {

namespace fs = std::filesystem;
using ocpvdr::testing::TempDir;

// Captured from `exportfs -v` (nfs-utils 2.6.2, Debian bookworm) for an /etc/exports holding
// /srv/nfs (two clients), a long path, a path with a space, and an /etc/exports.d entry.
constexpr const char* kRealOutput =
    "/srv/with space\n"
    "\t\t10.1.2.3(sync,wdelay,hide,no_subtree_check,sec=sys,rw,root_squash,no_all_squash)\n"
    "/srv/nfs      \t10.0.0.0/8(sync,wdelay,hide,no_subtree_check,sec=sys,rw,root_squash,"
    "no_all_squash)\n"
    "/srv/nfs/ocp  \t192.168.0.0/16(sync,wdelay,hide,no_subtree_check,sec=sys,rw,no_root_squash,"
    "no_all_squash)\n"
    "/srv/nfs/ocp/a_very_long_directory_name\n"
    "\t\t@netgrp(async,wdelay,hide,no_subtree_check,sec=sys,ro,root_squash,no_all_squash)\n"
    "/srv/nfs      \t<world>(sync,wdelay,hide,no_subtree_check,sec=sys,ro,root_squash,"
    "no_all_squash)\n";

TEST(ExportfsVerbose, ParsesTheRealFormat) {
  auto live = parseExportfsVerbose(kRealOutput);
  ASSERT_TRUE(live.ok()) << live.error().describe();
  ASSERT_EQ(live->size(), 5u);
  EXPECT_EQ((*live)[0].path, "/srv/with space");
  EXPECT_EQ((*live)[0].client, "10.1.2.3");
  EXPECT_TRUE((*live)[0].writable());
  EXPECT_EQ((*live)[1].path, "/srv/nfs");
  EXPECT_EQ((*live)[1].client, "10.0.0.0/8");
  EXPECT_TRUE((*live)[1].writable());
  EXPECT_EQ((*live)[3].path, "/srv/nfs/ocp/a_very_long_directory_name");
  EXPECT_EQ((*live)[3].client, "@netgrp");
  EXPECT_FALSE((*live)[3].writable());
  EXPECT_EQ((*live)[4].client, "<world>");
  EXPECT_FALSE((*live)[4].writable());
  EXPECT_EQ((*live)[4].text(),
            "/srv/nfs <world>(sync,wdelay,hide,no_subtree_check,sec=sys,ro,root_squash,"
            "no_all_squash)");
  EXPECT_TRUE(parseExportfsVerbose("")->empty());
}

TEST(ExportfsVerbose, RefusesWhatItCannotRead) {
  for (const char* bad : {"/srv/nfs\t10.0.0.1\n",                 // no options (not -v)
                          "\t\t10.0.0.1(rw)\n",                   // client without a path
                          "/srv/a_very_long_directory_name_x\n",  // path without a client
                          "/srv/nfs\t(rw)\n"}) {
    auto r = parseExportfsVerbose(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
    EXPECT_NE(r.error().message.find("exportfs -v"), std::string::npos) << r.error().message;
  }
}

TEST(ExportfsVerbose, CoveringMeansTheRootAParentOrASubdirectory) {
  auto live = parseExportfsVerbose(kRealOutput);
  ASSERT_TRUE(live.ok());
  std::vector<std::string> got;
  for (const auto& e : exportsCovering(*live, {"/srv/nfs/ocp"})) got.push_back(e.path);
  EXPECT_EQ(got, (std::vector<std::string>{"/srv/nfs", "/srv/nfs/ocp",
                                           "/srv/nfs/ocp/a_very_long_directory_name", "/srv/nfs"}));
  // Component-wise, not a string prefix; an option without rw/ro proves nothing.
  EXPECT_TRUE(exportsCovering(*live, {"/srv/nf"}).empty());
  LiveExport unknown{"/srv/x", "h", {"sync"}};
  EXPECT_TRUE(unknown.writable());
}

// Runs the Fencer's ssh commands with a local shell (the remote command is ssh's last argument),
// with `bin` first on the PATH.
class LocalShellRunner final : public ProcessRunner {
 public:
  explicit LocalShellRunner(std::string bin) : bin_(std::move(bin)) {}
  Result<ProcessResult> run(const ProcessSpec& spec, std::stop_token stop) override {
    ProcessSpec local = spec;
    if (!spec.argv.empty() && fs::path(spec.argv[0]).filename() == "ssh")
      local.argv = {"/bin/sh", "-c", spec.argv.back()};
    const char* path = std::getenv("PATH");
    local.env["PATH"] = bin_ + ":" + (path ? path : "/usr/bin:/bin");
    commands.push_back(local.argv.back());
    return real_.run(local, stop);
  }
  std::vector<std::string> commands;

 private:
  std::string bin_;
  RealProcessRunner real_;
};

class RealExportfsFence : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "SKIPPED: needs root (private mount namespace)";
    if (!fs::exists("/usr/sbin/exportfs"))
      GTEST_SKIP() << "SKIPPED: /usr/sbin/exportfs missing (apt-get install nfs-kernel-server)";
    if (!fs::exists("/etc/exports") || !fs::is_directory("/etc/exports.d"))
      GTEST_SKIP() << "SKIPPED: /etc/exports or /etc/exports.d missing (bind-mount targets)";
    base = fs::canonical(tmp.path());
    root = base / "srv/nfs/ocp";
    fs::create_directories(root / "vol1");
    fs::create_directories(base / "srv/scratch");
    fs::create_directories(base / "etc/exports.d");
    fs::create_directories(base / "varlib");
    fs::create_directories(base / "bin");
    exportsFile = base / "etc/exports";
    // The real exportfs, reading this test's exports file and exports.d, keeping its table in
    // this test's /var/lib/nfs (the bind mounts vanish with the namespace).
    const fs::path shim = base / "bin/exportfs";
    std::ofstream(shim) << "#!/bin/sh\n"
                        << "exec unshare -m sh -c 'mount --bind \"$0\" /etc/exports && "
                           "mount --bind \"$1\" /etc/exports.d && mount --bind \"$2\" /var/lib/nfs "
                           "&& shift 2 && exec /usr/sbin/exportfs \"$@\"' "
                        << exportsFile << " " << (base / "etc/exports.d") << " "
                        << (base / "varlib") << " \"$@\"\n";
    ::chmod(shim.c_str(), 0755);
    cfg.method = config::FencingMethod::Exportfs;
    cfg.exportsFile = exportsFile.string();
    access.user = "root";
  }

  Result<FenceResult> fence() {
    LocalShellRunner runner((base / "bin").string());
    replication::SshCommand ssh(access, "nfs-primary", (base / "ssh").string());
    Fencer fencer(cfg, ssh, runner);
    auto r = fencer.fence("run-1", {root.string()});
    commands = runner.commands;
    return r;
  }

  TempDir tmp;
  fs::path base, root, exportsFile;
  config::Fencing cfg;
  config::SshAccess access;
  std::vector<std::string> commands;
};

TEST_F(RealExportfsFence, AFencedRootPassesTheReadBack) {
  std::ofstream(exportsFile) << root.string() << " 127.0.0.1(rw,sync,no_subtree_check)\n"
                             << (base / "srv/scratch").string()
                             << " 127.0.0.1(rw,sync,no_subtree_check)\n";
  auto r = fence();
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(commands.back(), "exportfs -v");
  ASSERT_EQ(r->details["liveExports"].size(), 1u) << r->details.dump();
  EXPECT_NE(r->details["liveExports"][0].get<std::string>().find(",ro,"), std::string::npos)
      << r->details.dump();
}

TEST_F(RealExportfsFence, AWritableParentExportFailsTheStep) {
  std::ofstream(exportsFile) << root.string() << " 127.0.0.1(rw,sync,no_subtree_check)\n"
                             << (base / "srv/nfs").string()
                             << " 127.0.0.0/8(rw,sync,no_subtree_check)\n";
  auto r = fence();
  ASSERT_FALSE(r.ok()) << "fence passed with a writable parent export";
  EXPECT_EQ(r.error().kind, ErrorKind::Refused) << r.error().describe();
  EXPECT_NE(r.error().message.find((base / "srv/nfs").string() + " 127.0.0.0/8("),
            std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("parent directory"), std::string::npos);
  // The root's own line was fenced all the same.
  std::ifstream in(exportsFile);
  std::string first;
  std::getline(in, first);
  EXPECT_NE(first.find("127.0.0.1(ro,"), std::string::npos) << first;
}

TEST_F(RealExportfsFence, AWritableExportsDEntryFailsTheStep) {
  std::ofstream(exportsFile) << root.string() << " 127.0.0.1(rw,sync,no_subtree_check)\n";
  std::ofstream(base / "etc/exports.d/tenant.exports")
      << (root / "vol1").string() << " 10.9.0.0/16(rw,sync,no_subtree_check)\n";
  auto r = fence();
  ASSERT_FALSE(r.ok()) << "fence passed with a writable /etc/exports.d entry";
  EXPECT_EQ(r.error().kind, ErrorKind::Refused) << r.error().describe();
  EXPECT_NE(r.error().message.find((root / "vol1").string() + " 10.9.0.0/16("), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("/etc/exports.d"), std::string::npos);
}

}  // namespace
}  // namespace ocpvdr::failover
