// bench/forwarder: the same stream of PersistentVolume and VolumeSnapshot events from kube-sim
// through (1) ocpv-dr-forward, the image's program (spool and checkpoint on, as deployed) and (2)
// the Python baseline (bench/baseline/forwarder.py: the kubernetes client's watch + requests.post),
// into the same receiver (tests/support/webhook_receiver, checking the Bearer token).
//
// One run: fresh kube-sim and receiver; start the forwarder; a sentinel PV and VolumeSnapshot
// prove both watches are live; the forwarder is frozen (SIGSTOP) while the stream is written into
// kube-sim (its watch queues fill); SIGCONT; the clock runs from SIGCONT until the receiver has
// every event of the stream. Throughput = events / that time. Peak memory = VmHWM of the
// forwarder process at the end of the run (/proc/<pid>/status); CPU = its utime + stime.
//
// Before the runs, the peers are measured alone so they are shown not to be the bottleneck: the
// event source (the same stream replayed from kube-sim's history to raw watch readers) and the
// receiver (POSTs of a forwarder-sized body, 4 keep-alive connections, and 1 connection per
// request as requests.post does).
#include <httplib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "forwarder/forwarder_process.h"
#include "support/kube_sim_process.h"
#include "support/temp_dir.h"
#include "support/webhook_receiver.h"

namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using ocpvdr::testing::ForwarderConfig;
using ocpvdr::testing::ForwarderProcess;
using ocpvdr::testing::KubeSimOptions;
using ocpvdr::testing::KubeSimProcess;
using ocpvdr::testing::TempDir;
using ocpvdr::testing::WebhookReceiver;

constexpr const char* kToken = "bench-token";

struct Options {
  int runs = 5;
  int pvs = 2000;
  int modifications = 4;
  int deleteEvery = 10;
  int snapshots = 500;
  int writers = 4;
  std::string which = "both";  // ours | python | both
  std::string python = "/usr/bin/python3";
  std::string baseline;
  std::string jsonOut;
  bool peers = true;
  int liveEvents = 1500;  // live phase: events written at liveRate before the backlog
  int liveRate = 300;     // per second; below what both forwarders sustain
};

int expectedEvents(const Options& o) {
  return o.pvs * (1 + o.modifications) +
         (o.deleteEvery > 0 ? (o.pvs + o.deleteEvery - 1) / o.deleteEvery : 0) + o.snapshots * 3;
}

Json pvBody(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "PersistentVolume"},
          {"metadata",
           {{"name", name},
            {"labels", {{"gen", "0"}, {"app", "vm-disks"}}},
            {"annotations", {{"pv.kubernetes.io/provisioned-by", "nfs.csi.k8s.io"}}}}},
          {"spec",
           {{"capacity", {{"storage", "30Gi"}}},
            {"accessModes", {"ReadWriteMany"}},
            {"persistentVolumeReclaimPolicy", "Delete"},
            {"storageClassName", "nfs-dynamic"},
            {"mountOptions", {"nfsvers=4.1", "hard"}},
            {"claimRef",
             {{"kind", "PersistentVolumeClaim"},
              {"namespace", "vms"},
              {"name", "disk-" + name},
              {"apiVersion", "v1"}}},
            {"csi",
             {{"driver", "nfs.csi.k8s.io"},
              {"volumeHandle", "nfs-primary.example.com#exports/ocp#" + name + "##"},
              {"volumeAttributes",
               {{"server", "nfs-primary.example.com"},
                {"share", "/exports/ocp"},
                {"subdir", name},
                {"csi.storage.k8s.io/pvc/name", "disk-" + name},
                {"csi.storage.k8s.io/pvc/namespace", "vms"}}}}}}}};
}

Json snapBody(const std::string& name) {
  return {{"apiVersion", "snapshot.storage.k8s.io/v1"},
          {"kind", "VolumeSnapshot"},
          {"metadata", {{"name", name}, {"namespace", "vms"}}},
          {"spec",
           {{"volumeSnapshotClassName", "csi-nfs-snapclass"},
            {"source", {{"persistentVolumeClaimName", "disk-" + name}}}}}};
}

