// Fault injection: the failures a real API server (or the network in front of it) produces, on
// demand. Set at start (--fault-* flags) or at runtime (POST /admin/faults with a JSON body).
//
// JSON form (every key optional; a POST replaces the whole configuration, {} clears it):
//   {"errorRate": 0.0-1.0, "errorCode": 500|429|503, "retryAfterSeconds": S, "errorCount": N,
//    "latencyMs": M, "pathPrefix": "/api/v1/persistentvolumes", "closeWatchesAfterEvents": N,
//    "seed": K, "freezeErrorCount": N, "unfreezeErrorCount": N}
// errorCount N fails exactly the next N matching requests (deterministic, checked before
// errorRate). Admin, health and discovery endpoints are never faulted.
// freezeErrorCount / unfreezeErrorCount N make the next N VMI freeze / unfreeze calls fail inside
// the guest agent, after virt-api's checks passed — the 500 virt-api answers when virt-handler
// fails (guest_freeze.h). They ignore pathPrefix and the other keys.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>

#include "api_error.h"

namespace kubesim {

using Json = nlohmann::json;

struct FaultConfig {
  double errorRate = 0.0;
  int errorCode = 500;
  int retryAfterSeconds = 1;
  std::int64_t errorCount = 0;
  int latencyMs = 0;
  std::string pathPrefix;
  std::int64_t closeWatchesAfterEvents = 0;  // 0: never
  std::uint64_t seed = 0;                    // 0: random
  std::int64_t freezeErrorCount = 0;
  std::int64_t unfreezeErrorCount = 0;

  static ApiResult<FaultConfig> fromJson(const Json& j);
  Json toJson() const;
};

class Faults {
 public:
  explicit Faults(FaultConfig initial = {});
  void set(const FaultConfig& config);
  FaultConfig get() const;

  // For one incoming request: the latency to add and, maybe, the error to answer with.
  struct Decision {
    int latencyMs = 0;
    std::optional<ApiError> error;
  };
  Decision decide(const std::string& path);
  // For one VMI "freeze" or "unfreeze" call: whether the guest agent fails it (takes one count).
  bool takeAgentFault(const std::string& action);

  // Watches read this on every batch so a runtime change applies to open watches too.
  std::int64_t closeWatchesAfterEvents() const { return closeAfter_.load(); }

 private:
  mutable std::mutex mu_;
  FaultConfig config_;
  std::mt19937_64 rng_;
  std::atomic<std::int64_t> closeAfter_{0};
};

}  // namespace kubesim
