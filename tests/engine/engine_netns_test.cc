// The serve engine as a whole: kube-sim as the primary API, real rsync over real ssh between the
// network-namespace hosts (rsync and ssh run "on" dr-nfs), real HTTP and SQLite. Needs root
// (skips loudly otherwise).
//   - a burst of 100 events for one PV causes at most 2 syncs
//   - events for 50 PVs run in parallel up to the worker count (max concurrent rsyncs measured)
//   - a failing PV backs off (growing intervals) and recovers once fixed
//   - the engine's own watch of the primary syncs a PV without any POST
//   - reconcile finds and syncs a PV whose events were never delivered
//   - the circuit breaker trips when the primary list comes back empty (DR untouched)
//   - the three report files are written and the HTML page renders in headless Chromium
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "core/curl_http.h"
#include "core/files.h"
#include "engine/engine.h"
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

// support/eventually.h with this suite's limit (60s) and poll interval (10ms).
template <class P>
bool waitFor(P pred, std::chrono::milliseconds limit = 60s) {
  return eventually(pred, limit, 10ms);
}

// Records every rsync transfer (start, end, source) and the most that ran at once.
class RecordingRunner final : public ProcessRunner {
 public:
  explicit RecordingRunner(ProcessRunner& inner) : inner_(inner) {}
  struct Call {
    std::chrono::steady_clock::time_point start, end;
    std::string source;
  };
  Result<ProcessResult> run(const ProcessSpec& spec, std::stop_token stop) override {
    const bool rsync = spec.argv.size() > 2 && spec.argv[0] == "rsync";
    if (!rsync) return inner_.run(spec, stop);
    Call c;
    c.start = std::chrono::steady_clock::now();
    c.source = spec.argv[spec.argv.size() - 2];
    {
      std::lock_guard l(mu_);
      maxActive_ = std::max(maxActive_, ++active_);
    }
    auto r = inner_.run(spec, stop);
    c.end = std::chrono::steady_clock::now();
    std::lock_guard l(mu_);
    --active_;
    calls_.push_back(c);
    return r;
  }
  std::vector<Call> callsFor(const std::string& dir) {
    std::lock_guard l(mu_);
    std::vector<Call> out;
    for (const auto& c : calls_)
      if (c.source.find("/" + dir + "/") != std::string::npos) out.push_back(c);
    return out;
  }
  int maxActive() {
    std::lock_guard l(mu_);
    return maxActive_;
  }
  void resetMax() {
    std::lock_guard l(mu_);
    maxActive_ = active_;
  }

 private:
  ProcessRunner& inner_;
  std::mutex mu_;
  int active_ = 0, maxActive_ = 0;
  std::vector<Call> calls_;
};

class EngineNetnsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { initHttpGlobal(); }

  void SetUp() override {
    auto h = NetnsHosts::create();
    if (!h.ok()) GTEST_SKIP() << netnsSkipBanner(h.error());
    hosts = std::move(h).value();
    KubeSimOptions ko;
    ko.listen = hosts->bridgeIp() + ":0";
    sim = std::make_unique<KubeSimProcess>(ko);
    cfg = hosts->config();
    cfg.primary.kubernetes.kubeconfig =
        sim->writeKubeconfig((hosts->dir() / "primary.kubeconfig").string());
    cfg.server.tokenFile = (hosts->dir() / "token").string();
    std::ofstream(cfg.server.tokenFile) << "netns-t0ken\n";
    auto c = catalog::Catalog::open(cfg.catalog.path);
    ASSERT_TRUE(c.ok()) << c.error().describe();
    cat = std::move(c).value();
    onDr = std::make_unique<NetnsProcessRunner>(real, hosts->dr().ns);
    recorder = std::make_unique<RecordingRunner>(*onDr);
    auto conn = kube::connect(cfg.primary.kubernetes, clock, curlHttpClients());
    ASSERT_TRUE(conn.ok()) << conn.error().describe();
    kube = std::make_unique<kube::KubeConnection>(std::move(*conn));
    primary = std::make_unique<engine::KubePrimary>(*kube->client);
    rep = std::make_unique<replication::Replicator>(cfg, *recorder, clock, *cat, primary.get());
    opts.listen = "127.0.0.1:0";
    opts.workers = 4;
    opts.settle = 500ms;
    opts.schedule = false;
    opts.backoffBase = 200ms;
    opts.backoffMax = 3s;
    opts.shutdownGrace = 5s;
    opts.reportDir = (hosts->dir() / "reports").string();
  }

  void TearDown() override {
    if (engine) engine->shutdown();
    engine.reset();
    if (rep) rep->closeConnections();
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
    engine = std::make_unique<engine::Engine>(cfg, deps, opts);
    Status st = engine->start();
    ASSERT_TRUE(st.ok()) << st.error().describe();
    url = "http://127.0.0.1:" + std::to_string(engine->port());
  }

  // A PV (directory with data at the primary) known to kube-sim.
  Json makePv(const std::string& dir, std::size_t bytes = 20000, bool inApi = true) {
    writeRandomFile(hosts->primary().exportDir / dir / "disk.img", bytes,
                    static_cast<unsigned>(std::hash<std::string>{}(dir)));
    Json pv = inTreePv("pvc-" + dir, "nfs-primary.example.com", "/exports/ocp/" + dir);
    pv.erase("status");
    pv["metadata"].erase("uid");
    if (!inApi) return pv;
    Json created = sim->request("POST", "/api/v1/persistentvolumes", pv.dump());
    EXPECT_EQ(created["metadata"]["name"], pv["metadata"]["name"]) << created.dump();
    return created;
  }

  int post(CurlHttpClient& http, const Json& pv, const std::string& type, const std::string& id) {
    Json e{{"kind", "PersistentVolume"},
           {"apiVersion", "v1"},
           {"type", type},
           {"cluster", "primary"},
           {"resource", pv}};
    if (!id.empty()) e["id"] = id;
    HttpRequest req;
    req.method = "POST";
    req.url = url + "/v1/events";
    req.body = e.dump();
    req.headers = {{"Authorization", "Bearer netns-t0ken"}, {"Content-Type", "application/json"}};
    auto r = http.send(req);
    return r.ok() ? r->status : 0;
  }

  bool idle() {
    auto& q = engine->queue();
    return q.len() == 0 && q.waitingLen() == 0 && q.processingLen() == 0 &&
           engine->stats().inFlight == 0;
  }
  bool synced(const std::string& pv) {
    auto row = cat->replica(pv);
    return row.ok() && row->has_value() && (*row)->lastSuccess.has_value();
  }
  bool sameData(const std::string& dir) {
    return treeDigest(hosts->primary().exportDir / dir) == treeDigest(hosts->dr().exportDir / dir);
  }

  std::unique_ptr<NetnsHosts> hosts;
  std::unique_ptr<KubeSimProcess> sim;
  config::Config cfg;
  RealClock clock;
  RealProcessRunner real;
  std::unique_ptr<NetnsProcessRunner> onDr;
  std::unique_ptr<RecordingRunner> recorder;
  std::unique_ptr<catalog::Catalog> cat;
  std::unique_ptr<kube::KubeConnection> kube;
  std::unique_ptr<engine::KubePrimary> primary;
  std::unique_ptr<replication::Replicator> rep;
  MetricsRegistry metrics;
  engine::EngineOptions opts;
  std::unique_ptr<engine::Engine> engine;
  std::string url;
};

