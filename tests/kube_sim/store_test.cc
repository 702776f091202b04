// The Store in-process: timestamps from an injected clock, resourceVersion and no-op writes,
// exact-RV list snapshots, watch replay and compaction, finalizers, dry runs.
#include "store.h"

#include <gtest/gtest.h>

#include "core/clock.h"

namespace kubesim {
namespace {

Json pvObj(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "PersistentVolume"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"capacity", {{"storage", "1Gi"}}},
            {"accessModes", {"ReadWriteOnce"}},
            {"nfs", {{"server", "s"}, {"path", "/e/" + name}}}}}};
}

class StoreTest : public ::testing::Test {
 protected:
  // 2027-01-15T08:00:00Z
  ocpvdr::ManualClock clock{ocpvdr::SystemTime{std::chrono::seconds{1800000000}}};
  Store store{clock, StoreOptions{.compactionWindow = 0, .defaultNamespaces = false}};
  const ResourceType& pvs = *store.table().find("", "v1", "persistentvolumes");
  const ResourceType& nss = *store.table().find("", "v1", "namespaces");
};

TEST_F(StoreTest, TimestampsComeFromTheInjectedClock) {
  auto r = store.create(pvs, "", pvObj("a"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.value().object->object["metadata"]["creationTimestamp"], "2027-01-15T08:00:00Z");
  clock.advance(std::chrono::seconds(90));
  Json withFin = pvObj("b");
  withFin["metadata"]["finalizers"] = {"x/y"};
  ASSERT_TRUE(store.create(pvs, "", withFin).ok());
  auto d = store.remove(pvs, "", "b");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.value().object->object["metadata"]["deletionTimestamp"], "2027-01-15T08:01:30Z");
}

TEST_F(StoreTest, ResourceVersionMovesOnlyOnRealChanges) {
  EXPECT_EQ(store.resourceVersion(), 0u);
  auto a = store.create(pvs, "", pvObj("a"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value().object->resourceVersion, 1u);
  auto same = store.update(pvs, "", "a", a.value().object->object);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same.value().object->resourceVersion, 1u);
  EXPECT_EQ(store.resourceVersion(), 1u);
  auto changed = store.modify(pvs, "", "a", [](Json& o) { o["metadata"]["labels"]["x"] = "y"; });
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed.value().object->resourceVersion, 2u);
  // Dry run answers but stores nothing.
  WriteOptions dry;
  dry.dryRun = true;
  auto d = store.create(pvs, "", pvObj("dry"), dry);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(store.get(pvs, "", "dry").ok());
  EXPECT_EQ(store.resourceVersion(), 2u);
}

TEST_F(StoreTest, ExactListsSeeThePast) {
  ASSERT_TRUE(store.create(pvs, "", pvObj("a")).ok());
  ASSERT_TRUE(store.create(pvs, "", pvObj("b")).ok());
  const auto rv = store.resourceVersion();
  ASSERT_TRUE(store.modify(pvs, "", "a", [](Json& o) { o["metadata"]["labels"]["v"] = "2"; }).ok());
  ASSERT_TRUE(store.remove(pvs, "", "b").ok());
  ASSERT_TRUE(store.create(pvs, "", pvObj("c")).ok());
  ListRequest req;
  req.resourceVersion = std::to_string(rv);
  req.resourceVersionMatch = "Exact";
  auto past = store.list(pvs, req);
  ASSERT_TRUE(past.ok());
  ASSERT_EQ(past.value().items.size(), 2u);
  EXPECT_EQ(past.value().items[0]->name, "a");
  EXPECT_FALSE(past.value().items[0]->object["metadata"].contains("labels"));
  EXPECT_EQ(past.value().items[1]->name, "b");
  EXPECT_EQ(past.value().resourceVersion, rv);
  auto now = store.list(pvs, ListRequest{});
  ASSERT_TRUE(now.ok());
  ASSERT_EQ(now.value().items.size(), 2u);
  EXPECT_EQ(now.value().items[1]->name, "c");
}

