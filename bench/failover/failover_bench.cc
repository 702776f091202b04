// failover_bench: the helper bench/failover/run drives.
//
//   failover_bench make-tarball OUT [--objects N]
//       A Velero backup tarball of N items (default 10,000; every item twice, plain and
//       preferred-version copy, as Velero writes it); the mix is in composition().
//   failover_bench read TARBALL
//       ocpv-dr's streaming reader (backup::scanVeleroTarball) extracting PVs and PVCs; prints
//       "pv <name> <claim ns>/<claim name>" and "pvc <ns>/<name> <volume>", sorted — the same
//       lines the tar + jq pipeline of the run script prints.
//   failover_bench controlplane [--vms 100] [--runs 3] [--poll-ms 200]
//       The control-plane time of an unplanned failover of N VMs on kube-sim: DR kube-sim
//       (binding + kubevirt + velero, VM start delay 0) and s3rver with the backup; each run resets
//       the DR cluster to the same state and times `ocpv-dr failover run --unplanned` end to end,
//       plus each step from the run's report. Prints a Markdown table of medians.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "backup/velero_tarball.h"
#include "core/clock.h"
#include "core/curl_http.h"
#include "failover/failover_lab.h"
#include "s3/s3_object_store.h"
#include "support/velero_backup_writer.h"

