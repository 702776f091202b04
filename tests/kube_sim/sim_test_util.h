// Helpers for kube-sim's HTTP tests: a watch stream reader (buffers partial lines, as a real
// client must), recursive key-set comparison against the recorded fixtures, object builders.
#pragma once

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/kube_sim_process.h"
#include "support/temp_dir.h"

namespace kubesim_test {

using nlohmann::json;
using ocpvdr::testing::KubeSimProcess;
using namespace std::chrono_literals;

// Every key path in a JSON document ("metadata", "metadata.name", "items[].kind", ...).
inline void collectKeys(const json& j, const std::string& prefix, std::set<std::string>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string p = prefix.empty() ? it.key() : prefix + "." + it.key();
      out.insert(p);
      collectKeys(it.value(), p, out);
    }
  } else if (j.is_array()) {
    for (const auto& e : j) collectKeys(e, prefix + "[]", out);
  }
}
inline std::set<std::string> keySet(const json& j) {
  std::set<std::string> s;
  collectKeys(j, "", s);
  return s;
}
// Top-level keys only.
inline std::set<std::string> topKeys(const json& j) {
  std::set<std::string> s;
  for (auto it = j.begin(); it != j.end(); ++it) s.insert(it.key());
  return s;
}

inline json fixture(const std::string& rel) {
  std::ifstream f(ocpvdr::testing::fixturePath(rel));
  std::stringstream ss;
  ss << f.rdbuf();
  return json::parse(ss.str());
}
inline std::vector<json> fixtureLines(const std::string& rel) {
  std::ifstream f(ocpvdr::testing::fixturePath(rel));
  std::vector<json> out;
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

inline json pv(const std::string& name, const json& labels = json::object(),
               const std::string& path = "/exports/x") {
  json o = {{"apiVersion", "v1"},
            {"kind", "PersistentVolume"},
            {"metadata", {{"name", name}}},
            {"spec",
             {{"capacity", {{"storage", "1Gi"}}},
              {"accessModes", {"ReadWriteMany"}},
              {"nfs", {{"server", "nfs.example.com"}, {"path", path}}}}}};
  if (!labels.empty()) o["metadata"]["labels"] = labels;
  return o;
}

inline json vm(const std::string& ns, const std::string& name,
               const std::string& runStrategy = "Halted") {
  return {{"apiVersion", "kubevirt.io/v1"},
          {"kind", "VirtualMachine"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"runStrategy", runStrategy}, {"template", {{"spec", json::object()}}}}}};
}

inline json createNamespace(KubeSimProcess& sim, const std::string& name) {
  return sim.request(
      "POST", "/api/v1/namespaces",
      json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}}.dump());
}

inline std::uint64_t rvOf(const json& o) {
  return std::stoull(o["metadata"]["resourceVersion"].get<std::string>());
}

// Reads one watch stream on its own thread. Events are parsed line by line from whatever chunks
// arrive (a chunk may hold part of an event or several).
class WatchClient {
 public:
  WatchClient(const KubeSimProcess& sim, const std::string& path,
              std::chrono::seconds readTimeout = 60s)
      : cli_(std::make_unique<httplib::Client>(sim.url())) {
    if (!sim.caFile().empty()) cli_->set_ca_cert_path(sim.caFile().c_str());
    cli_->set_read_timeout(readTimeout);
    cli_->set_connection_timeout(5);
    thread_ = std::thread([this, path, token = sim.token()] {
      httplib::Headers h = {{"Authorization", "Bearer " + token}};
      auto res = cli_->Get(
          path, h,
          [this](const httplib::Response& r) {
            std::lock_guard lock(mu_);
            status_ = r.status;
            headers_ = r.headers;
            return true;
          },
          [this](const char* data, std::size_t len) {
            std::lock_guard lock(mu_);
            partial_.append(data, len);
            std::size_t nl;
            while ((nl = partial_.find('\n')) != std::string::npos) {
              std::string line = partial_.substr(0, nl);
              partial_.erase(0, nl + 1);
              rawLines_.push_back(line);
              auto j = json::parse(line, nullptr, false);
              events_.push_back(j);
            }
            cv_.notify_all();
            return !stopping_;
          });
      std::lock_guard lock(mu_);
      ended_ = true;
      cleanEnd_ = static_cast<bool>(res) && partial_.empty();
      if (res) status_ = res->status;
      cv_.notify_all();
    });
  }
  ~WatchClient() { stop(); }

  void stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cli_->stop();
    if (thread_.joinable()) thread_.join();
  }

  // The next event, waiting up to `timeout`.
  std::optional<json> next(std::chrono::milliseconds timeout = 5000ms) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !events_.empty() || ended_; });
    if (events_.empty()) return std::nullopt;
    json e = std::move(events_.front());
    events_.pop_front();
    return e;
  }
  // The next event that is not a BOOKMARK.
  std::optional<json> nextNonBookmark(std::chrono::milliseconds timeout = 5000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      auto e = next(left);
      if (!e || (*e)["type"] != "BOOKMARK") return e;
    }
  }
  bool waitEnd(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ended_; });
  }
  bool ended() {
    std::lock_guard lock(mu_);
    return ended_;
  }
  bool cleanEnd() {
    std::lock_guard lock(mu_);
    return cleanEnd_;
  }
  int status() {
    std::lock_guard lock(mu_);
    return status_;
  }
  std::string header(const std::string& name) {
    std::lock_guard lock(mu_);
    auto it = headers_.find(name);
    return it == headers_.end() ? "" : it->second;
  }
  std::size_t pending() {
    std::lock_guard lock(mu_);
    return events_.size();
  }

 private:
  std::unique_ptr<httplib::Client> cli_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<json> events_;
  std::vector<std::string> rawLines_;
  std::string partial_;
  httplib::Headers headers_;
  int status_ = 0;
  bool ended_ = false;
  bool cleanEnd_ = false;
  bool stopping_ = false;
};

// Polls /admin/stats until kube-sim reports `n` open watches (watch registration is
// asynchronous to the client's request).
inline bool waitForWatchers(KubeSimProcess& sim, std::size_t n,
                            std::chrono::milliseconds timeout = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = sim.send("GET", "/admin/stats");
    if (r.status == 200 && r.json()["watchers"].get<std::size_t>() == n) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

}  // namespace kubesim_test
