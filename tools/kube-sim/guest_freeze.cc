// VMI freeze/unfreeze (see guest_freeze.h for the upstream sources).
#include "guest_freeze.h"

#include <cctype>
#include <cstdlib>
#include <iostream>
#include <vector>

namespace kubesim {
namespace {

const ResourceType& freezeVmiType(const Store& s) {
  return *s.table().find("kubevirt.io", "v1", "virtualmachineinstances");
}

// What virt-api answers when virt-handler's PUT fails (pkg/virt-api/rest/subresource.go wraps
// kubecli's "unexpected return code" error in errors.NewInternalError).
ApiError virtHandlerFailed() {
  return internalError("unexpected return code 400 (400 Bad Request)");
}

// errors.NewConflict(v1.Resource("virtualmachineinstance"), name, ...) in virt-api.
ApiError notRunning(const std::string& name, const std::string& why) {
  return ApiError{409,
                  "Conflict",
                  "Operation cannot be fulfilled on virtualmachineinstance.kubevirt.io \"" + name +
                      "\": " + why,
                  {{"name", name}, {"group", "kubevirt.io"}, {"kind", "virtualmachineinstance"}}};
}

WriteOptions asVirtHandler() {
  WriteOptions o;
  o.fieldManager = "virt-handler";
  o.subresource = "status";
  return o;
}

void logLine(const std::string& line) {
  std::cerr << "kube-sim: guest-agent: " + line + "\n" << std::flush;
}

// qemu-guest-agent's --fsfreeze-hook (qemu qga/commands-posix.c execute_fsfreeze_hook, the
// script scripts/qemu-guest-agent/fsfreeze-hook): run with "freeze" before the file systems are
// frozen — where applications quiesce; a hook that fails fails the freeze — and with "thaw"
// after they are thawed. kube-sim runs $KUBE_SIM_FSFREEZE_HOOK <freeze|thaw> <ns>/<name>.
bool runFsfreezeHook(const std::string& action, const std::string& key) {
  const char* hook = std::getenv("KUBE_SIM_FSFREEZE_HOOK");
  if (hook == nullptr || *hook == '\0') return true;
  const std::string cmd = std::string(hook) + " " + action + " '" + key + "'";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace

std::optional<std::chrono::nanoseconds> parseGoDuration(const std::string& text) {
  // Go's time.ParseDuration: [-+]? ( decimal unit )+ , or "0".
  std::size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
  if (text.substr(i) == "0") return std::chrono::nanoseconds(0);
  if (i == text.size()) return std::nullopt;
  long double total = 0;
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) != 0)) ++i;
    bool digits = i > start;
    long double value = digits ? std::stold(text.substr(start, i - start)) : 0;
    if (i < text.size() && text[i] == '.') {
      ++i;
      std::size_t fracStart = i;
      while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) != 0)) ++i;
      if (i > fracStart) {
        value += std::stold("0." + text.substr(fracStart, i - fracStart));
        digits = true;
      }
    }
    if (!digits) return std::nullopt;
    std::size_t unitStart = i;
    while (i < text.size() && text[i] != '.' &&
           (std::isdigit(static_cast<unsigned char>(text[i])) == 0))
      ++i;
    const std::string unit = text.substr(unitStart, i - unitStart);
    long double scale = 0;
    if (unit == "ns")
      scale = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs")
      scale = 1e3;
    else if (unit == "ms")
      scale = 1e6;
    else if (unit == "s")
      scale = 1e9;
    else if (unit == "m")
      scale = 60e9;
    else if (unit == "h")
      scale = 3600e9;
    else
      return std::nullopt;  // missing or unknown unit
    total += value * scale;
  }
  if (total > 9.2e18L) return std::nullopt;  // overflows int64 nanoseconds
  const auto ns = static_cast<std::int64_t>(total);
  return std::chrono::nanoseconds(negative ? -ns : ns);
}

bool agentConnected(const Json& vmi) {
  const Json& conds = child(child(vmi, "status"), "conditions");
  if (!conds.is_array()) return false;
  for (const auto& c : conds)
    if (str(c, "type") == "AgentConnected") return str(c, "status") == "True";
  return false;
}

