// Controller hooks: a controller sees committed events in order, writes through the same path
// (new resourceVersions, watch events), ticks on request, and may take KubeVirt actions.
#include "controller.h"

#include <gtest/gtest.h>

#include <atomic>

#include "core/clock.h"

namespace kubesim {
namespace {

// Binds every new PVC (status.phase Bound) and counts ticks: a miniature of the PV controller.
class BindingController final : public Controller {
 public:
  std::string name() const override { return "test-binder"; }
  void onEvent(const Event& event, Store& store) override {
    seen.push_back(event.resourceVersion);
    if (event.type->kind != "PersistentVolumeClaim" || event.kind != EventType::Added) return;
    WriteOptions o;
    o.fieldManager = name();
    o.subresource = "status";
    (void)store.modify(
        *event.type, event.object->ns, event.object->name,
        [](Json& obj) { obj["status"]["phase"] = "Bound"; }, o);
  }
  void tick(Store&, ocpvdr::SystemTime) override { ++ticks; }
  std::optional<ApiResult<ActionResponse>> onAction(const ActionRequest& r, Store&) override {
    if (r.action != "migrate") return std::nullopt;
    return ApiResult<ActionResponse>(ActionResponse{202, "{\"taken\":true}"});
  }
  std::vector<std::uint64_t> seen;
  std::atomic<int> ticks{0};
};

TEST(Controllers, WritesGoThroughTheStoreAndReachWatchers) {
  ocpvdr::ManualClock clock;
  Store store(clock);
  ControllerRunner runner(store, clock, std::chrono::hours(1));
  auto binder = std::make_unique<BindingController>();
  BindingController* b = binder.get();
  runner.add(std::move(binder));
  runner.start();

  const auto& pvcs = *store.table().find("", "v1", "persistentvolumeclaims");
  WatchRequest wr;
  wr.resourceVersion = std::to_string(store.resourceVersion());
  auto w = store.watch(pvcs, wr);
  ASSERT_TRUE(w.ok());
  Json pvc = {
      {"apiVersion", "v1"},
      {"kind", "PersistentVolumeClaim"},
      {"metadata", {{"name", "claim"}, {"namespace", "default"}}},
      {"spec",
       {{"accessModes", {"ReadWriteMany"}}, {"resources", {{"requests", {{"storage", "1Gi"}}}}}}}};
  auto created = store.create(pvcs, "default", pvc);
  ASSERT_TRUE(created.ok());
  runner.drain();  // the ADDED event has been handled (and the controller's write committed)
  runner.drain();  // ... and the MODIFIED that write produced

  auto got = store.get(pvcs, "default", "claim");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value()->object["status"]["phase"], "Bound");
  EXPECT_GT(got.value()->resourceVersion, created.value().object->resourceVersion);
  bool managedByController = false;
  for (const auto& m : got.value()->object["metadata"]["managedFields"]) {
    managedByController = managedByController ||
                          (m["manager"] == "test-binder" && m.value("subresource", "") == "status");
  }
  EXPECT_TRUE(managedByController);

  auto batch = w.value()->wait(std::chrono::steady_clock::now() + std::chrono::seconds(2));
  while (batch.items.size() < 2) {
    auto more = w.value()->wait(std::chrono::steady_clock::now() + std::chrono::seconds(2));
    if (more.items.empty()) break;
    batch.items.insert(batch.items.end(), more.items.begin(), more.items.end());
  }
  ASSERT_EQ(batch.items.size(), 2u);
  EXPECT_EQ(batch.items[0].type, "ADDED");
  EXPECT_EQ(batch.items[1].type, "MODIFIED");

  // Events arrive in commit order.
  runner.drain();
  for (std::size_t i = 1; i < b->seen.size(); ++i) EXPECT_LT(b->seen[i - 1], b->seen[i]);

  runner.requestTick();
  for (int i = 0; i < 200 && b->ticks == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_GE(b->ticks.load(), 1);

  // Actions: a controller may take one; the rest fall through to the defaults.
  ActionRequest migrate{"subresources.kubevirt.io",
                        "v1",
                        "virtualmachineinstances",
                        "default",
                        "v",
                        "migrate",
                        nullptr};
  auto taken = runner.handleAction(migrate);
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(taken.value().body, "{\"taken\":true}");
  ActionRequest start{
      "subresources.kubevirt.io", "v1", "virtualmachines", "default", "missing", "start", nullptr};
  auto fallback = runner.handleAction(start);
  ASSERT_FALSE(fallback.ok());
  EXPECT_EQ(fallback.error().code, 404);
  runner.stop();
}

}  // namespace
}  // namespace kubesim
