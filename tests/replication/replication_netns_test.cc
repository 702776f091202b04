// Replication over REAL ssh and rsync between two network-namespace hosts: the `ocpv-dr` binary
// runs "on" dr-nfs (ip netns exec) and pulls from primary-nfs through its sshd, exactly as it
// would on a DR NFS host. Every case checks data with checksums and the documented JSON result
// and exit code; refusals prove the DR tree untouched (digest before/after).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "catalog/catalog.h"
#include "replication/replicator.h"
#include "replication/test_util.h"
#include "support/netns_hosts.h"
#include "support/temp_dir.h"

extern char** environ;

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using replication::Outcome;

struct CliRun {
  int code = -1;
  Json doc;
  std::string out, err;
};

// All processes descending from `root` (found through /proc/<pid>/stat parent links).
std::set<pid_t> descendants(pid_t root) {
  std::map<pid_t, std::vector<pid_t>> children;
  for (const auto& e : fs::directory_iterator("/proc")) {
    std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f(e.path() / "stat");
    std::string line;
    std::getline(f, line);
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state;
    pid_t ppid;
    rest >> state >> ppid;
    children[ppid].push_back(static_cast<pid_t>(std::stol(name)));
  }
  std::set<pid_t> out{root};
  std::vector<pid_t> todo{root};
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    for (pid_t c : children[p])
      if (out.insert(c).second) todo.push_back(c);
  }
  return out;
}

// Simulates the DR host losing power under a running sync: freeze the whole process tree (so
// nothing gets a chance to clean up), then SIGKILL every member.
void crashProcessTree(pid_t root) {
  std::set<pid_t> all;
  for (int round = 0; round < 3; ++round) {
    for (pid_t p : descendants(root))
      if (all.insert(p).second) ::kill(p, SIGSTOP);
  }
  for (pid_t p : all) ::kill(p, SIGKILL);
  int status = 0;
  ::waitpid(root, &status, 0);
}

class NetnsReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto h = NetnsHosts::create();
    if (!h.ok()) GTEST_SKIP() << netnsSkipBanner(h.error());
    hosts = std::move(h).value();
    cfg = hosts->config();
    configPath = hosts->writeConfig(cfg).string();
    primary = hosts->primary().exportDir;
    dr = hosts->dr().exportDir;
    bin = binaryPath("src/cli/ocpv-dr").string();
  }

  // Runs `ocpv-dr -c <config> args...` on the DR host.
  CliRun cli(std::vector<std::string> args, std::optional<std::string> stdinData = {},
             std::map<std::string, std::string> env = {}, const std::string& config = {}) {
    ProcessSpec spec;
    // The test clock (OCPVDR_FAKE_NOW) exists only in the test build (src/cli/test_hooks.h).
    const std::string exe =
        env.count("OCPVDR_FAKE_NOW") ? binaryPath("src/cli/ocpv-dr-testhooks").string() : bin;
    std::vector<std::string> argv{exe, "-c", config.empty() ? configPath : config};
    argv.insert(argv.end(), args.begin(), args.end());
    spec.argv = hosts->onHost(hosts->dr(), argv);
    spec.stdinData = std::move(stdinData);
    spec.env = std::move(env);
    spec.timeout = 300s;
    CliRun out;
    auto r = runner.run(spec);
    EXPECT_TRUE(r.ok());
    if (!r.ok()) return out;
    out.code = r->exitCode;
    out.out = r->out;
    out.err = r->err;
    try {
      out.doc = Json::parse(r->out);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "stdout is not one JSON document: " << r->out << "\nstderr: " << r->err;
    }
    return out;
  }

  std::string writeJson(const std::string& name, const Json& j) {
    fs::path p = hosts->dir() / name;
    std::ofstream(p) << j.dump();
    return p.string();
  }

  Json pv(const std::string& dir, const std::string& server = "nfs-primary.example.com") {
    return inTreePv("pvc-" + dir, server, "/exports/ocp/" + dir);
  }

  CliRun syncPv(const Json& pvObject, std::vector<std::string> extra = {},
                const std::string& config = {}) {
    std::vector<std::string> args{"pv", "sync", "--pv-json", writeJson("pv.json", pvObject),
                                  "--no-progress"};
    args.insert(args.end(), extra.begin(), extra.end());
    return cli(args, {}, {}, config);
  }

  std::unique_ptr<NetnsHosts> hosts;
  config::Config cfg;
  std::string configPath, bin;
  fs::path primary, dr;
  RealProcessRunner runner;
};

