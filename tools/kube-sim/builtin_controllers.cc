// Controller catalogue. To add one: implement kubesim::Controller (see controller.h and
// docs/kube-sim.md), then add a {name, factory} entry to catalogue() below.
#include "builtin_controllers.h"

#include <functional>
#include <memory>
#include <utility>

#include "binding_controller.h"
#include "cdi_controller.h"
#include "kubevirt_controller.h"
#include "velero_controller.h"

namespace kubesim {

namespace {

// Reads a millisecond option; the default when absent. Sets `bad` on an unparsable value.
std::chrono::milliseconds msOption(const ControllerOptions& o, const std::string& key,
                                   std::chrono::milliseconds fallback, std::string* bad) {
  auto it = o.find(key);
  if (it == o.end()) return fallback;
  try {
    std::size_t used = 0;
    long long v = std::stoll(it->second, &used);
    if (used == it->second.size() && v >= 0) return std::chrono::milliseconds(v);
  } catch (const std::exception&) {
  }
  *bad = key + ": expected a non-negative integer of milliseconds, got \"" + it->second + "\"";
  return fallback;
}

using Factory =
    std::function<std::unique_ptr<Controller>(const ControllerOptions&, std::string* bad)>;

const std::vector<std::pair<std::string, Factory>>& catalogue() {
  static const std::vector<std::pair<std::string, Factory>> entries = {
      {"binding", [](const ControllerOptions&,
                     std::string*) { return std::make_unique<BindingController>(); }},
      {"kubevirt",
       [](const ControllerOptions& o, std::string* bad) {
         bool agent = true;
         if (auto it = o.find("kubevirt.guest-agent"); it != o.end()) {
           if (it->second == "true" || it->second == "false")
             agent = it->second == "true";
           else
             *bad = "kubevirt.guest-agent: expected true or false, got \"" + it->second + "\"";
         }
         return std::make_unique<KubevirtController>(
             msOption(o, "kubevirt.start-delay-ms", std::chrono::milliseconds(500), bad),
             msOption(o, "kubevirt.stop-delay-ms", std::chrono::milliseconds(200), bad), agent);
       }},
      {"cdi",
       [](const ControllerOptions& o, std::string* bad) {
         std::vector<NfsExportMapping> exports;
         if (auto it = o.find("cdi.nfs-exports"); it != o.end()) {
           std::string error;
           auto parsed = parseNfsExportMappings(it->second, &error);
           if (parsed)
             exports = std::move(*parsed);
           else
             *bad = "cdi.nfs-exports: " + error;
         }
         return std::make_unique<CdiController>(std::move(exports));
       }},
      {"velero",
       [](const ControllerOptions& o, std::string* bad) {
         auto it = o.find("velero.kubevirt-plugin-version");
         return std::make_unique<VeleroController>(
             msOption(o, "velero.sync-interval-ms", std::chrono::milliseconds(1000), bad),
             it == o.end() ? std::string("v0.7.1") : it->second);
       }},
  };
  return entries;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> builtinControllerOptionKeys() {
  return {{"kubevirt.start-delay-ms", "VMI Scheduling -> Running after this long (default 500)"},
          {"kubevirt.stop-delay-ms", "VMI deleted this long after a stop began (default 200)"},
          {"kubevirt.guest-agent",
           "true: Running VMIs show the condition AgentConnected True (default); false: never"},
          {"cdi.nfs-exports",
           "[server:]/export=/local/dir[,...]: where NFS exports are on this machine, so that a "
           "CDI worker pod really overwrites disk.img (default: none, only marked)"},
          {"velero.sync-interval-ms", "backup sync period (default 1000)"},
          {"velero.kubevirt-plugin-version",
           "kubevirt-velero-plugin version to behave like (default v0.7.1; below v0.7.1, e.g. "
           "v0.7.0 as in OADP 1.4, the restore-run-strategy label is ignored)"}};
}

std::vector<std::string> builtinControllerNames() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : catalogue()) names.push_back(name);
  return names;
}

ApiStatus addBuiltinControllers(ControllerRunner& runner, const std::vector<std::string>& names) {
  return addBuiltinControllers(runner, names, {});
}

ApiStatus addBuiltinControllers(ControllerRunner& runner, const std::vector<std::string>& names,
                                const ControllerOptions& options) {
  for (const auto& [key, value] : options) {
    bool known = false;
    std::string accepted;
    for (const auto& [k, help] : builtinControllerOptionKeys()) {
      known = known || k == key;
      accepted += (accepted.empty() ? "" : ", ") + k;
    }
    if (!known)
      return badRequest("unknown controller option \"" + key + "\" (accepted: " + accepted + ")");
  }
  for (const auto& wanted : names) {
    bool found = wanted == "all";
    for (const auto& [name, factory] : catalogue()) {
      if (wanted == "all" || wanted == name) {
        std::string bad;
        auto controller = factory(options, &bad);
        if (!bad.empty()) return badRequest("controller option " + bad);
        runner.add(std::move(controller));
        found = true;
      }
    }
    if (!found) {
      std::string available;
      for (const auto& n : builtinControllerNames())
        available += (available.empty() ? "" : ", ") + n;
      return badRequest("unknown controller \"" + wanted + "\" (available: " +
                        (available.empty() ? std::string("none yet") : available) + ")");
    }
  }
  return Done{};
}

}  // namespace kubesim