TEST_F(StoreTest, WatchReplaysHistoryAndExpiresCompactedVersions) {
  ASSERT_TRUE(store.create(pvs, "", pvObj("a")).ok());
  const auto rv = store.resourceVersion();
  ASSERT_TRUE(store.create(pvs, "", pvObj("b")).ok());
  ASSERT_TRUE(store.create(nss, "", Json{{"metadata", {{"name", "n"}}}}).ok());  // other type
  WatchRequest wr;
  wr.resourceVersion = std::to_string(rv);
  auto w = store.watch(pvs, wr);
  ASSERT_TRUE(w.ok());
  auto batch = w.value()->wait(std::chrono::steady_clock::now());
  ASSERT_EQ(batch.items.size(), 1u);
  EXPECT_EQ(batch.items[0].type, "ADDED");
  EXPECT_EQ(batch.items[0].object->name, "b");
  // Live events arrive through the queue.
  ASSERT_TRUE(store.remove(pvs, "", "a").ok());
  batch = w.value()->wait(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  ASSERT_EQ(batch.items.size(), 1u);
  EXPECT_EQ(batch.items[0].type, "DELETED");
  EXPECT_EQ(store.bookmarkVersion(*w.value()), store.resourceVersion());
  store.unwatch(w.value());

  const auto before = store.resourceVersion();
  ASSERT_TRUE(store.create(pvs, "", pvObj("c")).ok());
  EXPECT_EQ(store.compact(), store.resourceVersion());
  wr.resourceVersion = std::to_string(before);
  auto expired = store.watch(pvs, wr);
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code, 410);
  wr.resourceVersion = std::to_string(store.resourceVersion());
  EXPECT_TRUE(store.watch(pvs, wr).ok());
}

TEST(StoreWindow, CompactionWindowKeepsTheLastNEvents) {
  ocpvdr::ManualClock clock;
  Store store(clock, StoreOptions{.compactionWindow = 2, .defaultNamespaces = false});
  const auto& pvs = *store.table().find("", "v1", "persistentvolumes");
  for (const char* n : {"a", "b", "c", "d"}) ASSERT_TRUE(store.create(pvs, "", pvObj(n)).ok());
  WatchRequest wr;
  wr.resourceVersion = "2";  // events 3 and 4 retained: servable
  EXPECT_TRUE(store.watch(pvs, wr).ok());
  wr.resourceVersion = "1";  // event 2 is gone
  auto r = store.watch(pvs, wr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 410);
  EXPECT_EQ(store.stats()["historyEvents"], 2);
}

TEST_F(StoreTest, ClearingTheLastFinalizerDeletesWithOneEvent) {
  Json o = pvObj("f");
  o["metadata"]["finalizers"] = {"x/y"};
  ASSERT_TRUE(store.create(pvs, "", o).ok());
  ASSERT_TRUE(store.remove(pvs, "", "f").ok());
  WatchRequest wr;
  wr.resourceVersion = std::to_string(store.resourceVersion());
  auto w = store.watch(pvs, wr);
  ASSERT_TRUE(w.ok());
  auto r = store.modify(pvs, "", "f", [](Json& obj) { obj["metadata"].erase("finalizers"); });
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(store.get(pvs, "", "f").ok());
  auto batch = w.value()->wait(std::chrono::steady_clock::now() + std::chrono::seconds(1));
  ASSERT_EQ(batch.items.size(), 1u);
  EXPECT_EQ(batch.items[0].type, "DELETED");
  EXPECT_FALSE(batch.items[0].object->object["metadata"].contains("finalizers"));
}

TEST_F(StoreTest, NamespacedCreateNeedsTheNamespace) {
  const auto& vms = *store.table().find("kubevirt.io", "v1", "virtualmachines");
  Json vm = {{"apiVersion", "kubevirt.io/v1"},
             {"kind", "VirtualMachine"},
             {"metadata", {{"name", "v"}, {"namespace", "demo"}}},
             {"spec", {{"runStrategy", "Halted"}}}};
  auto r = store.create(vms, "", vm);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, 404);
  ASSERT_TRUE(store.create(nss, "", Json{{"metadata", {{"name", "demo"}}}}).ok());
  auto ok = store.create(vms, "", vm);  // namespace taken from the object (controllers)
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.value().object->ns, "demo");
  EXPECT_EQ(ok.value().object->object["metadata"]["generation"], 1);
}

}  // namespace
}  // namespace kubesim
