// rsync command line, output parsing (against real rsync output) and the exit-code table.
#include "replication/rsync.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "support/temp_dir.h"

namespace ocpvdr::replication {
namespace {

using testing::TempDir;

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(RsyncArgv, DefaultsFitVmDisks) {
  config::RsyncOptions o;
  RsyncInvocation inv{"root@10.0.0.2:/srv/a/", "/dr/a/", "ssh -p 22", true, true};
  auto a = buildRsyncArgv(o, inv);
  for (const char* f :
       {"-a", "-H", "-S", "--numeric-ids", "--delete", "--delete-delay", "--stats",
        "--itemize-changes", "--info=progress2", "--timeout=300", "--partial-dir=.ocpv-dr-partial"})
    EXPECT_TRUE(has(a, f)) << f;
  EXPECT_FALSE(has(a, "--inplace"));
  EXPECT_FALSE(
      std::any_of(a.begin(), a.end(), [](auto& s) { return s.rfind("--bwlimit", 0) == 0; }));
  ASSERT_GE(a.size(), 4u);
  EXPECT_EQ(a[a.size() - 4], "-e");
  EXPECT_EQ(a[a.size() - 3], "ssh -p 22");
  EXPECT_EQ(a[a.size() - 2], "root@10.0.0.2:/srv/a/");
  EXPECT_EQ(a.back(), "/dr/a/");
}

TEST(RsyncArgv, ConfiguredOptions) {
  config::RsyncOptions o;
  o.binary = "/opt/rsync";
  o.inplace = true;
  o.bwlimitKiBps = 5000;
  o.ioTimeout = std::chrono::seconds(0);
  o.extraArgs = {"--checksum"};
  auto a = buildRsyncArgv(o, RsyncInvocation{"/p/a/", "/d/a/", "", false});
  EXPECT_EQ(a[0], "/opt/rsync");
  EXPECT_TRUE(has(a, "--inplace"));
  // --inplace conflicts with --partial-dir in rsync: it must not be passed.
  EXPECT_FALSE(
      std::any_of(a.begin(), a.end(), [](auto& s) { return s.rfind("--partial-dir", 0) == 0; }));
  EXPECT_TRUE(has(a, "--bwlimit=5000"));
  EXPECT_TRUE(has(a, "--checksum"));
  EXPECT_FALSE(has(a, "--delete"));
  EXPECT_FALSE(has(a, "-e"));
  EXPECT_FALSE(has(a, "--info=progress2"));  // nobody shows progress: keep rsync quiet
  EXPECT_FALSE(
      std::any_of(a.begin(), a.end(), [](auto& s) { return s.rfind("--timeout", 0) == 0; }));
}

// A tenant can create device nodes and FIFOs inside its PV; rsync runs as root at DR and, with
// -a alone, would recreate them there (a block device node at DR reaches the DR host's disks).
// Even a configured -D in extra_args must not turn that back on.
TEST(RsyncArgv, NeverRecreatesDevicesOrSpecialFiles) {
  TempDir tmp;
  tmp.write("src/disk.img", "image");
  const std::string src = (tmp / "src").string(), dst = (tmp / "dst").string();
  ASSERT_EQ(::mkfifo((src + "/fifo").c_str(), 0600), 0);
  const bool devices = ::mknod((src + "/null").c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0;
  if (!devices) std::cerr << "mknod refused (not root?): checking the FIFO only\n";
  std::filesystem::create_directories(dst);
  config::RsyncOptions o;
  o.extraArgs = {"-D"};
  auto argv = buildRsyncArgv(o, RsyncInvocation{src + "/", dst + "/", "", true});
  ASSERT_TRUE(has(argv, "--no-devices"));
  ASSERT_TRUE(has(argv, "--no-specials"));
  RealProcessRunner runner;
  ProcessSpec spec;
  spec.argv = argv;
  auto r = runner.run(spec);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->success()) << r->err;
  namespace fs = std::filesystem;
  EXPECT_TRUE(fs::is_regular_file(tmp / "dst/disk.img"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(tmp / "dst/fifo")));
  if (devices) {
    EXPECT_FALSE(fs::exists(fs::symlink_status(tmp / "dst/null")));
  }
}

TEST(RsyncOutput, ParsesStatsAndItemizeFromRealRsync) {
  TempDir tmp;
  tmp.write("src/a.img", std::string(300000, 'a'));
  tmp.write("src/sub/b", "bee");
  tmp.write("dst/stale", "old");
  tmp.write("dst/sub/gone", "old");
  config::RsyncOptions o;
  auto argv = buildRsyncArgv(
      o, RsyncInvocation{(tmp / "src").string() + "/", (tmp / "dst").string() + "/", "", true});
  RealProcessRunner runner;
  ProcessSpec spec;
  spec.argv = argv;
  RsyncOutputParser incremental;
  spec.onStdoutLine = [&](std::string_view l) { incremental.feed(l); };
  auto r = runner.run(spec);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->success()) << r->err;
  RsyncStats s = parseRsyncOutput(r->out);
  EXPECT_TRUE(s.parsed);
  EXPECT_EQ(s.regularFilesTransferred, 2);
  EXPECT_EQ(s.deletedFiles, 2);
  EXPECT_EQ(s.itemizedDeletes, 2);
  EXPECT_EQ(s.transferredFileSize, 300003);
  EXPECT_EQ(s.totalFileSize, 300003);
  EXPECT_EQ(s.literalData, 300003);
  EXPECT_GT(s.bytesSent, 300000);
  EXPECT_GE(s.itemizedChanges, 4);  // 2 files, 1 dir, 2 deletions
  EXPECT_EQ(incremental.stats().regularFilesTransferred, s.regularFilesTransferred);
  EXPECT_EQ(incremental.stats().deletedFiles, s.deletedFiles);
  EXPECT_EQ(incremental.stats().bytesSent, s.bytesSent);
  EXPECT_FALSE(std::filesystem::exists(tmp / "dst/stale"));