TEST_F(EngineNetnsTest, ABurstOf100EventsForOnePvCausesAtMostTwoSyncs) {
  startEngine();
  Json pv = makePv("burst", 1 << 20);
  // 100 MODIFIED events (distinct ids), from 4 senders at once, as fast as they go.
  std::vector<std::jthread> senders;
  std::atomic<int> accepted{0};
  auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < 4; ++s)
    senders.emplace_back([&, s] {
      CurlHttpClient http;
      for (int i = s; i < 100; i += 4)
        if (post(http, pv, "MODIFIED", "burst-uid:" + std::to_string(1000 + i) + ":MODIFIED") ==
            202)
          ++accepted;
    });
  senders.clear();
  auto burst = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(accepted, 100);
  ASSERT_TRUE(waitFor([&] { return synced("pvc-burst") && idle(); }));
  const int syncs = engine->stats().syncsPerKey["pv/pvc-burst"];
  const auto rsyncs = recorder->callsFor("burst").size();
  std::cout << "[ measured ] 100 events in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(burst).count() << " ms -> "
            << syncs << " sync(s), " << rsyncs << " rsync run(s)\n";
  EXPECT_GE(syncs, 1);
  EXPECT_LE(syncs, 2);
  EXPECT_LE(rsyncs, 2u);
  EXPECT_TRUE(sameData("burst"));
  // Every event id was covered by a sync and is recorded: a re-send is a duplicate.
  for (int i = 0; i < 100; i += 9)
    EXPECT_TRUE(
        cat->eventProcessed("burst-uid:" + std::to_string(1000 + i) + ":MODIFIED").valueOr(false))
        << i;
  CurlHttpClient http;
  EXPECT_EQ(post(http, pv, "MODIFIED", "burst-uid:1000:MODIFIED"), 200);
}

TEST_F(EngineNetnsTest, EventsFor50PvsRunInParallelUpToTheWorkerCount) {
  std::vector<Json> pvs;
  for (int i = 0; i < 50; ++i) pvs.push_back(makePv("par" + std::to_string(i), 256 * 1024));
  startEngine();
  CurlHttpClient http;
  for (int i = 0; i < 50; ++i) ASSERT_EQ(post(http, pvs[i], "ADDED", ""), 202);
  ASSERT_TRUE(waitFor([&] {
    for (int i = 0; i < 50; ++i)
      if (!synced("pvc-par" + std::to_string(i))) return false;
    return idle();
  }));
  const int maxConcurrent = recorder->maxActive();
  std::cout << "[ measured ] 50 PVs, " << opts.workers
            << " workers: max concurrent rsyncs = " << maxConcurrent
            << ", engine max in flight = " << engine->stats().maxInFlight << "\n";
  EXPECT_EQ(maxConcurrent, opts.workers);
  EXPECT_EQ(engine->stats().maxInFlight, opts.workers);
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(sameData("par" + std::to_string(i))) << i;
  EXPECT_EQ(engine->stats().syncsStarted, 50u);
}

TEST_F(EngineNetnsTest, AFailingPvBacksOffAndRecoversOnceFixed) {
  startEngine();
  // The PV exists in the API but its directory is not on the primary yet: each attempt's guard
  // reports "missing", a retryable error.
  Json pv = makePv("flaky");
  fs::remove_all(hosts->primary().exportDir / "flaky");
  CurlHttpClient http;
  ASSERT_EQ(post(http, pv, "ADDED", "flaky:1:ADDED"), 202);
  ASSERT_TRUE(waitFor([&] { return recorder->callsFor("flaky").size() >= 4; }));
  auto calls = recorder->callsFor("flaky");
  std::vector<double> gaps;
  for (std::size_t i = 1; i < calls.size(); ++i)
    gaps.push_back(std::chrono::duration<double>(calls[i].start - calls[i - 1].end).count());
  std::cout << "[ measured ] gaps between failed attempts (s):";
  for (double g : gaps) std::cout << " " << g;
  std::cout << "\n";
  // Backoff 200 ms, 400 ms, 800 ms, ...: each gap at least the backoff, and growing.
  ASSERT_GE(gaps.size(), 3u);
  EXPECT_GE(gaps[0], 0.19);
  EXPECT_GE(gaps[1], 0.39);
  EXPECT_GE(gaps[2], 0.79);
  EXPECT_GT(gaps[1], gaps[0]);
  EXPECT_GT(gaps[2], gaps[1]);
  EXPECT_FALSE(synced("pvc-flaky"));
  EXPECT_GE(engine->queue().numRequeues("pv/pvc-flaky"), 3);

  writeRandomFile(hosts->primary().exportDir / "flaky/disk.img", 50000, 9);  // fixed
  ASSERT_TRUE(waitFor([&] { return synced("pvc-flaky"); }, 30s));
  EXPECT_TRUE(sameData("flaky"));
  ASSERT_TRUE(waitFor([&] { return engine->queue().numRequeues("pv/pvc-flaky") == 0; }));
  EXPECT_TRUE(cat->eventProcessed("flaky:1:ADDED").valueOr(false));
}