TEST_F(NetnsReplicationTest, InTreeAndCsiPvsReplicateOverSshAndResyncTransfersNothing) {
  writeRandomFile(primary / "vms-rootdisk/disk.img", 8 << 20, 1);
  writeRandomFile(primary / "vms-rootdisk/cfg/meta.json", 300, 2);
  fs::create_symlink("disk.img", primary / "vms-rootdisk/link");
  writeRandomFile(primary / "pvc-csi-1/disk.img", 4 << 20, 3);

  auto a = syncPv(pv("vms-rootdisk"));
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  EXPECT_EQ(a.doc["result"], "synced");
  EXPECT_EQ(a.doc["changed"], true);
  EXPECT_EQ(a.doc["files"], 2);
  EXPECT_EQ(a.doc["bytes"], (8 << 20) + 300);
  EXPECT_EQ(a.doc["error"], nullptr);
  EXPECT_EQ(a.doc["source"], "nfs-primary.example.com:/exports/ocp/vms-rootdisk");
  EXPECT_EQ(a.doc["destination"], (dr / "vms-rootdisk").string());
  EXPECT_EQ(treeDigest(primary / "vms-rootdisk"), treeDigest(dr / "vms-rootdisk"));
  // rsync really went through ssh into the primary's namespace, from the DR host's address.
  std::string log = hosts->sshdLogText(hosts->primary());
  EXPECT_NE(log.find("Accepted publickey for root from " + hosts->dr().ip), std::string::npos)
      << log;
  bool viaSsh = false;
  for (const auto& arg : a.doc["rsync"]["argv"])
    if (arg.get<std::string>().rfind("root@" + hosts->primary().ip + ":", 0) == 0) viaSsh = true;
  EXPECT_TRUE(viaSsh) << a.doc["rsync"]["argv"].dump();

  // CSI PV handed over the way EDA does: the webhook envelope around the forwarder payload, stdin.
  Json csi = csiNfsPv("pvc-csi-1", "nfs-primary.example.com", "/exports/ocp", "pvc-csi-1");
  Json eda{{"payload", {{"kind", "PersistentVolume"}, {"type", "ADDED"}, {"resource", csi}}},
           {"meta", {{"endpoint", "/"}}}};
  auto c = cli({"pv", "sync", "--pv-json", "-", "--no-progress"}, eda.dump());
  ASSERT_EQ(c.code, 0) << c.out << c.err;
  EXPECT_EQ(c.doc["result"], "synced");
  EXPECT_EQ(c.doc["input"]["envelope"], "eda");
  EXPECT_EQ(c.doc["input"]["event_type"], "ADDED");
  EXPECT_EQ(sha256File(primary / "pvc-csi-1/disk.img"), sha256File(dr / "pvc-csi-1/disk.img"));

  // Second syncs: nothing changed, nothing transferred (rsync's own counters).
  for (const Json& again : {pv("vms-rootdisk"), csi}) {
    auto r = syncPv(again);
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    EXPECT_EQ(r.doc["result"], "unchanged");
    EXPECT_EQ(r.doc["changed"], false);
    EXPECT_EQ(r.doc["files"], 0);
    EXPECT_EQ(r.doc["bytes"], 0);
    EXPECT_EQ(r.doc["rsync"]["literal_bytes"], 0);
    EXPECT_EQ(r.doc["rsync"]["itemized_changes"], 0);
  }

  // The catalog recorded both replicas.
  auto cat = catalog::Catalog::open(cfg.catalog.path);
  ASSERT_TRUE(cat.ok()) << cat.error().describe();
  auto rows = (*cat)->replicas();
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  for (const auto& row : *rows) {
    EXPECT_EQ(row.result, "unchanged");
    EXPECT_TRUE(row.lastSuccess.has_value());
  }
  EXPECT_EQ((*(*cat)->replica("pvc-csi-1"))->sourceKind, "csi");
}

