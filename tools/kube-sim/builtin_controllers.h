// The catalogue of controllers kube-sim can run (`--controller NAME`, repeatable). Simulated
// cluster behaviour — PV/PVC binding, KubeVirt VM lifecycle, Velero backup sync and restore — is
// added here as Controller implementations; with none selected kube-sim is a bare API server.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "controller.h"

namespace kubesim {

// Names accepted by addBuiltinControllers, in the order they would be registered.
std::vector<std::string> builtinControllerNames();

// Registers the named controllers on `runner` (before runner.start()). "all" selects every one.
// An unknown name is an error naming the available ones.
[[nodiscard]] ApiStatus addBuiltinControllers(ControllerRunner& runner,
                                              const std::vector<std::string>& names);

// `--controller-option KEY=VALUE` settings, e.g. {"kubevirt.start-delay-ms": "300"}.
using ControllerOptions = std::map<std::string, std::string>;

// The same with settings for the controllers. A key no registered controller reads, or a value
// it cannot parse, is an error naming the accepted keys.
[[nodiscard]] ApiStatus addBuiltinControllers(ControllerRunner& runner,
                                              const std::vector<std::string>& names,
                                              const ControllerOptions& options);

// Every accepted option key with its meaning, in catalogue order.
std::vector<std::pair<std::string, std::string>> builtinControllerOptionKeys();

}  // namespace kubesim