TEST_F(EngineNetnsTest, TheEnginesOwnWatchSyncsWithoutAnyEventPost) {
  opts.watchPrimary = true;
  opts.settle = 100ms;
  startEngine();
  makePv("watched");
  ASSERT_TRUE(waitFor([&] { return synced("pvc-watched"); }));
  EXPECT_TRUE(sameData("watched"));
  // Deleting the PV at the primary reaches the engine as a DELETED event: quarantined.
  sim->request("DELETE", "/api/v1/persistentvolumes/pvc-watched");
  ASSERT_TRUE(waitFor([&] {
    auto r = cat->replica("pvc-watched");
    return r.ok() && r->has_value() && (*r)->state == "quarantined";
  }));
  EXPECT_FALSE(fs::exists(hosts->dr().exportDir / "watched"));
  EXPECT_EQ(engine->stats().eventsAccepted, 0u);  // nothing was POSTed
}

TEST_F(EngineNetnsTest, ReconcileFindsAPvWhoseEventsWereNeverDelivered) {
  startEngine();
  makePv("silent", 300000);  // created at the primary; no event ever reaches the engine
  makePv("known");
  CurlHttpClient http;
  ASSERT_EQ(post(http, sim->request("GET", "/api/v1/persistentvolumes/pvc-known"), "ADDED", ""),
            202);
  ASSERT_TRUE(waitFor([&] { return synced("pvc-known") && idle(); }));
  EXPECT_FALSE(synced("pvc-silent"));

  auto report = engine->runReconcile("api");
  EXPECT_EQ(report.exitCode(), 0) << report.errorJson().dump();
  EXPECT_TRUE(synced("pvc-silent"));
  EXPECT_TRUE(sameData("silent"));
  EXPECT_EQ(report.totals.selected, 2);
  EXPECT_EQ(report.totals.synced, 1);     // pvc-silent
  EXPECT_EQ(report.totals.unchanged, 1);  // pvc-known
  EXPECT_TRUE(fs::exists(report.files.json));
  Json status = engine->statusDocument();
  EXPECT_EQ(status["last_reconcile"]["totals"]["synced"], 1);
}

TEST_F(EngineNetnsTest, CircuitBreakerTripsWhenThePrimaryListComesBackEmpty) {
  startEngine();
  for (const char* d : {"b1", "b2", "b3"}) makePv(d);
  auto first = engine->runReconcile("api");
  ASSERT_EQ(first.exitCode(), 0) << first.errorJson().dump();
  ASSERT_EQ(first.totals.synced, 3);
  auto before = treeDigest(hosts->dr().exportDir);

  // The API comes back with no PersistentVolumes at all (wiped, wrong cluster, selector typo).
  for (const char* d : {"b1", "b2", "b3"})
    sim->request("DELETE", std::string("/api/v1/persistentvolumes/pvc-") + d);
  auto report = engine->runReconcile("api");
  EXPECT_TRUE(report.pvListOk);
  EXPECT_TRUE(report.breaker.tripped);
  EXPECT_EQ(report.breaker.replicas, 3);
  EXPECT_EQ(report.exitCode(), 3);
  EXPECT_EQ(report.orphans.size(), 3u);
  for (const auto& o : report.orphans) EXPECT_EQ(o.action, "held");
  EXPECT_EQ(treeDigest(hosts->dr().exportDir), before) << "nothing may be quarantined";
  for (const char* d : {"b1", "b2", "b3"})
    EXPECT_EQ((*cat->replica(std::string("pvc-") + d))->state, "active");
  std::string html = readFile(report.files.html).valueOr("");
  EXPECT_NE(html.find("Circuit breaker tripped"), std::string::npos);
}