// Writes the stream into kube-sim with keep-alive clients; returns writes/s.
double generate(KubeSimProcess& sim, const Options& o, int& failures) {
  std::atomic<int> failed{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < o.writers; ++t) {
    ts.emplace_back([&, t] {
      httplib::Client cli(sim.url());
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      const httplib::Headers h = {{"Authorization", std::string("Bearer ") + sim.token()}};
      auto check = [&](const httplib::Result& r) {
        if (!r || r->status >= 300) ++failed;
      };
      const std::string merge = "application/merge-patch+json";
      for (int i = t; i < o.pvs; i += o.writers) {
        const std::string name = "pv-" + std::to_string(i);
        check(cli.Post("/api/v1/persistentvolumes", h, pvBody(name).dump(), "application/json"));
        for (int m = 1; m <= o.modifications; ++m) {
          check(cli.Patch("/api/v1/persistentvolumes/" + name, h,
                          Json{{"metadata", {{"labels", {{"gen", std::to_string(m)}}}}}}.dump(),
                          merge));
        }
        if (o.deleteEvery > 0 && i % o.deleteEvery == 0) {
          check(cli.Delete("/api/v1/persistentvolumes/" + name, h));
        }
      }
      const std::string base = "/apis/snapshot.storage.k8s.io/v1/namespaces/vms/volumesnapshots";
      for (int i = t; i < o.snapshots; i += o.writers) {
        const std::string name = "snap-" + std::to_string(i);
        check(cli.Post(base, h, snapBody(name).dump(), "application/json"));
        for (bool ready : {false, true}) {
          Json st = {{"status",
                      {{"readyToUse", ready},
                       {"boundVolumeSnapshotContentName", "snapcontent-" + name},
                       {"restoreSize", "30Gi"}}}};
          check(cli.Patch(base + "/" + name + "/status", h, st.dump(), merge));
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  failures = failed;
  return expectedEvents(o) / secs;
}

long statusKb(pid_t pid, const std::string& field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

double cpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream in(text.substr(close + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// A child process with stderr to a file; killed with the bench (PR_SET_PDEATHSIG).
pid_t spawn(const std::vector<std::string>& args, const std::string& logPath) {
  std::vector<std::string> a = args;
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  FILE* log = std::fopen(logPath.c_str(), "w");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (log) ::dup2(::fileno(log), STDERR_FILENO);
    if (log) ::dup2(::fileno(log), STDOUT_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (log) std::fclose(log);
  return pid;
}

int stopChild(pid_t pid) {
  ::kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return status;
}

struct RunResult {
  double eventsPerSecond = 0;
  double seconds = 0;
  long peakRssKb = 0;      // VmHWM: the kernel's peak resident set (shared library pages included)
  long peakAnonKb = 0;     // the largest RssAnon sampled every 10 ms: private memory
  long peakFileKb = 0;     // the largest RssFile sampled: mapped files (libraries)
  long idleRssKb = 0;      // VmRSS with both watches live, before the stream
  long livePeakRssKb = 0;  // VmHWM after the live phase
  int liveEvents = 0;
  double cpuSeconds = 0;
  double generatorWritesPerSecond = 0;
  std::size_t received = 0;
};

RunResult runOnce(const std::string& which, const Options& o, int run) {
  TempDir dir("forwarder-bench");
  KubeSimProcess sim(KubeSimOptions{});
  (void)sim.request("POST", "/api/v1/namespaces", R"({"metadata":{"name":"vms"}})");
  WebhookReceiver::Options ro;
  ro.token = kToken;
  ro.keepRequests = false;
  ro.threads = 8;
  WebhookReceiver rx(ro);
  rx.start();
  const std::string kubeconfig = sim.writeKubeconfig((dir / "kubeconfig").string());
  const std::string tokenFile = dir.write("token", kToken).string();

  std::unique_ptr<ForwarderProcess> ours;
  pid_t pid = -1;
  if (which == "ours") {
    ForwarderConfig c;
    c.kubeconfig = kubeconfig;
    c.webhookUrl = rx.url();
    c.tokenFile = tokenFile;
    c.spoolDir = (dir / "spool").string();
    c.spoolMaxEvents = 1'000'000;  // measure delivery, not folding
    const std::string cfg = dir.write("config.yaml", forwarderConfigYaml(c)).string();
    ours = std::make_unique<ForwarderProcess>(
        cfg, (dir / "forwarder.log").string(), 30s,
        std::map<std::string, std::string>{{"MALLOC_ARENA_MAX", "2"}});
    for (int i = 0; i < 200 && ours->get("/readyz").first != 200; ++i) {
      std::this_thread::sleep_for(50ms);
    }
    pid = ours->pid();
  } else {
    pid = spawn({o.python, o.baseline, "--kubeconfig", kubeconfig, "--webhook-url", rx.url(),
                 "--token-file", tokenFile, "--storage-class", "nfs-dynamic"},
                (dir / "python.log").string());
  }

  (void)sim.request("POST", "/api/v1/persistentvolumes", pvBody("sentinel").dump());
  (void)sim.request("POST", "/apis/snapshot.storage.k8s.io/v1/namespaces/vms/volumesnapshots",
                    snapBody("sentinel").dump());
  if (!rx.waitFor([&] { return rx.acceptedCount() >= 2; }, 60s)) {
    throw std::runtime_error(which + ": the sentinels did not arrive; is the forwarder running?");
  }

  RunResult r;
  r.idleRssKb = statusKb(pid, "VmRSS");

  // Live phase: changes at a steady rate both forwarders keep up with; the peak RSS here is the
  // steady-state footprint (kube-sim then sends events in small chunks, as a real API server
  // does; see the note on the backlog phase below).
  if (o.liveEvents > 0) {
    const int perPv = 1 + o.modifications;
    const int pvs = (o.liveEvents + perPv - 1) / perPv;
    httplib::Client cli(sim.url());
    cli.set_keep_alive(true);
    cli.set_tcp_nodelay(true);
    const httplib::Headers h = {{"Authorization", std::string("Bearer ") + sim.token()}};
    const auto gap = std::chrono::microseconds(1'000'000 / std::max(1, o.liveRate));
    auto next = Clock::now();
    int written = 0;
    for (int i = 0; i < pvs; ++i) {
      const std::string name = "live-" + std::to_string(i);
      for (int m = 0; m < perPv; ++m) {
        std::this_thread::sleep_until(next);
        next += gap;
        auto res =
            m == 0
                ? cli.Post("/api/v1/persistentvolumes", h, pvBody(name).dump(), "application/json")
                : cli.Patch("/api/v1/persistentvolumes/" + name, h,
                            Json{{"metadata", {{"labels", {{"gen", std::to_string(m)}}}}}}.dump(),
                            "application/merge-patch+json");
        if (!res || res->status >= 300) throw std::runtime_error("live write failed");
        ++written;
      }
    }
    const std::size_t want = 2 + static_cast<std::size_t>(written);
    if (!rx.waitFor([&] { return rx.acceptedCount() >= want; }, 120s)) {
      throw std::runtime_error(which + ": the live phase did not arrive");
    }
    r.livePeakRssKb = statusKb(pid, "VmHWM");
    r.liveEvents = written;
  }
  const std::size_t before = rx.acceptedCount();
  std::cerr << "  " << which << " idle RSS " << r.idleRssKb / 1024.0 << " MiB; live phase ("
            << r.liveEvents << " events at " << o.liveRate << "/s) peak RSS "
            << r.livePeakRssKb / 1024.0 << " MiB\n";

  // Backlog phase. Note: kube-sim hands a watcher everything queued for it as ONE HTTP chunk, so
  // after SIGCONT the whole backlog (megabytes) arrives as one chunk; a real API server writes
  // one chunk per event. A client that reads whole chunks into memory (urllib3 does) peaks
  // higher here than it would against a real server.
  ::kill(pid, SIGSTOP);
  int failures = 0;
  r.generatorWritesPerSecond = generate(sim, o, failures);
  if (failures > 0)
    throw std::runtime_error("the generator's writes failed: " + std::to_string(failures));
  const double cpuBefore = cpuSeconds(pid);
  const std::size_t target = before + static_cast<std::size_t>(expectedEvents(o));
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling) {
      r.peakAnonKb = std::max(r.peakAnonKb, statusKb(pid, "RssAnon"));
      r.peakFileKb = std::max(r.peakFileKb, statusKb(pid, "RssFile"));
      std::this_thread::sleep_for(10ms);
    }
  });
  const auto t0 = Clock::now();
  ::kill(pid, SIGCONT);
  const bool arrived = rx.waitFor([&] { return rx.acceptedCount() >= target; }, 900s);
  const auto t1 = rx.lastAcceptedAt();
  std::this_thread::sleep_for(200ms);
  sampling = false;
  sampler.join();
  if (!arrived) {
    throw std::runtime_error(which + ": only " + std::to_string(rx.acceptedCount()) + " of " +
                             std::to_string(target) + " events arrived");
  }
  r.received = rx.acceptedCount() - before;
  r.seconds = std::chrono::duration<double>(t1 - t0).count();
  r.eventsPerSecond = expectedEvents(o) / r.seconds;
  r.peakRssKb = statusKb(pid, "VmHWM");
  r.cpuSeconds = cpuSeconds(pid) - cpuBefore;
  if (ours) {
    const int st = ours->signal(SIGTERM);
    if (st != 0) std::cerr << "ocpv-dr-forward exited with " << st << "\n";
  } else {
    (void)stopChild(pid);
  }
  std::cerr << "  " << which << " run " << run << ": " << static_cast<long>(r.eventsPerSecond)
            << " events/s (" << r.seconds << " s), peak RSS " << r.peakRssKb / 1024.0
            << " MiB (anon " << r.peakAnonKb / 1024.0 << ", file " << r.peakFileKb / 1024.0
            << "), CPU " << r.cpuSeconds << " s, received " << r.received << ", generator "
            << static_cast<long>(r.generatorWritesPerSecond) << " writes/s\n";
  return r;
}

// The stream replayed from kube-sim's history to two raw watch readers (PVs, snapshots), as fast
// as they read.
double measureSource(const Options& o) {
  KubeSimProcess sim(KubeSimOptions{});
  (void)sim.request("POST", "/api/v1/namespaces", R"({"metadata":{"name":"vms"}})");
  const std::string from = sim.admin("GET", "/admin/stats").value("resourceVersion", "0");
  int failures = 0;
  (void)generate(sim, o, failures);
  const int pvEvents = o.pvs * (1 + o.modifications) +
                       (o.deleteEvery > 0 ? (o.pvs + o.deleteEvery - 1) / o.deleteEvery : 0);
  const int snapEvents = o.snapshots * 3;
  auto reader = [&](const std::string& path, int want) {
    httplib::Client cli(sim.url());
    cli.set_read_timeout(120);
    int lines = 0;
    auto res = cli.Get(path + "?watch=true&resourceVersion=" + from,
                       {{"Authorization", std::string("Bearer ") + sim.token()}},
                       [&](const char* data, size_t n) {
                         lines += static_cast<int>(std::count(data, data + n, '\n'));
                         return lines < want;
                       });
    (void)res;
  };
  const auto t0 = Clock::now();
  std::thread a([&] { reader("/api/v1/persistentvolumes", pvEvents); });
  std::thread b([&] { reader("/apis/snapshot.storage.k8s.io/v1/volumesnapshots", snapEvents); });
  a.join();
  b.join();
  return expectedEvents(o) / std::chrono::duration<double>(Clock::now() - t0).count();
}

// The receiver alone: `n` POSTs of a forwarder-sized body.
double measureReceiver(int n, int threads, bool newConnectionEachTime) {
  WebhookReceiver::Options ro;
  ro.token = kToken;
  ro.keepRequests = false;
  WebhookReceiver rx(ro);
  rx.start();
  Json body = {{"id", "u:1:MODIFIED"},
               {"kind", "PersistentVolume"},
               {"apiVersion", "v1"},
               {"type", "MODIFIED"},
               {"cluster", "primary"},
               {"initial", false},
               {"observedAt", "2026-11-24T00:00:00.000Z"},
               {"resource", pvBody("pv-1")}};
  const std::string text = body.dump();
  const auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      const httplib::Headers h = {{"Authorization", std::string("Bearer ") + kToken}};
      std::unique_ptr<httplib::Client> keep;
      for (int i = t; i < n; i += threads) {
        if (newConnectionEachTime || !keep) {
          keep = std::make_unique<httplib::Client>("127.0.0.1", rx.port());
          keep->set_keep_alive(!newConnectionEachTime);
          keep->set_tcp_nodelay(true);
        }
        keep->Post("/", h, text, "application/json");
      }
    });
  }
  for (auto& t : ts) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  return rx.acceptedCount() / secs;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.baseline = std::string(OCPVDR_SOURCE_DIR) + "/bench/baseline/forwarder.py";
  CLI::App app{"Forwarder benchmark: ocpv-dr-forward vs the Python baseline"};
  app.add_option("--runs", o.runs, "Runs per forwarder (medians are reported)");
  app.add_option("--pvs", o.pvs, "PersistentVolumes in the stream");
  app.add_option("--modifications", o.modifications, "Modifications per PV");
  app.add_option("--delete-every", o.deleteEvery, "Delete every Nth PV (0: none)");
  app.add_option("--snapshots", o.snapshots, "VolumeSnapshots (create + 2 status updates each)");
  app.add_option("--which", o.which, "ours | python | both")
      ->check(CLI::IsMember({"ours", "python", "both"}));
  app.add_option("--python", o.python, "Interpreter for the baseline (Debian's)");
  app.add_option("--baseline", o.baseline, "The baseline script");
  app.add_option("--json", o.jsonOut, "Also write the results here (JSON)");
  app.add_flag("!--no-peers", o.peers, "Skip measuring the source and receiver alone");
  app.add_option("--live-events", o.liveEvents, "Events of the live phase (0: none)");
  app.add_option("--live-rate", o.liveRate, "Writes per second in the live phase");
  CLI11_PARSE(app, argc, argv);
  std::signal(SIGPIPE, SIG_IGN);

  Json out = {{"events", expectedEvents(o)},
              {"pvs", o.pvs},
              {"modifications", o.modifications},
              {"snapshots", o.snapshots},
              {"runs", o.runs}};
  try {
    if (o.peers) {
      std::cerr << "peers alone:\n";
      std::vector<double> src;
      for (int i = 0; i < 3; ++i) src.push_back(measureSource(o));
      out["source_events_per_second"] = median(src);
      std::cerr << "  source (history replay to raw watch readers): " << median(src)
                << " events/s\n";
      out["receiver_keepalive_4_per_second"] = measureReceiver(expectedEvents(o), 4, false);
      out["receiver_new_connection_per_second"] = measureReceiver(expectedEvents(o) / 4, 1, true);
      std::cerr << "  receiver, 4 keep-alive connections: "
                << out["receiver_keepalive_4_per_second"] << " POST/s; 1 connection per request: "
                << out["receiver_new_connection_per_second"] << " POST/s\n";
    }
    std::vector<std::string> kinds;
    if (o.which != "python") kinds.push_back("ours");
    if (o.which != "ours") kinds.push_back("python");
    struct Series {
      std::vector<double> rate, rss, anon, file, cpu, idle, live;
    };
    std::map<std::string, Series> series;
    // Runs alternate between the forwarders so both see the same machine load.
    for (int i = 0; i < o.runs; ++i) {
      for (const auto& k : kinds) {
        RunResult r = runOnce(k, o, i + 1);
        Series& s = series[k];
        s.rate.push_back(r.eventsPerSecond);
        s.rss.push_back(static_cast<double>(r.peakRssKb) / 1024.0);
        s.anon.push_back(static_cast<double>(r.peakAnonKb) / 1024.0);
        s.file.push_back(static_cast<double>(r.peakFileKb) / 1024.0);
        s.cpu.push_back(r.cpuSeconds);
        s.idle.push_back(static_cast<double>(r.idleRssKb) / 1024.0);
        s.live.push_back(static_cast<double>(r.livePeakRssKb) / 1024.0);
      }
    }
    for (const auto& k : kinds) {
      const Series& s = series[k];
      out[k] = {{"events_per_second", s.rate},
                {"peak_rss_mib", s.rss},
                {"peak_anon_mib", s.anon},
                {"peak_file_mib", s.file},
                {"cpu_seconds", s.cpu},
                {"idle_rss_mib", s.idle},
                {"live_peak_rss_mib", s.live},
                {"median_events_per_second", median(s.rate)},
                {"median_peak_rss_mib", median(s.rss)},
                {"median_peak_anon_mib", median(s.anon)},
                {"median_peak_file_mib", median(s.file)},
                {"median_cpu_seconds", median(s.cpu)},
                {"median_idle_rss_mib", median(s.idle)},
                {"median_live_peak_rss_mib", median(s.live)}};
    }
  } catch (const std::exception& e) {
    std::cerr << "forwarder_bench: " << e.what() << "\n";
    return 1;
  }
  if (out.contains("ours") && out.contains("python")) {
    out["throughput_ratio"] = out["ours"]["median_events_per_second"].get<double>() /
                              out["python"]["median_events_per_second"].get<double>();
    out["memory_ratio"] = out["ours"]["median_peak_rss_mib"].get<double>() /
                          out["python"]["median_peak_rss_mib"].get<double>();
    out["anon_memory_ratio"] = out["ours"]["median_peak_anon_mib"].get<double>() /
                               out["python"]["median_peak_anon_mib"].get<double>();
    out["live_memory_ratio"] = out["ours"]["median_live_peak_rss_mib"].get<double>() /
                               out["python"]["median_live_peak_rss_mib"].get<double>();
    out["cpu_ratio"] = out["ours"]["median_cpu_seconds"].get<double>() /
                       out["python"]["median_cpu_seconds"].get<double>();
  }
  std::cout << out.dump(2) << "\n";
  if (!o.jsonOut.empty()) std::ofstream(o.jsonOut) << out.dump(2) << "\n";
  return 0;
}
