// reconcile_bench: the two helpers of bench/reconcile/run.
//
//   reconcile_bench env ENV_FILE [--pvs N] [--files N] [--file-size BYTES] [--images N]
//                                [--image-size BYTES] [--xfs-gib G --mover-local PATH]
//     Brings up the network-namespace ssh hosts of the tests (primary-nfs, dr-nfs) and kube-sim on
//     the test bridge, writes the data (N PV directories of small files, plus sparse VM disk
//     images), creates one PersistentVolume per directory in kube-sim, writes an ocpv-dr config
//     (JSON, which is YAML) and a shell env file, prints "ready" and keeps everything up until
//     stdin reaches EOF (or SIGTERM/SIGINT); then tears it all down.
//     --xfs-gib G (issue 16): each site's export directory is a loop-mounted XFS (reflink) of G GiB
//     (sparse images under /var/tmp, removed at teardown) and the config selects the extent mover
//     (replication.mover: extent; ocpv-dr-mover from --mover-local, installed by ocpv-dr on the
//     primary under the hosts' directory).
//
//   reconcile_bench load --url URL --token T --rate R --seconds S --pvs N --images M [--keys K]
//     POSTs R events/s for S seconds to `ocpv-dr serve` (MODIFIED events round-robin over the
//     benchmark's PVs — or the first K of them — with distinct ids), waits until the engine's queue
//     is idle, and prints one JSON line with what was sent and the engine's event-to-sync-start
//     quantiles from /metrics.
// Needs root (network namespaces).
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <regex>
#include <thread>

#include "config/config.h"
#include "core/curl_http.h"
#include "core/json_util.h"
#include "support/kube_sim_process.h"
#include "support/netns_hosts.h"

namespace fs = std::filesystem;
using namespace ocpvdr;
using namespace std::chrono_literals;

namespace {

const char* kServer = "nfs-primary.example.com";

std::string pvDir(bool image, int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, image ? "bench-img%02d" : "bench-pv%03d", i);
  return buf;
}

Json pvObject(const std::string& dir) {
  return Json{{"apiVersion", "v1"},
              {"kind", "PersistentVolume"},
              {"metadata", {{"name", "pvc-" + dir}}},
              {"spec",
               {{"storageClassName", "nfs-dynamic"},
                {"accessModes", {"ReadWriteMany"}},
                {"capacity", {{"storage", "10Gi"}}},
                {"persistentVolumeReclaimPolicy", "Delete"},
                {"claimRef", {{"namespace", "bench"}, {"name", dir}}},
                {"nfs", {{"server", kServer}, {"path", "/exports/ocp/" + dir}}}}}};
}

std::map<std::string, std::string> parseArgs(int argc, char** argv, int from) {
  std::map<std::string, std::string> out;
  for (int i = from; i + 1 < argc; i += 2) out[argv[i]] = argv[i + 1];
  return out;
}

long long argInt(const std::map<std::string, std::string>& a, const std::string& k, long long d) {
  auto it = a.find(k);
  return it == a.end() ? d : std::stoll(it->second);
}

void writeRandom(const fs::path& p, std::size_t size, std::mt19937_64& rng) {
  std::string buf(size, '\0');
  for (std::size_t i = 0; i + 8 <= size; i += 8) {
    auto v = rng();
    std::memcpy(&buf[i], &v, 8);
  }
  std::ofstream(p, std::ios::binary).write(buf.data(), static_cast<std::streamsize>(size));
}

// A loop-mounted XFS over a directory for the benchmark's life (umount, losetup -d, rm at the end).
class LoopXfs {
 public:
  LoopXfs(const fs::path& mountOn, long long gib, const std::string& tag) : dir_(mountOn) {
    image_ = "/var/tmp/ocpvdr-bench-reconcile-" + std::to_string(::getpid()) + "-" + tag + ".img";
    std::string cmd = "truncate -s " + std::to_string(gib) + "G " + image_ +
                      " && mkfs.xfs -q -f -m reflink=1 " + image_ + " && mkdir -p " +
                      dir_.string() + " && mount -o loop " + image_ + " " + dir_.string();
    ok_ = std::system(cmd.c_str()) == 0;
  }
  ~LoopXfs() {
    std::string cmd = "umount " + dir_.string() + " 2>/dev/null || umount -l " + dir_.string() +
                      "; rm -f " + image_;
    if (std::system(cmd.c_str()) != 0)
      std::cerr << "reconcile_bench: cleanup of " << image_ << " failed\n";
  }
  bool ok() const { return ok_; }