namespace {

using namespace ocpvdr;
using namespace ocpvdr::testing;
namespace fs = std::filesystem;

std::string arg(std::vector<std::string>& args, const std::string& flag, std::string fallback) {
  auto it = std::find(args.begin(), args.end(), flag);
  if (it == args.end() || it + 1 == args.end()) return fallback;
  std::string v = *(it + 1);
  args.erase(it, it + 2);
  return v;
}

std::string filler(std::size_t n, int seed) {
  std::string s;
  s.reserve(n);
  for (std::size_t i = 0; i < n; ++i) s += static_cast<char>('a' + (i * 7 + seed) % 26);
  return s;
}

// N items: 1/10 PVs, 1/10 PVCs, 1/10 VMs, 1/10 DataVolumes, 1/200 namespaces, the rest split
// between ConfigMaps, Secrets and Pods (the bulk of a real namespace backup).
std::vector<Json> composition(int n) {
  std::vector<Json> out;
  const int perKind = n / 10, namespaces = std::max(1, n / 200);
  for (int i = 0; i < namespaces; ++i)
    out.push_back({{"apiVersion", "v1"},
                   {"kind", "Namespace"},
                   {"metadata", {{"name", "ns-" + std::to_string(i)}}}});
  for (int i = 0; i < perKind; ++i) {
    const std::string ns = "ns-" + std::to_string(i % namespaces);
    const std::string pvc = "disk-" + std::to_string(i), pv = "pvc-" + std::to_string(100000 + i);
    out.push_back(
        samplePv(pv, "nfs-primary.example.com", "/exports/ocp/" + ns + "-" + pvc, ns, pvc));
    out.push_back(samplePvc(ns, pvc, pv, i % 2 ? pvc : ""));
    out.push_back(sampleVm(ns, "vm-" + std::to_string(i), pvc));
    out.push_back(sampleDataVolume(ns, pvc));
  }
  for (int i = 0; static_cast<int>(out.size()) < n; ++i) {
    const std::string ns = "ns-" + std::to_string(i % namespaces);
    const int k = i % 3;
    Json o = {{"apiVersion", "v1"},
              {"kind", k == 0   ? "ConfigMap"
                       : k == 1 ? "Secret"
                                : "Pod"},
              {"metadata",
               {{"name", "obj-" + std::to_string(i)},
                {"namespace", ns},
                {"uid", "uid-" + std::to_string(i)},
                {"labels", {{"app", "a" + std::to_string(i % 50)}}}}}};
    if (k == 2) {
      o["spec"] = {{"containers",
                    {{{"name", "main"},
                      {"image", "quay.io/example/app:1.0"},
                      {"args", {filler(600, i)}},
                      {"env", {{{"name", "A"}, {"value", filler(400, i + 1)}}}}}}}};
      o["status"] = {{"phase", "Running"}};
    } else {
      o["data"] = {{"payload", filler(900, i)}};
    }
    out.push_back(std::move(o));
  }
  return out;
}

int makeTarball(std::vector<std::string> args) {
  if (args.empty()) {
    std::cerr << "make-tarball OUT [--objects N]\n";
    return 2;
  }
  const int n = std::stoi(arg(args, "--objects", "10000"));
  writeVeleroTarball(args.at(0), composition(n));
  std::cerr << "wrote " << args.at(0) << " (" << n << " items, " << fs::file_size(args.at(0))
            << " bytes)\n";
  return 0;
}

int read(const std::vector<std::string>& args) {
  if (args.empty()) {
    std::cerr << "read TARBALL\n";
    return 2;
  }
  backup::TarballOptions opts;
  opts.extract = {std::string(backup::kPersistentVolumes),
                  std::string(backup::kPersistentVolumeClaims)};
  std::vector<std::string> lines;
  auto str = [](const Json& j, const char* path) {
    const Json* v = jsonAt(j, path);
    return v && v->is_string() ? v->get<std::string>() : std::string("null");
  };
  auto r = backup::scanVeleroTarball(args[0], opts, [&](backup::TarballItem&& item) -> Status {
    if (item.groupResource == backup::kPersistentVolumes) {
      lines.push_back("pv " + item.name + " " + str(item.object, "spec.claimRef.namespace") + "/" +
                      str(item.object, "spec.claimRef.name"));
    } else {
      lines.push_back("pvc " + item.ns + "/" + item.name + " " +
                      str(item.object, "spec.volumeName"));
    }
    return Status::success();
  });
  if (!r.ok()) {
    std::cerr << r.error().describe() << "\n";
    return 1;
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  std::cout << out;
  return 0;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int controlplane(std::vector<std::string> args) {
  const int vms = std::stoi(arg(args, "--vms", "100"));
  const int runs = std::stoi(arg(args, "--runs", "3"));
  const std::string poll = arg(args, "--poll-ms", "200");
  TempDir tmp("ocpvdr-bench-failover");
  config::Config c = FailoverLab::localSites(tmp.str());
  c.primary.kubernetes.kubeconfig = (tmp / "primary-is-down.kubeconfig").string();
  LabOptions o;
  o.vms = vms;
  o.startPrimary = false;
  o.vmStartDelayMs = 0;
  auto l = FailoverLab::create(c, tmp.str(), o);
  if (!l.ok()) {
    std::cerr << "lab: " << l.error().describe() << "\n";
    return 1;
  }
  auto& lab = **l;
  lab.cfg.failover.timeouts.vmReady = std::chrono::seconds(600);
  lab.cfg.failover.timeouts.restore = std::chrono::seconds(600);
  lab.cfg.failover.timeouts.pvcBind = std::chrono::seconds(600);
  lab.writeConfig();
  for (const auto& v : lab.scenario.volumes)
    fs::create_directories(fs::path(lab.cfg.dr.exportRoots.front().hostPath) / v.dir);
  VeleroBackupSpec spec;
  spec.name = "nightly-1";
  spec.started = std::chrono::system_clock::now() - std::chrono::minutes(10);
  spec.completed = std::chrono::system_clock::now() - std::chrono::minutes(5);
  spec.includedNamespaces = o.namespaces;
  spec.objects = lab.scenario.objects;
  RealClock clock;
  CurlHttpClient http;
  s3::S3Options so;
  so.endpoint = lab.s3->endpoint();
  so.bucket = lab.bucket;
  auto store = s3::S3ObjectStore::create(
      so, {S3rverProcess::kAccessKey, S3rverProcess::kSecretKey, "", "bench"}, http, clock);
  if (!store.ok()) return 1;
  for (const auto& [key, data] : veleroBackupObjects(lab.prefix, spec))
    if (!(*store)->put(key, data).ok()) return 1;
  lab.prepareDr("nightly-1");
  const Json initial = lab.dr->admin("GET", "/admin/state");

  std::map<std::string, std::vector<double>> stepSeconds;
  std::vector<double> total, rto;
  for (int i = 0; i < runs; ++i) {
    lab.dr->admin("POST", "/admin/state", initial);
    const auto t0 = std::chrono::steady_clock::now();
    auto r = runCli(lab.configPath,
                    {"failover", "run", "--unplanned", "--json", "--poll-interval-ms", poll}, {},
                    {}, std::chrono::seconds(1200));
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (r.code != 0 || !r.doc.is_object()) {
      std::cerr << "run " << i << " failed (exit " << r.code << "): " << r.out << r.err << "\n";
      return 1;
    }
    int running = 0;
    for (const auto& vm : r.doc["report"]["vms"]) running += vm["printableStatus"] == "Running";
    if (running != vms) {
      std::cerr << "run " << i << ": only " << running << " of " << vms << " VMs Running\n";
      return 1;
    }
    total.push_back(secs);
    rto.push_back(r.doc["report"]["rto"]["seconds"].get<double>());
    for (const auto& s : r.doc["report"]["steps"])
      stepSeconds[s["step"]].push_back(s["durationMs"].get<double>() / 1000.0);
    std::cerr << "run " << i + 1 << "/" << runs << ": " << secs << " s\n";
    // A finished failover leaves DR active (replication and further failovers are refused);
    // the DR cluster is reset above, so lift it as a failback would.
    auto released = runCli(lab.configPath, {"failover", "release", "--run", r.doc.value("run", ""),
                                            "--reason", "benchmark"});
    if (released.code != 0) {
      std::cerr << "release after run " << i << " failed: " << released.out << released.err << "\n";
      return 1;
    }
  }
  std::cout << "| measure (" << vms << " VMs, " << runs << " runs, poll " << poll
            << " ms) | median s | min s | max s |\n|---|---|---|---|\n";
  auto row = [&](const std::string& name, const std::vector<double>& v) {
    std::cout << "| " << name << " | " << median(v) << " | "
              << *std::min_element(v.begin(), v.end()) << " | "
              << *std::max_element(v.begin(), v.end()) << " |\n";
  };
  row("`ocpv-dr failover run --unplanned` wall time", total);
  row("RTO (report: first step start to VMs ready)", rto);
  for (const auto& step : {"preflight", "data-loss", "download", "apply-volumes", "restore",
                           "start-vms", "cleanup", "report"})
    if (stepSeconds.count(step)) row(std::string("step ") + step, stepSeconds[step]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << "usage: failover_bench make-tarball OUT [--objects N] | read TARBALL | "
                 "controlplane [--vms N] [--runs N] [--poll-ms MS]\n";
    return 2;
  }
  const std::string cmd = args.front();
  args.erase(args.begin());
  initHttpGlobal();
  if (cmd == "make-tarball") return makeTarball(args);
  if (cmd == "read") return read(args);
  if (cmd == "controlplane") return controlplane(args);
  std::cerr << "unknown command " << cmd << "\n";
  return 2;
}
