// serve's change feed (engine/change_feed.h) end to end: kube-sim as the primary API, the two
// network-namespace hosts over real ssh, both export roots loop-mounted XFS (the extent mover),
// `ssh primary ocpv-dr-mover watch` started by the engine. Root (skips loudly otherwise).
//   - a write at the primary makes a new recovery point at DR without any PV event
//   - the ssh channel killed by PID: the root is rescanned and a write made while the channel
//     was down reaches DR (the reconnect is held at a gate until the write is made)
#include <gtest/gtest.h>
#include <signal.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "catalog/points.h"
#include "core/curl_http.h"
#include "core/files.h"
#include "engine/engine.h"
#include "extent/applier.h"
#include "extent/loop_fs.h"
#include "kube/connect.h"
#include "replication/test_util.h"
#include "support/eventually.h"
#include "support/kube_sim_process.h"
#include "support/netns_hosts.h"
#include "support/temp_dir.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

template <class P>
bool waitFor(P pred, std::chrono::milliseconds limit = 60s) {
  return eventually(pred, limit, 10ms);
}

bool isWatchSession(const ProcessSpec& spec) {
  for (const auto& a : spec.argv)
    if (a.find(" watch ") != std::string::npos || a == "watch") return true;
  return false;
}

// Passes every run through; `watch` sessions from number `holdFrom` on wait at a gate until
// release() (the test's way to make a write while the channel is down, by events).
class GateRunner final : public ProcessRunner {
 public:
  explicit GateRunner(ProcessRunner& inner) : inner_(inner) {}
  Result<ProcessResult> run(const ProcessSpec& spec, std::stop_token stop) override {
    if (isWatchSession(spec)) {
      std::unique_lock l(mu_);
      const int n = ++sessions_;
      if (holdFrom_ > 0 && n >= holdFrom_) {
        held_ = true;
        cv_.wait(l, stop, [&] { return released_; });
        held_ = false;
      }
    }
    return inner_.run(spec, stop);
  }
  void holdFrom(int n) {
    std::lock_guard l(mu_);
    holdFrom_ = n;
  }
  bool held() {
    std::lock_guard l(mu_);
    return held_;
  }
  int sessions() {
    std::lock_guard l(mu_);
    return sessions_;
  }
  void release() {
    {
      std::lock_guard l(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }

 private:
  ProcessRunner& inner_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  int sessions_ = 0, holdFrom_ = 0;
  bool held_ = false, released_ = false;
};

// PIDs of local ssh clients whose command line runs `ocpv-dr-mover watch` on `root`.
std::vector<pid_t> watchSshPids(const std::string& root) {
  std::vector<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string comm = readFile((e.path() / "comm").string()).valueOr("");
    if (comm != "ssh\n") continue;
    std::string cmd = readFile((e.path() / "cmdline").string()).valueOr("");
    if (cmd.find(" watch ") != std::string::npos && cmd.find(root) != std::string::npos)
      out.push_back(std::stoi(name));
  }
  return out;
}

class ChangeFeedNetnsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { initHttpGlobal(); }

  void SetUp() override {
    // Mounts before the hosts: `ip netns exec` sees the mounts that existed when they were made.
    auto p = LoopFs::create("xfs", 512ull << 20);
    if (!p.ok()) GTEST_SKIP() << p.error().message;
    auto d = LoopFs::create("xfs", 512ull << 20);
    if (!d.ok()) GTEST_SKIP() << d.error().message;
    pfs = std::move(p).value();
    dfs = std::move(d).value();
    auto h = NetnsHosts::create();
    if (!h.ok()) GTEST_SKIP() << netnsSkipBanner(h.error());
    hosts = std::move(h).value();
    primaryRoot = fs::path(pfs->mountPoint()) / "ocp";
    drRoot = fs::path(dfs->mountPoint()) / "ocp";
    fs::create_directories(primaryRoot);
    fs::create_directories(drRoot);
    KubeSimOptions ko;
    ko.listen = hosts->bridgeIp() + ":0";
    sim = std::make_unique<KubeSimProcess>(ko);
    cfg = hosts->config();
    cfg.primary.exportRoots.front().hostPath = primaryRoot.string();
    cfg.dr.exportRoots.front().hostPath = drRoot.string();
    cfg.replication.mover = config::MoverKind::Extent;
    cfg.replication.moverLocalPath = binaryPath("src/extent/ocpv-dr-mover").string();
    cfg.replication.moverPath = (hosts->dir() / "primary-libexec/ocpv-dr-mover").string();
    cfg.replication.watch.enabled = true;
    cfg.replication.watch.settle = 200ms;
    cfg.replication.watch.cap = 2s;
    cfg.primary.kubernetes.kubeconfig =
        sim->writeKubeconfig((hosts->dir() / "primary.kubeconfig").string());
    auto c = catalog::Catalog::open(cfg.catalog.path);
    ASSERT_TRUE(c.ok()) << c.error().describe();
    cat = std::move(c).value();
    onDr = std::make_unique<NetnsProcessRunner>(real, hosts->dr().ns);
    gate = std::make_unique<GateRunner>(*onDr);
    auto conn = kube::connect(cfg.primary.kubernetes, clock, curlHttpClients());
    ASSERT_TRUE(conn.ok()) << conn.error().describe();
    kube = std::make_unique<kube::KubeConnection>(std::move(*conn));
    primary = std::make_unique<engine::KubePrimary>(*kube->client);
    rep = std::make_unique<replication::Replicator>(cfg, *gate, clock, *cat, primary.get());
    opts.listen = "127.0.0.1:0";
    opts.workers = 2;
    opts.settle = 100ms;
    opts.schedule = false;
    opts.backoffBase = 200ms;
    opts.backoffMax = 2s;
    opts.shutdownGrace = 5s;
    opts.maintenanceInterval = 0ms;
    opts.reportDir = (hosts->dir() / "reports").string();
  }