 private:
  fs::path dir_;
  std::string image_;
  bool ok_ = false;
};

int env(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: reconcile_bench env ENV_FILE [--pvs N] ...\n";
    return 2;
  }
  auto a = parseArgs(argc, argv, 3);
  const int pvs = static_cast<int>(argInt(a, "--pvs", 200));
  const int files = static_cast<int>(argInt(a, "--files", 200));
  const auto fileSize = static_cast<std::size_t>(argInt(a, "--file-size", 4096));
  const int images = static_cast<int>(argInt(a, "--images", 10));
  const auto imageSize = static_cast<std::uintmax_t>(argInt(a, "--image-size", 1LL << 30));
  const long long xfsGib = argInt(a, "--xfs-gib", 0);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, nullptr);

  // With --xfs-gib the exports are mounted BEFORE the hosts start: each host's sshd runs in its own
  // mount namespace (ip netns exec), which sees only the mounts that existed when it started.
  struct DirGuard {
    std::string dir;
    ~DirGuard() {
      if (!dir.empty()) fs::remove_all(dir);
    }
  } ownDir;
  std::unique_ptr<LoopXfs> primaryFs, drFs;  // unmounted after the hosts are gone
  testing::NetnsOptions no;
  if (xfsGib > 0) {
    std::string tmpl = "/tmp/ocpvdr-bench-reconcile-hosts-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) return 1;
    ownDir.dir = no.dir = tmpl;
    primaryFs =
        std::make_unique<LoopXfs>(fs::path(tmpl) / "primary/srv/nfs/ocp", xfsGib, "primary");
    drFs = std::make_unique<LoopXfs>(fs::path(tmpl) / "dr/srv/nfs/ocp", xfsGib + xfsGib / 2, "dr");
    if (!primaryFs->ok() || !drFs->ok()) {
      std::cerr << "reconcile_bench: cannot make the XFS exports\n";
      return 1;
    }
  }
  auto created = testing::NetnsHosts::create(no);
  if (!created.ok()) {
    std::cerr << "reconcile_bench: " << created.error().describe() << "\n";
    return 1;
  }
  auto& hosts = **created;
  testing::KubeSimOptions ko;
  ko.listen = hosts.bridgeIp() + ":0";
  ko.compactionWindow = 10000;
  testing::KubeSimProcess sim(ko);

  std::cerr << "reconcile_bench: writing " << pvs << " x " << files << " files and " << images
            << " sparse images\n";
  std::mt19937_64 rng(42);
  std::string dirs;
  for (int i = 0; i < pvs; ++i) {
    const std::string d = pvDir(false, i);
    fs::path p = hosts.primary().exportDir / d;
    for (int f = 0; f < files; ++f) {
      fs::path sub = p / ("d" + std::to_string(f / 50));
      fs::create_directories(sub);
      writeRandom(sub / ("f" + std::to_string(f)), fileSize, rng);
    }
    dirs += (dirs.empty() ? "" : " ") + d;
  }
  for (int i = 0; i < images; ++i) {
    const std::string d = pvDir(true, i);
    fs::path p = hosts.primary().exportDir / d;
    fs::create_directories(p);
    { std::ofstream img(p / "disk.img", std::ios::binary); }
    fs::resize_file(p / "disk.img", imageSize);
    // Data at the start and the end only: a mostly sparse VM disk.
    std::string head(1 << 20, 'x');
    std::fstream img(p / "disk.img", std::ios::binary | std::ios::in | std::ios::out);
    img.write(head.data(), static_cast<std::streamsize>(head.size()));
    img.seekp(static_cast<std::streamoff>(imageSize - head.size()));
    img.write(head.data(), static_cast<std::streamsize>(head.size()));
    dirs += " " + d;
  }
  std::istringstream all(dirs);
  for (std::string d; all >> d;) {
    Json r = sim.request("POST", "/api/v1/persistentvolumes", pvObject(d).dump());
    if (r.value("kind", "") == "Status") {
      std::cerr << "reconcile_bench: kube-sim refused PV " << d << ": " << r.dump() << "\n";
      return 1;
    }
  }

  config::Config cfg = hosts.config();
  cfg.primary.kubernetes.kubeconfig = sim.writeKubeconfig((hosts.dir() / "kubeconfig").string());
  const fs::path token = hosts.dir() / "token";
  std::ofstream(token) << "bench-t0ken\n";
  cfg.server.tokenFile = token.string();
  cfg.schedule.enabled = false;
  if (xfsGib > 0) {
    cfg.replication.mover = config::MoverKind::Extent;
    cfg.replication.moverLocalPath = a.count("--mover-local") ? a["--mover-local"] : "";
    cfg.replication.moverPath = (hosts.dir() / "libexec/ocpv-dr-mover").string();
  }
  const fs::path configPath = hosts.dir() / "config.json";
  std::ofstream(configPath) << config::toJson(cfg).dump(2);

  std::ofstream envFile(argv[2]);
  envFile << "CONFIG=" << configPath.string() << "\n"
          << "DR_NS=" << hosts.dr().ns << "\n"
          << "PRIMARY_NS=" << hosts.primary().ns << "\n"
          << "DR_IP=" << hosts.dr().ip << "\n"
          << "PRIMARY_IP=" << hosts.primary().ip << "\n"
          << "BRIDGE_IP=" << hosts.bridgeIp() << "\n"
          << "PRIMARY_EXPORT=" << hosts.primary().exportDir.string() << "\n"
          << "DR_EXPORT=" << hosts.dr().exportDir.string() << "\n"
          << "SSH_KEY=" << hosts.clientKey() << "\n"
          << "KNOWN_HOSTS=" << hosts.knownHosts() << "\n"
          << "TOKEN=bench-t0ken\n"
          << "WORK=" << hosts.dir().string() << "\n"
          << "PV_DIRS=\"" << dirs << "\"\n"
          << "PV_COUNT=" << pvs + images << "\n";
  envFile.close();
  std::cout << "ready" << std::endl;

  pollfd fds[1] = {{STDIN_FILENO, POLLIN, 0}};
  while (true) {
    timespec ts{0, 200 * 1000 * 1000};
    if (sigtimedwait(&set, nullptr, &ts) > 0) break;
    if (poll(fds, 1, 0) > 0) {
      char buf[64];
      if (read(STDIN_FILENO, buf, sizeof buf) <= 0) break;
    }
  }
  return 0;
}