std::optional<ApiResult<ActionResponse>> GuestFreeze::handle(const ActionRequest& r, Store& store,
                                                             bool timers) {
  if (r.resource != "virtualmachineinstances" || (r.action != "freeze" && r.action != "unfreeze"))
    return std::nullopt;
  const bool freeze = r.action == "freeze";
  const std::string key = r.ns + "/" + r.name;
  auto got = store.get(freezeVmiType(store), r.ns, r.name);
  if (!got.ok()) {
    if (got.error().code == 404)
      return ApiError{
          404,
          "NotFound",
          "virtualmachineinstance.kubevirt.io \"" + r.name + "\" not found",
          {{"name", r.name}, {"group", "kubevirt.io"}, {"kind", "virtualmachineinstance"}}};
    return got.error();
  }
  const Json& vmi = got.value()->object;
  // virt-api: Running only.
  if (str(child(vmi, "status"), "phase") != "Running")
    return ApiError(notRunning(r.name, freeze ? "VM is not running" : "VMI is not running"));

  auto fail = [&](const std::string& why) -> ApiResult<ActionResponse> {
    {
      std::lock_guard lock(mu_);
      ++(freeze ? failedFreezes_ : failedUnfreezes_);
    }
    logLine(key + " " + r.action + " failed: " + why);
    return virtHandlerFailed();
  };

  if (!freeze) {
    // manager.go UnfreezeVMI: the automatic thaw is cancelled before the thaw is tried.
    {
      std::lock_guard lock(mu_);
      thawAt_.erase(key);
    }
    if (!agentConnected(vmi)) return fail("the guest agent is not connected");
    if (r.agentFault) return fail("injected fault (guest-fsfreeze-thaw)");
    if (str(child(vmi, "status"), "fsFreezeStatus") == "frozen") {
      auto st = thaw(store, r.ns, r.name);
      if (!st.ok()) return st.error();
      logLine(key + " thawed (unfreeze)");
    }
    return ActionResponse{200, ""};
  }

  // lifecycle.go FreezeHandler: the unfreeze timeout is required.
  std::optional<std::chrono::nanoseconds> timeout;
  if (r.body.is_object() && r.body.contains("unfreezeTimeout") &&
      r.body["unfreezeTimeout"].is_string())
    timeout = parseGoDuration(r.body["unfreezeTimeout"].get<std::string>());
  if (!timeout) return fail("no valid unfreezeTimeout in the request body");
  if (!agentConnected(vmi)) return fail("the guest agent is not connected");
  if (str(child(vmi, "status"), "fsFreezeStatus") == "frozen") {
    return ActionResponse{200, ""};  // already frozen: no new automatic thaw
  }
  if (r.agentFault) return fail("injected fault (guest-fsfreeze-freeze)");
  if (!runFsfreezeHook("freeze", key)) return fail("the fsfreeze hook failed (freeze)");
  auto w = store.modify(
      freezeVmiType(store), r.ns, r.name, [](Json& o) { o["status"]["fsFreezeStatus"] = "frozen"; },
      asVirtHandler());
  if (!w.ok()) return w.error();
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(*timeout);  // truncated, as int32(Seconds())
  {
    std::lock_guard lock(mu_);
    ++freezes_;
    thawAt_.erase(key);
    if (timers && seconds.count() != 0) thawAt_[key] = store.clock().now() + seconds;
  }
  logLine(key + " frozen (unfreezeTimeout " + std::to_string(seconds.count()) + "s" +
          (seconds.count() == 0 ? ": no automatic thaw" : "") + ")");
  return ActionResponse{200, ""};
}

ApiStatus GuestFreeze::thaw(Store& store, const std::string& ns, const std::string& name) {
  auto w = store.modify(
      freezeVmiType(store), ns, name,
      [](Json& o) {
        if (o["status"].is_object()) o["status"].erase("fsFreezeStatus");
      },
      asVirtHandler());
  if (!w.ok()) return w.error();
  (void)runFsfreezeHook("thaw", ns + "/" + name);
  std::lock_guard lock(mu_);
  ++thaws_;
  return Done{};
}

void GuestFreeze::tick(Store& store, ocpvdr::SystemTime now) {
  std::vector<std::string> due;
  {
    std::lock_guard lock(mu_);
    for (auto it = thawAt_.begin(); it != thawAt_.end();) {
      if (it->second <= now) {
        due.push_back(it->first);
        it = thawAt_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (const auto& key : due) {
    const auto slash = key.find('/');
    const std::string ns = key.substr(0, slash), name = key.substr(slash + 1);
    auto got = store.get(freezeVmiType(store), ns, name);
    if (!got.ok() || str(child(got.value()->object, "status"), "fsFreezeStatus") != "frozen")
      continue;
    // scheduleSafetyVMIUnfreeze calls UnfreezeVMI, which needs the agent like any thaw.
    if (!agentConnected(got.value()->object)) {
      logLine(key + " automatic thaw failed: the guest agent is not connected");
      continue;
    }
    if (thaw(store, ns, name).ok()) {
      {
        std::lock_guard lock(mu_);
        ++timeoutThaws_;
      }
      logLine(key + " thawed (unfreezeTimeout elapsed, unfreeze was not called)");
    }
  }
}

ApiStatus GuestFreeze::setAgentConnected(Store& store, const std::string& ns,
                                         const std::string& name, bool connected) {
  auto w = store.modify(
      freezeVmiType(store), ns, name,
      [connected](Json& o) {
        Json& conds = o["status"]["conditions"];
        if (!conds.is_array()) conds = Json::array();
        Json kept = Json::array();
        for (const auto& c : conds)
          if (str(c, "type") != "AgentConnected") kept.push_back(c);
        // virt-handler drops the condition when the agent goes away (pkg/virt-handler/vm.go).
        if (connected) kept.push_back({{"type", "AgentConnected"}, {"status", "True"}});
        conds = kept;
      },
      asVirtHandler());
  if (!w.ok()) return w.error();
  logLine(ns + "/" + name + (connected ? " agent connected" : " agent disconnected"));
  return Done{};
}

Json GuestFreeze::stats(ocpvdr::SystemTime now) const {
  std::lock_guard lock(mu_);
  Json pending = Json::object();
  for (const auto& [key, at] : thawAt_)
    pending[key] = std::chrono::duration<double>(at - now).count();
  return {{"freezes", freezes_},
          {"thaws", thaws_},
          {"timeoutThaws", timeoutThaws_},
          {"failedFreezes", failedFreezes_},
          {"failedUnfreezes", failedUnfreezes_},
          {"pendingThaws", pending}};
}

}  // namespace kubesim