TEST_F(NetnsReplicationTest, ChangedBlockOfA64MiBImageIsSentAsADelta) {
  const fs::path img = primary / "vol/disk.img";
  writeRandomFile(img, 64 << 20, 11);
  auto first = syncPv(pv("vol"));
  ASSERT_EQ(first.code, 0) << first.out << first.err;
  EXPECT_GE(first.doc["rsync"]["bytes_received"].get<std::int64_t>(), 64 << 20);

  patchFile(img, 40 << 20, 4096, 12);  // one 4 KiB block in the middle
  auto delta = syncPv(pv("vol"));
  ASSERT_EQ(delta.code, 0) << delta.out << delta.err;
  EXPECT_EQ(delta.doc["result"], "synced");
  EXPECT_EQ(delta.doc["files"], 1);
  const auto received = delta.doc["rsync"]["bytes_received"].get<std::int64_t>();
  const auto literal = delta.doc["rsync"]["literal_bytes"].get<std::int64_t>();
  const auto matched = delta.doc["rsync"]["matched_bytes"].get<std::int64_t>();
  std::cerr << "delta sync of a 64 MiB image with one changed 4 KiB block: bytes received "
            << received << ", literal " << literal << ", matched " << matched << "\n";
  EXPECT_LT(received, 1 << 20);  // ≪ 64 MiB on the wire
  EXPECT_GE(literal, 4096);
  EXPECT_LT(literal, 256 << 10);
  EXPECT_GT(matched, 63 << 20);
  EXPECT_EQ(sha256File(img), sha256File(dr / "vol/disk.img"));
}

TEST_F(NetnsReplicationTest, SourceDeletionsAreMirroredAndSparseImagesStaySparse) {
  writeRandomFile(primary / "vol/keep", 1000, 1);
  writeRandomFile(primary / "vol/old-snapshot.qcow2", 100000, 2);
  writeSparseFile(primary / "vol/disk.img", 256 << 20, 64 << 10);
  ASSERT_LT(allocatedBytes(primary / "vol/disk.img"), 4 << 20);
  auto a = syncPv(pv("vol"));
  ASSERT_EQ(a.code, 0) << a.out << a.err;
  EXPECT_EQ(fs::file_size(dr / "vol/disk.img"), 256u << 20);
  const long long drBlocks = allocatedBytes(dr / "vol/disk.img");
  std::cerr << "sparse 256 MiB image: allocated at primary "
            << allocatedBytes(primary / "vol/disk.img") << " bytes, at DR " << drBlocks
            << " bytes\n";
  EXPECT_LT(drBlocks, 4 << 20);
  EXPECT_EQ(sha256File(primary / "vol/disk.img"), sha256File(dr / "vol/disk.img"));

  fs::remove(primary / "vol/old-snapshot.qcow2");
  auto b = syncPv(pv("vol"));
  ASSERT_EQ(b.code, 0) << b.out << b.err;
  EXPECT_EQ(b.doc["deleted"], 1);
  EXPECT_EQ(b.doc["changed"], true);
  EXPECT_FALSE(fs::exists(dr / "vol/old-snapshot.qcow2"));
  EXPECT_TRUE(fs::exists(dr / "vol/keep"));
  EXPECT_EQ(treeDigest(primary / "vol"), treeDigest(dr / "vol"));
}