TEST_F(EngineNetnsTest, ReportFilesAreWrittenAndTheHtmlRendersInHeadlessChromium) {
  startEngine();
  for (const char* d : {"r1", "r2", "r3", "r4"}) makePv(d, 100000);
  Json missing = makePv("r5");
  fs::remove_all(hosts->primary().exportDir / "r5");  // this one fails (retryable)
  auto report = engine->runReconcile("api");
  EXPECT_EQ(report.exitCode(), 4);
  EXPECT_EQ(report.totals.failed, 1);
  ASSERT_FALSE(report.files.json.empty());
  for (const auto& f : {report.files.json, report.files.markdown, report.files.html})
    ASSERT_TRUE(fs::exists(f)) << f;
  Json doc = Json::parse(readFile(report.files.json).valueOr("null"));
  EXPECT_EQ(doc["pvs"].size(), 5u);
  EXPECT_EQ(doc["pvs"][0]["pv"], "pvc-r5");  // failures first
  EXPECT_NE(readFile(report.files.markdown).valueOr("").find("| pvc-r3 | synced |"),
            std::string::npos);

  const std::string chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) {
    std::cerr << "\n*** SKIPPED: " << chromium
              << " is not installed; the HTML report was not rendered ***\n\n";
    GTEST_SKIP() << chromium << " is not installed (apt-get install chromium)";
  }
  TempDir browserDir("ocpvdr-chromium");
  auto chromiumArgv = [&](const std::string& profile, std::vector<std::string> extra) {
    std::vector<std::string> argv{chromium,
                                  "--headless",
                                  "--no-sandbox",
                                  "--disable-gpu",
                                  "--disable-quic",
                                  "--no-first-run",
                                  "--disable-background-networking",
                                  "--disable-component-update",
                                  "--disable-sync",
                                  "--user-data-dir=" + (browserDir.path() / profile).string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("file://" + report.files.html);
    return argv;
  };
  const fs::path png = browserDir.path() / "report.png";
  ProcessSpec shot;
  shot.argv =
      chromiumArgv("profile-shot", {"--screenshot=" + png.string(), "--window-size=1280,900"});
  shot.timeout = 120s;
  auto s = real.run(shot);
  ASSERT_TRUE(s.ok()) << s.error().describe();
  ASSERT_TRUE(fs::exists(png)) << "chromium wrote no screenshot; stderr tail: "
                               << s->err.substr(s->err.size() > 2000 ? s->err.size() - 2000 : 0);
  const auto pngSize = fs::file_size(png);
  std::string head = readFile(png.string()).valueOr("").substr(0, 8);
  EXPECT_EQ(head, std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_GT(pngSize, 20'000u) << "a 1280x900 rendering of the report is not this small";
  std::cout << "[ measured ] screenshot " << png.filename() << ": " << pngSize << " bytes\n";

  ProcessSpec dump;
  dump.argv = chromiumArgv("profile-dom", {"--dump-dom"});
  dump.timeout = 120s;
  auto d = real.run(dump);
  ASSERT_TRUE(d.ok()) << d.error().describe();
  const std::string& dom = d->out;
  int rows = 0;
  for (std::size_t p = dom.find("class=\"pv-row"); p != std::string::npos;
       p = dom.find("class=\"pv-row", p + 1))
    ++rows;
  EXPECT_EQ(rows, 5) << dom.substr(0, 2000);
  for (const char* pv : {"pvc-r1", "pvc-r2", "pvc-r3", "pvc-r4", "pvc-r5"})
    EXPECT_NE(dom.find(std::string("data-pv=\"") + pv + "\""), std::string::npos) << pv;
  EXPECT_NE(dom.find("pv-row failed"), std::string::npos);
}

}  // namespace
}  // namespace ocpvdr::testing