double metric(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  return -1;
}

double sumOf(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  double sum = 0;
  while (std::getline(in, line))
    if (line.rfind(name + "{", 0) == 0 || line.rfind(name + " ", 0) == 0)
      sum += std::stod(line.substr(line.rfind(' ') + 1));
  return sum;
}

int load(int argc, char** argv) {
  auto a = parseArgs(argc, argv, 2);
  const std::string url = a["--url"], token = a["--token"];
  const int rate = static_cast<int>(argInt(a, "--rate", 100));
  const int seconds = static_cast<int>(argInt(a, "--seconds", 30));
  const int pvs = static_cast<int>(argInt(a, "--pvs", 200));
  const int images = static_cast<int>(argInt(a, "--images", 10));
  initHttpGlobal();
  std::vector<std::string> bodies;
  const int total = rate * seconds;
  std::vector<Json> objects;
  for (int i = 0; i < pvs; ++i) objects.push_back(pvObject(pvDir(false, i)));
  for (int i = 0; i < images; ++i) objects.push_back(pvObject(pvDir(true, i)));
  // --keys K: the events go to the first K PVs only (more events per PV: dedupe at work).
  const auto keys = static_cast<std::size_t>(argInt(a, "--keys", 0));
  if (keys > 0 && keys < objects.size()) objects.resize(keys);
  // Ids must differ between runs: the catalog remembers handled ids and drops repeats.
  const std::string idPrefix = a.count("--id-prefix") ? a["--id-prefix"] : "bench";
  for (int i = 0; i < total; ++i) {
    Json e{{"kind", "PersistentVolume"},
           {"apiVersion", "v1"},
           {"type", "MODIFIED"},
           {"cluster", "primary"},
           {"id", idPrefix + ":" + std::to_string(i) + ":MODIFIED"},
           {"resource", objects[static_cast<std::size_t>(i) % objects.size()]}};
    bodies.push_back(e.dump());
  }
  // Four senders share the schedule: event i leaves at start + i / rate.
  std::atomic<int> accepted{0}, failed{0}, late{0};
  const auto start = std::chrono::steady_clock::now() + 200ms;
  const auto interval = std::chrono::nanoseconds(1'000'000'000LL / rate);
  {
    std::vector<std::jthread> senders;
    for (int s = 0; s < 4; ++s)
      senders.emplace_back([&, s] {
        CurlHttpClient http;
        for (int i = s; i < total; i += 4) {
          auto due = start + interval * i;
          if (std::chrono::steady_clock::now() > due + 20ms) ++late;
          std::this_thread::sleep_until(due);
          HttpRequest req;
          req.method = "POST";
          req.url = url + "/v1/events";
          req.body = bodies[static_cast<std::size_t>(i)];
          req.headers = {{"Authorization", "Bearer " + token},
                         {"Content-Type", "application/json"}};
          auto r = http.send(req);
          if (r.ok() && r->status == 202)
            ++accepted;
          else
            ++failed;
        }
      });
  }
  const double sendSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CurlHttpClient http;
  HttpRequest st;
  st.url = url + "/v1/status";
  st.headers = {{"Authorization", "Bearer " + token}};
  const auto idleBy = std::chrono::steady_clock::now() + 600s;
  bool idle = false;
  while (std::chrono::steady_clock::now() < idleBy) {
    auto r = http.send(st);
    if (r.ok() && r->status == 200) {
      auto doc = Json::parse(r->body, nullptr, false);
      if (doc.is_object() && doc["queue"]["depth"] == 0 && doc["queue"]["waiting"] == 0 &&
          doc["queue"]["processing"] == 0) {
        idle = true;
        break;
      }
    }
    std::this_thread::sleep_for(100ms);
  }
  const double drainSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  HttpRequest m;
  m.url = url + "/metrics";
  auto mr = http.send(m);
  std::string text = mr.ok() ? mr->body : "";
  Json out{
      {"events_sent", total},
      {"events_accepted", accepted.load()},
      {"events_failed", failed.load()},
      {"sender_late", late.load()},
      {"rate_per_second", rate},
      {"keys", objects.size()},
      {"send_seconds", sendSeconds},
      {"idle_after_seconds", drainSeconds},
      {"idle", idle},
      {"syncs", sumOf(text, "ocpvdr_engine_syncs_total")},
      {"max_in_flight", metric(text, "ocpvdr_engine_syncs_in_flight_max")},
      {"p50_seconds", metric(text, "ocpvdr_engine_event_to_start_seconds{quantile=\"0.5\"}")},
      {"p90_seconds", metric(text, "ocpvdr_engine_event_to_start_seconds{quantile=\"0.9\"}")},
      {"p99_seconds", metric(text, "ocpvdr_engine_event_to_start_seconds{quantile=\"0.99\"}")}};
  std::cout << out.dump() << std::endl;
  return idle && failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "env") return env(argc, argv);
  if (mode == "load") return load(argc, argv);
  std::cerr << "usage: reconcile_bench env ENV_FILE [...] | load --url URL --token T ...\n";
  return 2;
}