TEST_F(NetnsReplicationTest, SyncKilledMidTransferLeavesThePreviousWholeImage) {
  const fs::path img = primary / "vol/disk.img";
  writeRandomFile(img, 64 << 20, 21);
  ASSERT_EQ(syncPv(pv("vol")).code, 0);
  const std::string oldSum = sha256File(dr / "vol/disk.img");
  writeRandomFile(img, 64 << 20, 22);  // a new version, every block different
  const std::string newSum = sha256File(img);

  auto slow = cfg;
  slow.replication.rsync.bwlimitKiBps = 4096;  // ~16 s for the image: time to pull the plug
  std::string slowConfig = hosts->writeConfig(slow, "slow.yaml").string();
  std::string pvFile = writeJson("pv-kill.json", pv("vol"));
  std::vector<std::string> argv = hosts->onHost(
      hosts->dr(), {bin, "-c", slowConfig, "pv", "sync", "--pv-json", pvFile, "--no-progress"});
  std::vector<char*> cargv;
  for (auto& s : argv) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);  // its own group, like a service
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  ASSERT_EQ(::posix_spawnp(&pid, argv[0].c_str(), &fa, &attr, cargv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);

  // Wait until the receiver's temporary file holds a good part of the new version.
  bool midway = false;
  for (int i = 0; i < 600 && !midway; ++i) {
    std::this_thread::sleep_for(50ms);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dr / "vol", ec))
      if (e.path().filename().string().rfind(".disk.img.", 0) == 0 &&
          fs::file_size(e.path(), ec) > (8u << 20))
        midway = true;
  }
  ASSERT_TRUE(midway) << "the slow sync never got going";
  crashProcessTree(pid);

  EXPECT_EQ(sha256File(dr / "vol/disk.img"), oldSum)
      << "DR image is no longer the old whole version";
  auto cat = catalog::Catalog::open(cfg.catalog.path);
  ASSERT_TRUE(cat.ok()) << cat.error().describe();
  auto row = (*(*cat)->replica("pvc-vol"));
  ASSERT_TRUE(row.has_value());
  ASSERT_TRUE(row->lastSyncStart && row->lastSyncEnd);
  EXPECT_GT(*row->lastSyncStart, *row->lastSyncEnd) << "the crashed sync is visible as unfinished";

  auto next = syncPv(pv("vol"));
  ASSERT_EQ(next.code, 0) << next.out << next.err;
  EXPECT_EQ(next.doc["result"], "synced");
  EXPECT_EQ(sha256File(dr / "vol/disk.img"), newSum);
  for (const auto& e : fs::directory_iterator(dr / "vol"))
    EXPECT_EQ(e.path().filename().string().rfind(".disk.img.", 0), std::string::npos)
        << "leftover temporary file " << e.path();
}

TEST_F(NetnsReplicationTest, GuardsRefuseWithDocumentedCodesAndDrUntouched) {
  writeRandomFile(primary / "vol/disk.img", 1 << 20, 31);
  ASSERT_EQ(syncPv(pv("vol")).code, 0);
  fs::create_directories(hosts->dir() / "primary/elsewhere");
  writeRandomFile(hosts->dir() / "primary/elsewhere/etc-shadow", 100, 32);
  fs::create_directory_symlink(hosts->dir() / "primary/elsewhere", primary / "escape");
  const auto before = treeDigest(dr);  // the whole DR export, trash included

  struct Case {
    std::string what;
    Json pv;
    std::string result, needle;
  };
  Json nonNfs = pv("vol");
  nonNfs["spec"].erase("nfs");
  nonNfs["spec"]["csi"] = {{"driver", "ebs.csi.aws.com"}, {"volumeHandle", "vol-0abc"}};
  std::vector<Case> cases = {
      {"path traversal", inTreePv("pvc-t", "nfs-primary.example.com", "/exports/ocp/vol/../../.."),
       "refused", "traversal"},
      {"unmapped server", pv("vol", "nfs-unknown.example.com"), "refused",
       "nfs-unknown.example.com"},
      {"non-NFS PV", nonNfs, "not-replicable", "ebs.csi.aws.com"},
      {"symlink escape on the primary", pv("escape"), "refused", "symlink escape"},
  };
  for (const auto& c : cases) {
    auto r = syncPv(c.pv);
    EXPECT_EQ(r.code, 3) << c.what << ": " << r.out;
    EXPECT_EQ(r.doc["result"], c.result) << c.what;
    EXPECT_EQ(r.doc["changed"], false) << c.what;
    EXPECT_EQ(r.doc["error"]["kind"], "refused") << c.what;
    EXPECT_NE(r.doc["error"]["message"].get<std::string>().find(c.needle), std::string::npos)
        << c.what << ": " << r.doc["error"]["message"];
  }
  // Empty source (an unmounted or wiped export) with a DR copy holding data.
  fs::remove_all(primary / "vol");
  fs::create_directories(primary / "vol");
  auto empty = syncPv(pv("vol"));
  EXPECT_EQ(empty.code, 3) << empty.out;
  EXPECT_EQ(empty.doc["result"], "refused");
  EXPECT_NE(empty.doc["error"]["message"].get<std::string>().find("empty-source guard"),
            std::string::npos);

  // Nothing under the DR export changed.
  auto after = treeDigest(dr);
  EXPECT_EQ(after, before);

  // --force overrides the empty-source guard, and says so.
  auto forced = syncPv(pv("vol"), {"--force"});
  EXPECT_EQ(forced.code, 0) << forced.out;
  EXPECT_EQ(forced.doc["forced"], true);
  EXPECT_FALSE(fs::exists(dr / "vol/disk.img"));
}