  // Second run: nothing to do, nothing itemized.
  auto again = runner.run(spec);
  ASSERT_TRUE(again.ok() && again->success());
  RsyncStats n = parseRsyncOutput(again->out);
  EXPECT_TRUE(n.parsed);
  EXPECT_EQ(n.regularFilesTransferred, 0);
  EXPECT_EQ(n.transferredFileSize, 0);
  EXPECT_EQ(n.itemizedChanges, 0);
}

TEST(RsyncOutput, NumbersWithSeparators) {
  auto s = parseRsyncOutput(
      "Number of files: 4 (reg: 2, dir: 2)\n"
      "Number of regular files transferred: 1,234\n"
      "Total transferred file size: 67,108,864 bytes\n"
      "Literal data: 4,096 bytes\n"
      "Matched data: 67,104,768 bytes\n"
      "Total bytes sent: 1,234\n"
      "Total bytes received: 5,678\n");
  EXPECT_EQ(s.filesTotal, 4);
  EXPECT_EQ(s.regularFilesTransferred, 1234);
  EXPECT_EQ(s.transferredFileSize, 67108864);
  EXPECT_EQ(s.literalData, 4096);
  EXPECT_EQ(s.matchedData, 67104768);
  EXPECT_EQ(s.bytesReceived, 5678);
  EXPECT_FALSE(parseRsyncOutput("garbage\n\n").parsed);
}

TEST(RsyncProgress, LastRecordOfARewrittenLine) {
  auto p = parseProgress(
      "         32,768   1%    0.00kB/s    0:00:00  \r      3,000,000  99%  943.26MB/s    "
      "0:00:03 (xfr#1, to-chk=2/4)");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->bytes, 3000000);
  EXPECT_EQ(p->percent, 99);
  EXPECT_EQ(p->rate, "943.26MB/s");
  EXPECT_EQ(p->eta, "0:00:03");
  EXPECT_FALSE(parseProgress(">f+++++++++ a"));
  EXPECT_FALSE(parseProgress("Number of files: 3"));
  EXPECT_FALSE(parseProgress(""));
}

TEST(RsyncExit, TableSortsCodesIntoOkRetryFatal) {
  EXPECT_EQ(classifyRsyncExit(0).cls, ExitClass::Ok);
  for (int c : {10, 11, 12, 23, 24, 30, 35, 255})
    EXPECT_EQ(classifyRsyncExit(c).cls, ExitClass::Retry) << c;
  for (int c : {1, 2, 3, 4, 5, 6, 13, 14, 20, 21, 22, 25, 99})
    EXPECT_EQ(classifyRsyncExit(c).cls, ExitClass::Fatal) << c;
  for (int c : {0, 1, 10, 23, 24, 25, 255}) EXPECT_FALSE(classifyRsyncExit(c).meaning.empty());
}

TEST(RsyncExit, OutcomeKinds) {
  ProcessResult ok;
  ok.exitCode = 0;
  EXPECT_TRUE(rsyncOutcome(ok).ok());
  ProcessResult vanished;
  vanished.exitCode = 24;
  vanished.err = "file has vanished: x\n";
  auto v = rsyncOutcome(vanished);
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().kind, ErrorKind::Retryable);
  EXPECT_NE(v.error().message.find("vanished"), std::string::npos);
  ProcessResult usage;
  usage.exitCode = 1;
  EXPECT_EQ(rsyncOutcome(usage).error().kind, ErrorKind::Terminal);
  ProcessResult killed;
  killed.signaled = true;
  killed.termSignal = 9;
  EXPECT_EQ(rsyncOutcome(killed).error().kind, ErrorKind::Retryable);
  ProcessResult stopped;
  stopped.stopped = true;
  stopped.signaled = true;
  EXPECT_EQ(rsyncOutcome(stopped).error().kind, ErrorKind::Retryable);
  ProcessResult timedOut;
  timedOut.timedOut = true;
  EXPECT_NE(rsyncOutcome(timedOut).error().message.find("max_duration"), std::string::npos);
}

TEST(RsyncVersion, ParseAndInplaceSparseThreshold) {
  auto v = parseRsyncVersion("rsync  version 3.2.7  protocol version 31\nCopyright");
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, (std::vector<int>{3, 2, 7}));
  EXPECT_TRUE(supportsInplaceSparse(*v));
  EXPECT_TRUE(supportsInplaceSparse({3, 1, 3}));
  EXPECT_FALSE(supportsInplaceSparse({3, 1, 2}));
  EXPECT_FALSE(supportsInplaceSparse({3, 0}));
  EXPECT_TRUE(supportsInplaceSparse({4, 0}));
  EXPECT_FALSE(parseRsyncVersion("no version here"));
  RealProcessRunner runner;
  ProcessSpec spec;
  spec.argv = {"rsync", "--version"};
  auto r = runner.run(spec);
  ASSERT_TRUE(r.ok());
  auto installed = parseRsyncVersion(r->out);
  ASSERT_TRUE(installed) << r->out;
  EXPECT_TRUE(supportsInplaceSparse(*installed));
}

}  // namespace
}  // namespace ocpvdr::replication
