// ControllerRunner (event fan-out and ticks on one thread) and the default KubeVirt actions.
#include "controller.h"

#include "guest_freeze.h"

namespace kubesim {

const Json& child(const Json& j, const char* key) {
  static const Json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string str(const Json& j, const char* key) {
  const Json& v = child(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

ControllerRunner::ControllerRunner(Store& store, const ocpvdr::Clock& clock,
                                   std::chrono::milliseconds tickInterval)
    : store_(store), clock_(clock), tickInterval_(tickInterval) {}

ControllerRunner::~ControllerRunner() {
  stop();
}

void ControllerRunner::add(std::unique_ptr<Controller> controller) {
  controllers_.push_back(std::move(controller));
}

void ControllerRunner::start() {
  if (started_ || controllers_.empty()) return;
  started_ = true;
  store_.addSink(this);
  thread_ = std::thread([this] { run(); });
}

void ControllerRunner::stop() {
  if (!started_) return;
  store_.removeSink(this);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  started_ = false;
  drained_.notify_all();
}

void ControllerRunner::deliver(const EventPtr& event) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(event);
    ++delivered_;
  }
  cv_.notify_one();
}

void ControllerRunner::requestTick() {
  {
    std::lock_guard lock(mu_);
    tickRequested_ = true;
  }
  cv_.notify_one();
}

void ControllerRunner::drain() {
  std::unique_lock lock(mu_);
  if (!started_) return;
  const std::uint64_t target = delivered_;
  drained_.wait(lock, [&] { return handled_ >= target || stopping_; });
}

void ControllerRunner::run() {
  auto nextTick = std::chrono::steady_clock::now() + tickInterval_;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_until(lock, nextTick, [&] { return stopping_ || !queue_.empty() || tickRequested_; });
    if (stopping_) break;
    while (!queue_.empty()) {
      EventPtr ev = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      for (auto& c : controllers_) c->onEvent(*ev, store_);
      lock.lock();
      ++handled_;
      drained_.notify_all();
    }
    if (tickRequested_ || std::chrono::steady_clock::now() >= nextTick) {
      tickRequested_ = false;
      lock.unlock();
      const auto now = clock_.now();
      for (auto& c : controllers_) c->tick(store_, now);
      lock.lock();
      nextTick = std::chrono::steady_clock::now() + tickInterval_;
    }
  }
}

ApiResult<ActionResponse> ControllerRunner::handleAction(const ActionRequest& request) {
  for (auto& c : controllers_) {
    if (auto r = c->onAction(request, store_)) return std::move(*r);
  }
  return defaultKubevirtAction(request, store_);
}

std::optional<ApiResult<Json>> ControllerRunner::handleAdmin(const std::string& what,
                                                             const std::string& method,
                                                             const Json& body) {
  for (auto& c : controllers_) {
    if (auto r = c->onAdmin(what, method, body, store_)) return r;
  }
  return std::nullopt;
}

namespace {

ApiError actionConflict(const ActionRequest& r, const std::string& why) {
  return ApiError{409,
                  "Conflict",
                  why,
                  {{"name", r.name}, {"group", "subresources.kubevirt.io"}, {"kind", r.resource}}};
}

WriteOptions virtApi(const std::string& subresource = "") {
  WriteOptions o;
  o.fieldManager = "virt-api";
  o.subresource = subresource;
  return o;
}

ApiResult<ActionResponse> vmAction(const ActionRequest& r, Store& store) {
  const ResourceType* vmType = store.table().find("kubevirt.io", "v1", "virtualmachines");
  auto vm = store.get(*vmType, r.ns, r.name);
  if (!vm.ok()) return vm.error();
  const Json& spec = vm.value()->object.contains("spec") ? vm.value()->object["spec"] : Json();
  const bool usesRunning =
      spec.is_object() && spec.contains("running") && !spec.contains("runStrategy");
  const std::string strategy =
      usesRunning ? (spec["running"] == true ? "Always" : "Halted")
                  : (spec.is_object() ? spec.value("runStrategy", "Halted") : "Halted");

  auto setSpec = [&](const std::string& target) -> ApiResult<ActionResponse> {
    auto w = store.modify(
        *vmType, r.ns, r.name,
        [&](Json& o) {
          if (usesRunning) {
            o["spec"]["running"] = target == "Always";
          } else {
            o["spec"]["runStrategy"] = target;
          }
        },
        virtApi());
    if (!w.ok()) return w.error();
    return ActionResponse{};
  };
  auto request = [&](std::vector<std::string> actions) -> ApiResult<ActionResponse> {
    auto w = store.modify(
        *vmType, r.ns, r.name,
        [&](Json& o) {
          Json& reqs = o["status"]["stateChangeRequests"];
          if (!reqs.is_array()) reqs = Json::array();
          for (const auto& a : actions) reqs.push_back({{"action", a}});
        },
        virtApi("status"));
    if (!w.ok()) return w.error();
    return ActionResponse{};
  };

  if (r.action == "start") {
    if (strategy == "Always") return actionConflict(r, "VM is already running");
    if (strategy == "Halted") return setSpec("Always");
    return request({"Start"});
  }
  if (r.action == "stop") {
    if (strategy == "Halted") return actionConflict(r, "VM is not running");
    if (strategy == "Always" || strategy == "RerunOnFailure") return setSpec("Halted");
    return request({"Stop"});
  }
  if (r.action == "restart") {
    if (strategy == "Halted") return actionConflict(r, "VM is not running");
    return request({"Stop", "Start"});
  }
  return pathNotFound();
}

}  // namespace

ApiResult<ActionResponse> defaultKubevirtAction(const ActionRequest& request, Store& store) {
  if (request.group != "subresources.kubevirt.io" || request.version != "v1") return pathNotFound();
  if (request.resource == "virtualmachines") return vmAction(request, store);
  if (request.resource == "virtualmachineinstances") {
    GuestFreeze stateless;  // no virt-handler running: no automatic thaw
    if (auto r = stateless.handle(request, store, false)) return std::move(*r);
  }
  return pathNotFound();
}

}  // namespace kubesim
