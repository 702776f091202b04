// Periodic compaction in-process on an injected clock (StoreOptions::compactionInterval, modelled
// on kube-apiserver's etcd3/compact.go): at each interval the history up to the resourceVersion of
// the previous interval is dropped, so a resourceVersion stays watchable for one to two intervals
// and then gets 410 Expired — without anyone calling compact().
#include <gtest/gtest.h>

#include "core/clock.h"
#include "store.h"

namespace kubesim {
namespace {

using namespace std::chrono_literals;

Json pvObj(const std::string& name) {
  return {{"apiVersion", "v1"},
          {"kind", "PersistentVolume"},
          {"metadata", {{"name", name}}},
          {"spec",
           {{"capacity", {{"storage", "1Gi"}}},
            {"accessModes", {"ReadWriteOnce"}},
            {"nfs", {{"server", "s"}, {"path", "/e/" + name}}}}}};
}

TEST(StoreCompaction, AResourceVersionExpiresAfterOneToTwoIntervals) {
  ocpvdr::ManualClock clock;
  Store store{clock, StoreOptions{.compactionInterval = 300s, .defaultNamespaces = false}};
  const ResourceType& pvs = *store.table().find("", "v1", "persistentvolumes");
  auto watchFrom = [&](std::uint64_t rv) {
    WatchRequest wr;
    wr.resourceVersion = std::to_string(rv);
    auto w = store.watch(pvs, wr);
    if (w.ok()) store.unwatch(w.value());
    return w.ok() ? 200 : w.error().code;
  };

  ASSERT_TRUE(store.create(pvs, "", pvObj("a")).ok());  // rv 1
  ASSERT_TRUE(store.create(pvs, "", pvObj("b")).ok());  // rv 2
  clock.advance(299s);
  EXPECT_EQ(watchFrom(1), 200);
  // First tick (t=300 s, run by this watch): compacts to the RV of the start (0), remembers 2.
  clock.advance(1s);
  EXPECT_EQ(watchFrom(1), 200) << "one interval old is still in the history";
  ASSERT_TRUE(store.create(pvs, "", pvObj("c")).ok());  // rv 3
  // Second tick (t=600 s): everything up to rv 2 goes.
  clock.advance(300s);
  EXPECT_EQ(watchFrom(1), 410);
  EXPECT_EQ(watchFrom(2), 200) << "a watch from 2 needs only events after 2";
  EXPECT_EQ(watchFrom(3), 200);
  // No writes for a long time: the ticks still happen (checked on the next watch).
  clock.advance(900s);
  EXPECT_EQ(watchFrom(2), 410);
  EXPECT_EQ(watchFrom(3), 200) << "the current RV is never expired";
}

TEST(StoreCompaction, ZeroIntervalNeverCompacts) {
  ocpvdr::ManualClock clock;
  Store store{clock, StoreOptions{.defaultNamespaces = false}};
  const ResourceType& pvs = *store.table().find("", "v1", "persistentvolumes");
  ASSERT_TRUE(store.create(pvs, "", pvObj("a")).ok());
  clock.advance(24h);
  ASSERT_TRUE(store.create(pvs, "", pvObj("b")).ok());
  WatchRequest wr;
  wr.resourceVersion = "1";
  auto w = store.watch(pvs, wr);
  ASSERT_TRUE(w.ok());
  store.unwatch(w.value());
}

}  // namespace
}  // namespace kubesim