  void TearDown() override {
    if (engine) engine->shutdown();
    engine.reset();
    if (gate) gate->release();
    if (rep) rep->closeConnections();
  }

  // A PV at the primary (in kube-sim) with a first point at DR, made before serve starts.
  void makePv(const std::string& dir) {
    writeRandomFile(primaryRoot / dir / "disk.img", 1 << 20, 7);
    Json pv = inTreePv("pvc-" + dir, "nfs-primary.example.com", "/exports/ocp/" + dir);
    pv.erase("status");
    pv["metadata"].erase("uid");
    Json created = sim->request("POST", "/api/v1/persistentvolumes", pv.dump());
    ASSERT_EQ(created["metadata"]["name"], pv["metadata"]["name"]) << created.dump();
    auto r = rep->syncPv(created);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    ASSERT_EQ(r->toJson().value("mover", ""), "extent") << r->toJson().dump();
  }

  void startEngine() {
    engine::EngineDeps deps;
    deps.clock = &clock;
    deps.catalog = cat.get();
    deps.replicator = rep.get();
    deps.objects = primary.get();
    deps.lister = primary.get();
    deps.metrics = &metrics;
    deps.kube = kube->client.get();
    deps.runner = gate.get();
    engine = std::make_unique<engine::Engine>(cfg, deps, opts);
    Status st = engine->start();
    ASSERT_TRUE(st.ok()) << st.error().describe();
    ASSERT_NE(engine->changeFeed(), nullptr);
  }

  engine::ChangeFeed::RootStats feed() { return engine->changeFeed()->rootStats(0); }
  bool idle() {
    auto& q = engine->queue();
    return q.len() == 0 && q.waitingLen() == 0 && q.processingLen() == 0 &&
           engine->stats().inFlight == 0;
  }
  std::size_t points(const std::string& pv) {
    return extent::listPoints((drRoot / ".ocpv-dr/points" / pv).string()).valueOr({}).size();
  }
  bool sameData(const std::string& dir) {
    return treeDigest(primaryRoot / dir) == treeDigest(drRoot / dir);
  }
  void overwrite(const std::string& dir, unsigned seed) {
    writeRandomFile(primaryRoot / dir / "disk.img", 1 << 20, seed);
  }

  std::unique_ptr<LoopFs> pfs, dfs;
  std::unique_ptr<NetnsHosts> hosts;
  std::unique_ptr<KubeSimProcess> sim;
  fs::path primaryRoot, drRoot;
  config::Config cfg;
  RealClock clock;
  RealProcessRunner real;
  std::unique_ptr<NetnsProcessRunner> onDr;
  std::unique_ptr<GateRunner> gate;
  std::unique_ptr<catalog::Catalog> cat;
  std::unique_ptr<kube::KubeConnection> kube;
  std::unique_ptr<engine::KubePrimary> primary;
  std::unique_ptr<replication::Replicator> rep;
  MetricsRegistry metrics;
  engine::EngineOptions opts;
  std::unique_ptr<engine::Engine> engine;
};