TEST_F(NetnsReplicationTest, BrokenLinkIsARetryableFailure) {
  writeRandomFile(primary / "vol/disk.img", 1 << 20, 41);
  auto nomux = cfg;
  nomux.primary.ssh.controlPersist = 0s;  // a fresh connection, so the cut is seen at once
  std::string c = hosts->writeConfig(nomux, "nomux.yaml").string();
  ASSERT_TRUE(hosts->setLink(hosts->primary(), false).ok());
  auto r = syncPv(pv("vol"), {}, c);
  ASSERT_TRUE(hosts->setLink(hosts->primary(), true).ok());
  EXPECT_EQ(r.code, 4) << r.out;
  EXPECT_EQ(r.doc["result"], "failed");
  EXPECT_EQ(r.doc["error"]["kind"], "retryable");
  EXPECT_NE(r.doc["error"]["message"].get<std::string>().find("ssh"), std::string::npos);
  EXPECT_FALSE(fs::exists(dr / "vol/disk.img"));
  auto ok = syncPv(pv("vol"), {}, c);
  EXPECT_EQ(ok.code, 0) << ok.out;
}

TEST_F(NetnsReplicationTest, DeleteQuarantinesRestoreBringsBackPurgeHonoursRetention) {
  writeRandomFile(primary / "vol/disk.img", 2 << 20, 51);
  ASSERT_EQ(syncPv(pv("vol")).code, 0);
  const auto digest = treeDigest(dr / "vol");
  const std::string t0 = "2026-11-24T10:00:00Z";
  const std::map<std::string, std::string> at0{{"OCPVDR_FAKE_NOW", t0}};

  Json deleted{{"kind", "PersistentVolume"},
               {"type", "DELETED"},
               {"resource", pv("vol")},
               {"id", "ev-del-1"}};
  auto del = cli({"pv", "delete", "--pv-json", writeJson("del.json", deleted)}, {}, at0);
  ASSERT_EQ(del.code, 0) << del.out << del.err;
  EXPECT_EQ(del.doc["result"], "quarantined");
  EXPECT_EQ(del.doc["changed"], true);
  EXPECT_FALSE(fs::exists(dr / "vol"));
  std::string id = del.doc["trash"]["id"];
  EXPECT_EQ(id, "20261124T100000Z-pvc-vol");
  EXPECT_TRUE(fs::exists(dr / ".ocpv-dr-trash" / id / "data/disk.img"));
  // The same event delivered again is skipped (dedupe by the envelope's id).
  auto dup = cli({"pv", "delete", "--pv-json", writeJson("del.json", deleted)}, {}, at0);
  EXPECT_EQ(dup.code, 0);
  EXPECT_EQ(dup.doc["result"], "skipped");

  auto list = cli({"trash", "list"}, {}, at0);
  ASSERT_EQ(list.code, 0);
  ASSERT_EQ(list.doc["entries"].size(), 1u);
  EXPECT_EQ(list.doc["entries"][0]["pv"], "pvc-vol");
  EXPECT_EQ(list.doc["entries"][0]["original_path"], (dr / "vol").string());

  auto restore = cli({"trash", "restore", id});
  ASSERT_EQ(restore.code, 0) << restore.out;
  EXPECT_EQ(restore.doc["result"], "restored");
  EXPECT_EQ(treeDigest(dr / "vol"), digest);
  EXPECT_EQ(cli({"trash", "restore", id}).code, 7);  // gone from the trash now

  // Quarantine again, then something re-creates the directory: restore must refuse (conflict).
  auto del2 = cli({"pv", "delete", "--pv-json", writeJson("pv2.json", pv("vol"))}, {}, at0);
  ASSERT_EQ(del2.code, 0);
  std::string id2 = del2.doc["trash"]["id"];
  ASSERT_EQ(syncPv(pv("vol")).code, 0);
  auto clash = cli({"trash", "restore", id2});
  EXPECT_EQ(clash.code, 6) << clash.out;
  EXPECT_EQ(clash.doc["error"]["kind"], "conflict");

  // Retention 7 d (default): 6 days later nothing goes, 8 days later the entry is purged.
  auto early = cli({"trash", "purge"}, {}, {{"OCPVDR_FAKE_NOW", "2026-11-30T10:00:00Z"}});
  ASSERT_EQ(early.code, 0) << early.out;
  EXPECT_EQ(early.doc["purged"].size(), 0u);
  EXPECT_TRUE(fs::exists(dr / ".ocpv-dr-trash" / id2));
  auto late = cli({"trash", "purge", "--now", "2026-12-02T10:00:00Z"});
  ASSERT_EQ(late.code, 0) << late.out;
  ASSERT_EQ(late.doc["purged"].size(), 1u);
  EXPECT_EQ(late.doc["purged"][0]["id"], id2);
  EXPECT_FALSE(fs::exists(dr / ".ocpv-dr-trash" / id2));
}

