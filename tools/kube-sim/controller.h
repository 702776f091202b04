// Controller hooks: how simulated cluster behaviour (PV/PVC binding, KubeVirt VM lifecycle, Velero
// backup sync and restore, ...) plugs into kube-sim.
//
// A Controller sees every committed event in commit order and a periodic tick, both on the
// runner's own thread and never under the store lock, and acts through the Store's public verbs —
// the same write path as API calls, so its writes bump resourceVersion and reach watchers.
// KubeVirt subresource actions (PUT .../virtualmachines/<name>/start|stop|restart,
// .../virtualmachineinstances/<name>/freeze|unfreeze) are offered to controllers first, on the
// HTTP thread; when none takes them, defaultKubevirtAction() answers. See docs/kube-sim.md.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api_error.h"
#include "core/clock.h"
#include "object.h"
#include "store.h"

namespace kubesim {

// Lenient field reads for controllers: a missing field, or one of another type, reads as null
// (child) or "" (str); so does any field of a non-object.
const Json& child(const Json& j, const char* key);
std::string str(const Json& j, const char* key);

// PUT /apis/<group>/<version>/namespaces/<ns>/<resource>/<name>/<action>
struct ActionRequest {
  std::string group;     // "subresources.kubevirt.io"
  std::string version;   // "v1"
  std::string resource;  // "virtualmachines" | "virtualmachineinstances"
  std::string ns;
  std::string name;
  std::string action;  // start | stop | restart | freeze | unfreeze | ...
  Json body;           // the request body, parsed (null when empty)
  // Faults freezeErrorCount / unfreezeErrorCount chose this call to fail in the guest agent.
  bool agentFault = false;
};

struct ActionResponse {
  int code = 202;    // KubeVirt answers 202 Accepted to start/stop/restart
  std::string body;  // sent as application/json when not empty
};

class Controller {
 public:
  virtual ~Controller() = default;
  virtual std::string name() const = 0;
  // Every committed event (all resource types), in commit order. Writes made here are ordinary
  // API writes; their events come back through onEvent later.
  virtual void onEvent(const Event& event, Store& store) {
    (void)event;
    (void)store;
  }
  // Called every tick interval (and on ControllerRunner::requestTick()).
  virtual void tick(Store& store, ocpvdr::SystemTime now) {
    (void)store;
    (void)now;
  }
  // A subresource action; nullopt passes it on. Runs on the HTTP request's thread, concurrently
  // with onEvent/tick: guard any state the controller keeps.
  virtual std::optional<ApiResult<ActionResponse>> onAction(const ActionRequest& request,
                                                            Store& store) {
    (void)request;
    (void)store;
    return std::nullopt;
  }
  // /admin/<what> requests kube-sim itself does not serve (e.g. /admin/guest-agent); nullopt
  // passes them on (404 when nobody takes them). On the HTTP request's thread, like onAction.
  virtual std::optional<ApiResult<Json>> onAdmin(const std::string& what, const std::string& method,
                                                 const Json& body, Store& store) {
    (void)what;
    (void)method;
    (void)body;
    (void)store;
    return std::nullopt;
  }
};

class ControllerRunner final : public EventSink {
 public:
  ControllerRunner(Store& store, const ocpvdr::Clock& clock,
                   std::chrono::milliseconds tickInterval = std::chrono::milliseconds(1000));
  ~ControllerRunner() override;
  ControllerRunner(const ControllerRunner&) = delete;
  ControllerRunner& operator=(const ControllerRunner&) = delete;

  // Register before start(). Controllers are consulted in registration order.
  void add(std::unique_ptr<Controller> controller);
  // Subscribes to the store and starts the runner thread (a no-op without controllers).
  void start();
  void stop();

  ApiResult<ActionResponse> handleAction(const ActionRequest& request);
  // The first controller's answer to an /admin request; nullopt when none takes it.
  std::optional<ApiResult<Json>> handleAdmin(const std::string& what, const std::string& method,
                                             const Json& body);
  void requestTick();
  // Blocks until every event committed before the call has been handled (tests, admin).
  void drain();
  std::size_t size() const { return controllers_.size(); }

  void deliver(const EventPtr& event) override;

 private:
  void run();

  Store& store_;
  const ocpvdr::Clock& clock_;
  const std::chrono::milliseconds tickInterval_;
  std::vector<std::unique_ptr<Controller>> controllers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable drained_;
  std::deque<EventPtr> queue_;
  std::uint64_t delivered_ = 0;  // events queued so far
  std::uint64_t handled_ = 0;    // events fully handled
  bool stopping_ = false;
  bool tickRequested_ = false;
  bool started_ = false;
  std::thread thread_;
};

// kube-sim's stand-in for virt-api when no controller takes an action:
//  VM start: runStrategy Halted -> Always (202); Always -> 409; Manual/RerunOnFailure/Once ->
//            status.stateChangeRequests [{action: Start}] (202). spec.running false -> true.
//  VM stop:  Always/RerunOnFailure -> Halted (202); Halted -> 409; Manual/Once -> Stop request.
//  VM restart: Halted -> 409; otherwise stateChangeRequests [Stop, Start] (202).
//  VMI freeze/unfreeze: GuestFreeze (guest_freeze.h) without its automatic thaw — that needs the
//            kubevirt controller (virt-handler's side), which takes these actions when it runs.
//  Anything else: 404.
ApiResult<ActionResponse> defaultKubevirtAction(const ActionRequest& request, Store& store);

}  // namespace kubesim