TEST_F(ChangeFeedNetnsTest, AWriteAtThePrimaryMakesANewPointWithoutAnyPvEvent) {
  makePv("vm1");
  if (HasFatalFailure()) return;
  startEngine();
  ASSERT_TRUE(waitFor([&] { return feed().trusted; })) << feed().lastError;
  ASSERT_TRUE(waitFor([&] { return idle(); }));
  const std::size_t before = points("pvc-vm1");
  const int syncsBefore = engine->stats().syncsPerKey["pv/pvc-vm1"];
  overwrite("vm1", 99);
  ASSERT_TRUE(waitFor([&] { return points("pvc-vm1") > before && sameData("vm1"); }))
      << engine->statusDocument().dump(2);
  EXPECT_GT(engine->stats().syncsPerKey["pv/pvc-vm1"], syncsBefore);
  EXPECT_GE(feed().changes, 1u);
  EXPECT_EQ(feed().backend, "fanotify");
  EXPECT_EQ(engine->stats().eventsAccepted, 0u);  // nothing was POSTed
  const Json st = engine->statusDocument();
  EXPECT_EQ(st["change_feed"]["roots"][0]["state"], "up") << st.dump(2);
  // Seen by people: the PV is caught up (the change is at DR), with its data age and target.
  ASSERT_EQ(st["replicas"].size(), 1u) << st.dump(2);
  const Json& row = st["replicas"][0];
  EXPECT_EQ(row["caught_up"], true) << row.dump(2);
  EXPECT_EQ(row["behind_seconds"], 0) << row.dump(2);
  EXPECT_TRUE(row["data_age_seconds"].is_number()) << row.dump(2);
  EXPECT_EQ(row["target_seconds"], cfg.replication.rpoTarget.count());
  EXPECT_EQ(row["last_cycle"]["result"], "synced") << row.dump(2);
  EXPECT_EQ(row["rpo_exceeded"], false);
}

TEST_F(ChangeFeedNetnsTest, AChangeNotYetAtDrShowsHowFarBehind) {
  makePv("vm1");
  if (HasFatalFailure()) return;
  // Syncs of this PV fail at the primary's API (a PV the engine cannot read): the change stays
  // pending and status says how long it has waited.
  startEngine();
  ASSERT_TRUE(waitFor([&] { return feed().trusted; })) << feed().lastError;
  ASSERT_TRUE(waitFor([&] { return idle(); }));
  sim->request("DELETE", "/api/v1/persistentvolumes/pvc-vm1");
  overwrite("vm1", 5);
  ASSERT_TRUE(waitFor([&] {
    const Json st = engine->statusDocument();
    return st["replicas"].size() == 1 && st["replicas"][0]["caught_up"] == false &&
           !st["replicas"][0]["pending_since"].is_null();
  })) << engine->statusDocument().dump(2);
  EXPECT_GE(feed().changes, 1u);
}

TEST_F(ChangeFeedNetnsTest, ACutChannelMeansRescanAndAWriteWhileDownReachesDr) {
  makePv("vm1");
  if (HasFatalFailure()) return;
  startEngine();
  ASSERT_TRUE(waitFor([&] { return feed().trusted; })) << feed().lastError;
  ASSERT_TRUE(waitFor([&] { return idle(); }));
  const auto rescans = feed().rescans;
  // The next session waits at the gate: the channel stays down until the write is made.
  gate->holdFrom(gate->sessions() + 1);
  std::vector<pid_t> pids;
  ASSERT_TRUE(waitFor([&] { return !(pids = watchSshPids(primaryRoot.string())).empty(); }, 10s));
  for (pid_t p : pids) ASSERT_EQ(::kill(p, SIGKILL), 0);
  ASSERT_TRUE(waitFor([&] { return gate->held(); }));
  EXPECT_FALSE(feed().trusted);
  // The channel-lost rescan's sync runs now; the write comes after it, with no watcher running.
  ASSERT_TRUE(waitFor([&] { return idle(); }));
  overwrite("vm1", 1234);
  const std::size_t before = points("pvc-vm1");
  gate->release();
  ASSERT_TRUE(waitFor([&] { return points("pvc-vm1") > before && sameData("vm1"); }))
      << engine->statusDocument().dump(2);
  EXPECT_TRUE(waitFor([&] { return feed().trusted; }));
  EXPECT_GE(feed().rescans, rescans + 2);  // channel lost, then the new watcher's start
  EXPECT_EQ(engine->stats().eventsAccepted, 0u);
}

}  // namespace
}  // namespace ocpvdr::testing