TEST_F(NetnsReplicationTest, SnapshotLifecycleIsRecordedAndTheCsiArchiveReplicated) {
  writeRandomFile(primary / "pvc-src/disk.img", 1 << 20, 61);
  Json src = csiNfsPv("pvc-src", "nfs-primary.example.com", "/exports/ocp", "pvc-src");
  src["spec"]["claimRef"] = {{"namespace", "vms"}, {"name", "rootdisk"}};
  ASSERT_EQ(syncPv(src).code, 0);
  // What csi-driver-nfs leaves on the export for a snapshot of that volume.
  const std::string snapName = "snapshot-5e1f-77aa";
  writeRandomFile(primary / snapName / "pvc-src.tar.gz", 300000, 62);

  Json vs = Json::parse(R"({"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshot",
    "metadata":{"name":"nightly","namespace":"vms","uid":"5e1f-77aa"},
    "spec":{"source":{"persistentVolumeClaimName":"rootdisk"},"volumeSnapshotClassName":"csi-nfs"}})");
  auto pending = cli({"snapshot", "sync", "--snapshot-json", writeJson("vs0.json", vs)});
  ASSERT_EQ(pending.code, 0) << pending.out;
  EXPECT_EQ(pending.doc["result"], "not-ready");
  EXPECT_FALSE(fs::exists(dr / snapName));

  vs["status"] = {{"boundVolumeSnapshotContentName", "snapcontent-5e1f-77aa"},
                  {"readyToUse", false}};
  EXPECT_EQ(cli({"snapshot", "sync", "--snapshot-json", writeJson("vs1.json", vs)}).doc["result"],
            "not-ready");

  Json vsc =
      Json::parse(R"({"apiVersion":"snapshot.storage.k8s.io/v1","kind":"VolumeSnapshotContent",
    "metadata":{"name":"snapcontent-5e1f-77aa"},
    "spec":{"driver":"nfs.csi.k8s.io","deletionPolicy":"Delete",
            "source":{"volumeHandle":"nfs-primary.example.com#exports/ocp#pvc-src#pvc-src#"},
            "volumeSnapshotRef":{"namespace":"vms","name":"nightly","uid":"5e1f-77aa"}},
    "status":{"readyToUse":true,"creationTime":1795479141000000000,"restoreSize":1048576}})");
  vsc["status"]["snapshotHandle"] =
      "nfs-primary.example.com#exports/ocp#" + snapName + "#" + snapName + "#pvc-src";
  vs["status"]["readyToUse"] = true;  // ready, but without time/size on the VolumeSnapshot
  auto ready = cli({"snapshot", "sync", "--snapshot-json", writeJson("vs2.json", vs),
                    "--content-json", writeJson("vsc.json", vsc), "--no-progress"});
  ASSERT_EQ(ready.code, 0) << ready.out << ready.err;
  EXPECT_EQ(ready.doc["result"], "synced");
  EXPECT_EQ(ready.doc["pv"], "pvc-src");
  EXPECT_EQ(ready.doc["snapshot"], "vms/nightly");
  EXPECT_EQ(ready.doc["record"]["creation_time"], "2026-11-24T00:12:21Z");
  EXPECT_EQ(ready.doc["record"]["restore_size_bytes"], 1048576);
  EXPECT_EQ(sha256File(primary / snapName / "pvc-src.tar.gz"),
            sha256File(dr / snapName / "pvc-src.tar.gz"));

  // The string forms on the VolumeSnapshot normalise to the same values.
  vs["status"]["creationTime"] = "2026-11-24T00:12:21Z";
  vs["status"]["restoreSize"] = "1Mi";
  auto same = cli({"snapshot", "sync", "--snapshot-json", writeJson("vs3.json", vs),
                   "--content-json", writeJson("vsc.json", vsc)});
  ASSERT_EQ(same.code, 0) << same.out;
  EXPECT_EQ(same.doc["result"], "unchanged");
  EXPECT_EQ(same.doc["record"]["restore_size_bytes"], 1048576);

  auto cat = catalog::Catalog::open(cfg.catalog.path);
  ASSERT_TRUE(cat.ok()) << cat.error().describe();
  auto rec = (*(*cat)->snapshot("5e1f-77aa"));
  ASSERT_TRUE(rec.has_value());
  EXPECT_EQ(rec->state, "ready");
  EXPECT_EQ(rec->ns, "vms");
  EXPECT_EQ(rec->sourcePvc, "rootdisk");
  EXPECT_EQ(rec->sourcePv, "pvc-src");
  EXPECT_EQ(rec->contentName, "snapcontent-5e1f-77aa");
  EXPECT_EQ(rec->restoreSize, 1048576);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(*rec->creationTime), 1795479141);
  EXPECT_EQ(rec->dataDrPath, (dr / snapName).string());
  cat->reset();

  Json gone{{"kind", "VolumeSnapshot"}, {"type", "DELETED"}, {"resource", vs}};
  auto del = cli({"snapshot", "delete", "--snapshot-json", writeJson("vs4.json", gone)});
  ASSERT_EQ(del.code, 0) << del.out;
  EXPECT_EQ(del.doc["result"], "quarantined");
  EXPECT_FALSE(fs::exists(dr / snapName));
  auto cat2 = catalog::Catalog::open(cfg.catalog.path);
  auto rec2 = (*(*cat2)->snapshot("5e1f-77aa"));
  EXPECT_EQ(rec2->state, "deleted");
  EXPECT_TRUE(rec2->deletedAt.has_value());
  auto list = cli({"trash", "list"});
  ASSERT_EQ(list.doc["entries"].size(), 1u);
  EXPECT_EQ(list.doc["entries"][0]["kind"], "snapshot");
}

