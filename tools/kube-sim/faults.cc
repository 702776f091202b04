// Fault configuration parsing and the per-request fault decision.
#include "faults.h"

namespace kubesim {

ApiResult<FaultConfig> FaultConfig::fromJson(const Json& j) {
  if (!j.is_object()) return badRequest("faults: the body must be a JSON object");
  FaultConfig c;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const Json& v = it.value();
    auto needNumber = [&]() -> std::optional<ApiError> {
      if (!v.is_number()) return badRequest("faults." + k + " must be a number");
      return std::nullopt;
    };
    if (k == "pathPrefix") {
      if (!v.is_string()) return badRequest("faults.pathPrefix must be a string");
      c.pathPrefix = v.get<std::string>();
      continue;
    }
    if (auto e = needNumber()) return *e;
    if (k == "errorRate") {
      c.errorRate = v.get<double>();
      if (c.errorRate < 0.0 || c.errorRate > 1.0) {
        return badRequest("faults.errorRate must be between 0.0 and 1.0");
      }
    } else if (k == "errorCode") {
      c.errorCode = v.get<int>();
      if (c.errorCode < 400 || c.errorCode > 599) {
        return badRequest("faults.errorCode must be an HTTP error status (4xx or 5xx)");
      }
    } else if (k == "retryAfterSeconds") {
      c.retryAfterSeconds = v.get<int>();
      if (c.retryAfterSeconds < 0) return badRequest("faults.retryAfterSeconds must be >= 0");
    } else if (k == "errorCount") {
      c.errorCount = v.get<std::int64_t>();
      if (c.errorCount < 0) return badRequest("faults.errorCount must be >= 0");
    } else if (k == "latencyMs") {
      c.latencyMs = v.get<int>();
      if (c.latencyMs < 0 || c.latencyMs > 600000) {
        return badRequest("faults.latencyMs must be between 0 and 600000");
      }
    } else if (k == "closeWatchesAfterEvents") {
      c.closeWatchesAfterEvents = v.get<std::int64_t>();
      if (c.closeWatchesAfterEvents < 0)
        return badRequest("faults.closeWatchesAfterEvents must be >= 0");
    } else if (k == "freezeErrorCount" || k == "unfreezeErrorCount") {
      const auto n = v.get<std::int64_t>();
      if (n < 0) return badRequest("faults." + k + " must be >= 0");
      (k == "freezeErrorCount" ? c.freezeErrorCount : c.unfreezeErrorCount) = n;
    } else if (k == "seed") {
      c.seed = v.get<std::uint64_t>();
    } else {
      return badRequest("faults: unknown key \"" + k + "\"");
    }
  }
  return c;
}

Json FaultConfig::toJson() const {
  return {{"errorRate", errorRate},
          {"errorCode", errorCode},
          {"retryAfterSeconds", retryAfterSeconds},
          {"errorCount", errorCount},
          {"latencyMs", latencyMs},
          {"pathPrefix", pathPrefix},
          {"closeWatchesAfterEvents", closeWatchesAfterEvents},
          {"seed", seed},
          {"freezeErrorCount", freezeErrorCount},
          {"unfreezeErrorCount", unfreezeErrorCount}};
}

Faults::Faults(FaultConfig initial) {
  set(initial);
}

void Faults::set(const FaultConfig& config) {
  std::lock_guard lock(mu_);
  config_ = config;
  rng_.seed(config.seed != 0 ? config.seed : std::random_device{}());
  closeAfter_ = config.closeWatchesAfterEvents;
}

FaultConfig Faults::get() const {
  std::lock_guard lock(mu_);
  return config_;
}

bool Faults::takeAgentFault(const std::string& action) {
  std::lock_guard lock(mu_);
  std::int64_t* count = action == "freeze"     ? &config_.freezeErrorCount
                        : action == "unfreeze" ? &config_.unfreezeErrorCount
                                               : nullptr;
  if (count == nullptr || *count == 0) return false;
  --*count;
  return true;
}

Faults::Decision Faults::decide(const std::string& path) {
  std::lock_guard lock(mu_);
  Decision d;
  if (!config_.pathPrefix.empty() && path.rfind(config_.pathPrefix, 0) != 0) return d;
  d.latencyMs = config_.latencyMs;
  bool fail = false;
  if (config_.errorCount > 0) {
    --config_.errorCount;
    fail = true;
  } else if (config_.errorRate > 0.0) {
    fail = std::uniform_real_distribution<double>(0.0, 1.0)(rng_) < config_.errorRate;
  }
  if (!fail) return d;
  switch (config_.errorCode) {
    case 429:
      d.error = tooManyRequests(config_.retryAfterSeconds);
      break;
    case 503:
      d.error = serviceUnavailable(config_.retryAfterSeconds);
      break;
    case 500:
      d.error = internalError("injected fault (kube-sim)");
      break;
    default:
      d.error =
          ApiError{config_.errorCode, "InternalError",
                   "injected fault (kube-sim): HTTP " + std::to_string(config_.errorCode), nullptr};
  }
  return d;
}

}  // namespace kubesim
