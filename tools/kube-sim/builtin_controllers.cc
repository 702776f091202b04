// Controller catalogue. To add one: implement kubesim::Controller (see controller.h and
// docs/kube-sim.md), then add a {name, factory} entry to catalogue() below.
#include "builtin_controllers.h"

#include <functional>
#include <memory>
#include <utility>

namespace kubesim {

namespace {

using Factory = std::function<std::unique_ptr<Controller>()>;

const std::vector<std::pair<std::string, Factory>>& catalogue() {
  static const std::vector<std::pair<std::string, Factory>> entries = {};
  return entries;
}

}  // namespace

std::vector<std::string> builtinControllerNames() {
  std::vector<std::string> names;
  for (const auto& [name, factory] : catalogue()) names.push_back(name);
  return names;
}

ApiStatus addBuiltinControllers(ControllerRunner& runner, const std::vector<std::string>& names) {
  for (const auto& wanted : names) {
    bool found = wanted == "all";
    for (const auto& [name, factory] : catalogue()) {
      if (wanted == "all" || wanted == name) {
        runner.add(factory());
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