TEST_F(NetnsReplicationTest, ConcurrentSyncsOfOnePvOneIsBusyOrWaitsAndDataIsRight) {
  writeRandomFile(primary / "vol/disk.img", 32 << 20, 71);
  auto slow = cfg;
  slow.replication.rsync.bwlimitKiBps = 8192;  // ~4 s
  std::string slowConfig = hosts->writeConfig(slow, "slow.yaml").string();
  std::string pvFile = writeJson("pvc.json", pv("vol"));

  auto race = [&](std::vector<std::string> extra) {
    std::vector<CliRun> runs(2);
    std::vector<std::thread> ts;
    for (int i = 0; i < 2; ++i)
      ts.emplace_back([&, i] {
        if (i == 1) std::this_thread::sleep_for(700ms);  // let the first take the lock
        std::vector<std::string> args{"pv", "sync", "--pv-json", pvFile, "--no-progress"};
        args.insert(args.end(), extra.begin(), extra.end());
        runs[i] = cli(args, {}, {}, slowConfig);
      });
    for (auto& t : ts) t.join();
    return runs;
  };
  auto noWait = race({});
  EXPECT_EQ(noWait[0].code, 0) << noWait[0].out;
  EXPECT_EQ(noWait[0].doc["result"], "synced");
  EXPECT_EQ(noWait[1].code, 4) << noWait[1].out;
  EXPECT_EQ(noWait[1].doc["result"], "busy");
  EXPECT_EQ(noWait[1].doc["error"]["kind"], "retryable");
  EXPECT_EQ(sha256File(primary / "vol/disk.img"), sha256File(dr / "vol/disk.img"));

  writeRandomFile(primary / "vol/disk.img", 32 << 20, 72);
  auto waited = race({"--wait", "2m"});
  EXPECT_EQ(waited[0].code, 0) << waited[0].out;
  EXPECT_EQ(waited[0].doc["result"], "synced");
  EXPECT_EQ(waited[1].code, 0) << waited[1].out;
  EXPECT_EQ(waited[1].doc["result"], "unchanged");  // ran after the first, found nothing to do
  EXPECT_EQ(sha256File(primary / "vol/disk.img"), sha256File(dr / "vol/disk.img"));
}