namespace ocpvdr::testing {
namespace {

// bench/rpo/run: end-to-end RPO measured. 50 PVs on the primary's XFS export, writers at a steady
// total rate (each write puts the next sequence number into its PV's seq file and one 64 KiB block
// into its disk image); for every write, the time until DR holds a complete recovery point of that
// PV whose seq file has a number at least as large. Default watch settings (settle 2 s, cap 30 s).
// Disabled in the test suite (minutes); BENCH_PVS, BENCH_RATE (writes/s), BENCH_SECONDS.
TEST_F(ChangeFeedNetnsTest, DISABLED_BenchRpo) {
  auto env = [](const char* k, int d) { return std::getenv(k) ? std::atoi(std::getenv(k)) : d; };
  const int nPvs = env("BENCH_PVS", 50), rate = env("BENCH_RATE", 10),
            seconds = env("BENCH_SECONDS", 60);
  cfg.replication.watch.settle = 2s;
  cfg.replication.watch.cap = 30s;
  cfg.replication.bandwidth = env("BENCH_BANDWIDTH", 0);  // bytes/s; 0: unlimited
  rep = std::make_unique<replication::Replicator>(cfg, *gate, clock, *cat, primary.get());
  opts.workers = 4;
  std::vector<std::string> dirs;
  for (int i = 0; i < nPvs; ++i) {
    dirs.push_back("rpo" + std::to_string(i));
    fs::create_directories(primaryRoot / dirs.back());
    std::ofstream(primaryRoot / dirs.back() / "seq") << 0;
    makePv(dirs.back());
    if (HasFatalFailure()) return;
  }
  startEngine();
  ASSERT_TRUE(waitFor([&] { return feed().trusted; })) << feed().lastError;
  ASSERT_TRUE(waitFor([&] { return idle(); }, 600s));
  struct Write {
    std::size_t pv;
    long seq;
    std::chrono::steady_clock::time_point at;
    double latency = -1;
  };
  std::vector<Write> writes;
  std::mutex mu;
  std::atomic<bool> writing{true};
  // The observer: the newest complete point of each PV and the seq it holds.
  std::vector<long> atDr(dirs.size(), 0);
  std::jthread observer([&](std::stop_token st) {
    while (!st.stop_requested()) {
      for (std::size_t i = 0; i < dirs.size(); ++i) {
        auto ids = extent::listPoints((drRoot / ".ocpv-dr/points" / ("pvc-" + dirs[i])).string())
                       .valueOr({});
        if (ids.empty()) continue;
        auto s = readFile(
            (drRoot / ".ocpv-dr/points" / ("pvc-" + dirs[i]) / ids.back() / "tree/seq").string());
        if (!s.ok()) continue;
        long seq = std::atol(s->c_str());
        if (seq <= atDr[i]) continue;
        atDr[i] = seq;
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard l(mu);
        for (auto& w : writes)
          if (w.pv == i && w.seq <= seq && w.latency < 0)
            w.latency = std::chrono::duration<double>(now - w.at).count();
      }
      std::this_thread::sleep_for(50ms);
    }
  });
  const auto start = std::chrono::steady_clock::now();
  long seq = 0;
  std::string block(64 * 1024, 'x');
  for (long n = 0;; ++n) {
    const auto due = start + std::chrono::microseconds(n * 1'000'000 / rate);
    if (due - start >= std::chrono::seconds(seconds)) break;
    std::this_thread::sleep_until(due);
    const std::size_t pv = static_cast<std::size_t>(n) % dirs.size();
    {
      std::fstream img(primaryRoot / dirs[pv] / "disk.img",
                       std::ios::in | std::ios::out | std::ios::binary);
      img.seekp(static_cast<std::streamoff>((n * 65536) % (1 << 20)));
      block[0] = static_cast<char>(n);
      img.write(block.data(), static_cast<std::streamsize>(block.size()));
    }
    {
      std::lock_guard l(mu);
      writes.push_back({pv, ++seq, std::chrono::steady_clock::now()});
    }
    std::ofstream(primaryRoot / dirs[pv] / "seq.tmp") << seq;
    fs::rename(primaryRoot / dirs[pv] / "seq.tmp", primaryRoot / dirs[pv] / "seq");
  }
  writing = false;
  ASSERT_TRUE(waitFor(
      [&] {
        std::lock_guard l(mu);
        return std::all_of(writes.begin(), writes.end(),
                           [](const Write& w) { return w.latency >= 0; });
      },
      300s));
  observer.request_stop();
  std::vector<double> lat;
  for (const auto& w : writes) lat.push_back(w.latency);
  std::sort(lat.begin(), lat.end());
  auto q = [&](double p) {
    return lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * lat.size()))];
  };
  std::printf(
      "[ measured ] RPO bench: %d PVs, %d writes/s for %d s (%zu writes), settle 2 s, cap 30 s, "
      "%d workers, bandwidth %lld B/s: write -> complete DR point p50 %.2f s, p99 %.2f s, "
      "max %.2f s\n",
      nPvs, rate, seconds, lat.size(), opts.workers,
      static_cast<long long>(cfg.replication.bandwidth), q(0.5), q(0.99), lat.back());
}

}  // namespace
}  // namespace ocpvdr::testing
