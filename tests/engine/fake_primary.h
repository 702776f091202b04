// An in-memory primary API for engine tests without kube-sim: PVs and VolumeSnapshots by name,
// with switches that make the list or the single-object reads fail. (The kube-sim tests cover
// KubePrimary against the real protocol.)
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "engine/engine.h"
#include "engine/primary_api.h"
#include "replication/primary_objects.h"

namespace ocpvdr::testing {

class FakePrimary final : public engine::PrimaryLister, public replication::PrimaryObjects {
 public:
  void putPv(const Json& pv) {
    std::lock_guard l(mu_);
    pvs_[pv["metadata"]["name"].get<std::string>()] = pv;
  }
  void removePv(const std::string& name) {
    std::lock_guard l(mu_);
    pvs_.erase(name);
  }
  void putSnapshot(const Json& vs) {
    std::lock_guard l(mu_);
    snaps_[vs["metadata"]["namespace"].get<std::string>() + "/" +
           vs["metadata"]["name"].get<std::string>()] = vs;
  }
  void removeSnapshot(const std::string& nsName) {
    std::lock_guard l(mu_);
    snaps_.erase(nsName);
  }
  // When set, lists fail with this error.
  std::optional<Error> listError;
  // When set, single-object GETs fail with this error (instead of answering).
  std::optional<Error> getError;
  int pvLists = 0;

  Result<std::vector<Json>> listPersistentVolumes(std::string_view, std::stop_token) override {
    std::lock_guard l(mu_);
    ++pvLists;
    if (listError) return *listError;
    std::vector<Json> out;
    for (const auto& [n, pv] : pvs_) out.push_back(pv);
    return out;
  }
  Result<std::vector<Json>> listVolumeSnapshots(std::string_view ns, std::stop_token) override {
    std::lock_guard l(mu_);
    if (listError) return *listError;
    std::vector<Json> out;
    for (const auto& [k, vs] : snaps_)
      if (ns.empty() || vs["metadata"]["namespace"] == std::string(ns)) out.push_back(vs);
    return out;
  }
  Result<Json> getVolumeSnapshot(std::string_view ns, std::string_view name,
                                 std::stop_token) override {
    std::lock_guard l(mu_);
    if (getError) return *getError;
    auto it = snaps_.find(std::string(ns) + "/" + std::string(name));
    if (it == snaps_.end()) return notFoundError("volumesnapshots \"" + std::string(name) + "\"");
    return it->second;
  }
  Result<Json> getPersistentVolume(std::string_view name) override {
    std::lock_guard l(mu_);
    if (getError) return *getError;
    auto it = pvs_.find(std::string(name));
    if (it == pvs_.end()) return notFoundError("persistentvolumes \"" + std::string(name) + "\"");
    return it->second;
  }
  Result<Json> getVolumeSnapshotContent(std::string_view name) override {
    return notFoundError("volumesnapshotcontents \"" + std::string(name) + "\"");
  }
  Result<Json> getPersistentVolumeClaim(std::string_view, std::string_view name) override {
    return notFoundError("persistentvolumeclaims \"" + std::string(name) + "\"");
  }

 private:
  std::mutex mu_;
  std::map<std::string, Json> pvs_, snaps_;
};

// The engine of the local tests: loopback on any free port, no settle, no cron schedule, no rate
// limit, `workers` workers, reports under `reportDir`. Tests set what they are about on top.
inline engine::EngineOptions localEngineOptions(const std::filesystem::path& reportDir,
                                                int workers) {
  engine::EngineOptions opts;
  opts.listen = "127.0.0.1:0";
  opts.settle = std::chrono::milliseconds(0);
  opts.schedule = false;
  opts.workers = workers;
  opts.ratePerSecond = 0;
  opts.reportDir = reportDir.string();
  return opts;
}

// Its seams: the test's clock, catalog, Replicator and metrics, FakePrimary as objects and lister.
inline engine::EngineDeps localEngineDeps(Clock& clock, catalog::Catalog& catalog,
                                          replication::Replicator& replicator, FakePrimary& primary,
                                          MetricsRegistry& metrics) {
  engine::EngineDeps deps;
  deps.clock = &clock;
  deps.catalog = &catalog;
  deps.replicator = &replicator;
  deps.objects = &primary;
  deps.lister = &primary;
  deps.metrics = &metrics;
  return deps;
}

}  // namespace ocpvdr::testing