TEST_F(NetnsReplicationTest, ProgressLineOnATerminal) {
  writeRandomFile(primary / "vol/disk.img", 12 << 20, 91);
  auto slow = cfg;
  slow.replication.rsync.bwlimitKiBps = 4096;  // ~3 s: several progress updates
  std::string slowConfig = hosts->writeConfig(slow, "slow.yaml").string();
  std::string pvFile = writeJson("pv-tty.json", pv("vol"));
  // script(1) gives the command a pseudo-terminal for stdin, stdout and stderr.
  std::string cmd;
  for (const auto& a : hosts->onHost(hosts->dr(), {bin, "-c", slowConfig, "--log-level", "warn",
                                                   "pv", "sync", "--pv-json", pvFile}))
    cmd += shellQuote(a) + " ";
  ProcessSpec spec;
  spec.argv = {"script", "-qefc", cmd, "/dev/null"};
  spec.timeout = 120s;
  auto r = runner.run(spec);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exitCode, 0) << r->out;
  EXPECT_NE(r->out.find("\r\033[Kpv sync: "), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("% "), std::string::npos);
  EXPECT_NE(r->out.find("ETA "), std::string::npos);
  EXPECT_NE(r->out.find("\"result\":\"synced\""), std::string::npos);
  EXPECT_EQ(sha256File(primary / "vol/disk.img"), sha256File(dr / "vol/disk.img"));
  // Without a terminal the same command prints no progress (and rsync is not asked for it).
  auto plain = cli({"pv", "sync", "--pv-json", pvFile}, {}, {}, slowConfig);
  EXPECT_EQ(plain.err.find("ETA"), std::string::npos);
  for (const auto& a : plain.doc["rsync"]["argv"]) EXPECT_NE(a, "--info=progress2");
}

// The library path the engine will use: one Replicator, many PVs in parallel over one shared ssh
// master, run from the DR namespace; plus a clean stop mid-transfer.
TEST_F(NetnsReplicationTest, LibraryParallelSyncsShareTheSshMasterAndStopIsClean) {
  constexpr int kPvs = 6;
  for (int i = 0; i < kPvs; ++i)
    writeRandomFile(primary / ("p" + std::to_string(i)) / "disk.img", 2 << 20, 80 + i);
  auto catOpen = catalog::Catalog::open(cfg.catalog.path);
  ASSERT_TRUE(catOpen.ok());
  auto& cat = **catOpen;
  RealClock clock;
  NetnsProcessRunner onDr(runner, hosts->dr().ns);
  replication::Replicator rep(cfg, onDr, clock, cat);
  std::vector<replication::SyncReport> reports(kPvs);
  std::vector<std::thread> ts;
  for (int i = 0; i < kPvs; ++i)
    ts.emplace_back([&, i] { reports[i] = *rep.syncPv(pv("p" + std::to_string(i))); });
  for (auto& t : ts) t.join();
  for (int i = 0; i < kPvs; ++i) {
    EXPECT_EQ(reports[i].result, Outcome::Synced)
        << (reports[i].error ? reports[i].error->describe() : "");
    EXPECT_EQ(sha256File(primary / ("p" + std::to_string(i)) / "disk.img"),
              sha256File(dr / ("p" + std::to_string(i)) / "disk.img"));
  }
  // One master socket serves all of them.
  std::size_t sockets = 0;
  for (const auto& e : fs::directory_iterator(rep.ssh().controlDir()))
    if (e.is_socket()) ++sockets;
  EXPECT_EQ(sockets, 1u);

  writeRandomFile(primary / "p0/disk.img", 32 << 20, 99);
  const std::string before = sha256File(dr / "p0/disk.img");
  auto slow = cfg;
  slow.replication.rsync.bwlimitKiBps = 4096;
  replication::Replicator slowRep(slow, onDr, clock, cat);
  std::stop_source stop;
  replication::SyncOptions o;
  o.stop = stop.get_token();
  std::atomic<std::int64_t> seen{0};
  o.onProgress = [&](const replication::RsyncProgress& p) { seen = p.bytes; };
  std::atomic<bool> finished{false};
  std::thread stopper([&] {
    while (seen < (4 << 20) && !finished) std::this_thread::sleep_for(20ms);
    stop.request_stop();
  });
  auto r = slowRep.syncPv(pv("p0"), o);
  finished = true;
  stopper.join();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->result, Outcome::Failed);
  EXPECT_EQ(r->error->kind, ErrorKind::Retryable);
  EXPECT_EQ(sha256File(dr / "p0/disk.img"), before);
  rep.closeConnections();
}

}  // namespace
}  // namespace ocpvdr::testing
