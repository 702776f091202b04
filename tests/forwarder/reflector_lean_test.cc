// kube::Reflector with ReflectorOptions::keepObjects = false (the option the forwarder added): the
// same events as with objects kept — live events carry the full object — but the view holds only
// name, uid and resourceVersion, and a deletion found by a re-list (or a new uid under the same
// name) carries a minimal object, which the forwarder completes from its checkpoint.
#include <gtest/gtest.h>

#include "kube/fake_http.h"
#include "kube/reflector.h"

namespace ocpvdr::kube {
namespace {

using testing::FakeHttpClient;
using testing::FakeResponse;
using testing::jsonResponse;
using testing::RecordedRequest;
using testing::RecordingClock;
using testing::watchedPv;
using testing::watchEventLine;

std::string listBody(const std::vector<Json>& items, const std::string& rv) {
  return Json{{"kind", "PersistentVolumeList"},
              {"apiVersion", "v1"},
              {"metadata", {{"resourceVersion", rv}}},
              {"items", items}}
      .dump();
}

struct Seen {
  WatchEventType type;
  bool fromRelist;
  Json object;
};

std::vector<Seen> runScript(bool keepObjects, std::map<std::string, std::string>* known) {
  FakeHttpClient http;
  RecordingClock clock;
  std::stop_source stop;
  std::deque<FakeResponse> steps;
  steps.push_back(jsonResponse(
      200, listBody({watchedPv("a", "10"), watchedPv("b", "11"), watchedPv("c", "12")}, "12")));
  const std::string expired =
      R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},)"
      R"("status":"Failure","message":"too old","reason":"Expired","code":410}})"
      "\n";
  steps.push_back(
      FakeResponse{200,
                   {},
                   "",
                   {watchEventLine("MODIFIED", watchedPv("a", "13")),
                    watchEventLine("MODIFIED", watchedPv("c", "14", "uid-c2")), expired},
                   std::nullopt});
  // While disconnected: b deleted, a modified.
  steps.push_back(
      jsonResponse(200, listBody({watchedPv("a", "20"), watchedPv("c", "14", "uid-c2")}, "22")));
  http.setHandler([&](const RecordedRequest&) {
    if (steps.empty()) {
      stop.request_stop();
      return FakeResponse{0, {}, "", {}, retryableError("script finished")};
    }
    FakeResponse r = steps.front();
    steps.pop_front();
    return r;
  });
  ClusterConfig cfg;
  cfg.server = "http://sim";
  KubeClientOptions co;
  co.retry.maxAttempts = 1;
  KubeClient client(http, cfg, clock, co);
  ReflectorOptions ro;
  ro.seed = 1;
  ro.keepObjects = keepObjects;
  std::vector<Seen> seen;
  Reflector r(client, clock, resources::persistentVolumes(), ro,
              [&](WatchEventType t, const Json& o, bool relist) {
                seen.push_back({t, relist, o});
              });
  r.run(stop.get_token());
  *known = r.knownVersions();
  return seen;
}

TEST(ReflectorKeepObjects, SameEventsWithMinimalObjectsForDeletionsNotSeenLive) {
  std::map<std::string, std::string> keptKnown, leanKnown;
  const auto kept = runScript(true, &keptKnown);
  const auto lean = runScript(false, &leanKnown);
  ASSERT_EQ(kept.size(), lean.size());
  EXPECT_EQ(keptKnown, leanKnown);
  EXPECT_EQ(leanKnown, (std::map<std::string, std::string>{{"a", "20"}, {"c", "14"}}));
  // 3 ADDED, MODIFIED a, DELETED c (old uid) + ADDED c (new uid), re-list: MODIFIED a, DELETED b.
  ASSERT_EQ(lean.size(), 8u);
  for (std::size_t i = 0; i < lean.size(); ++i) {
    EXPECT_EQ(lean[i].type, kept[i].type) << i;
    EXPECT_EQ(lean[i].fromRelist, kept[i].fromRelist) << i;
    EXPECT_EQ(lean[i].object["metadata"]["name"], kept[i].object["metadata"]["name"]) << i;
    EXPECT_EQ(lean[i].object["metadata"]["uid"], kept[i].object["metadata"]["uid"]) << i;
    if (lean[i].type != WatchEventType::Deleted) {
      EXPECT_EQ(lean[i].object, kept[i].object) << "live and listed objects are complete: " << i;
    }
  }
  EXPECT_EQ(lean[4].type, WatchEventType::Deleted);
  EXPECT_FALSE(lean[4].object.contains("spec")) << "minimal: the view kept no object";
  EXPECT_EQ(lean[4].object["metadata"]["uid"], "uid-c");
  EXPECT_EQ(lean[4].object["metadata"]["resourceVersion"], "12");
  EXPECT_TRUE(kept[4].object.contains("spec"));
  EXPECT_EQ(lean[7].type, WatchEventType::Deleted);
  EXPECT_TRUE(lean[7].fromRelist);
  EXPECT_EQ(lean[7].object["metadata"]["name"], "b");
  EXPECT_FALSE(lean[7].object.contains("spec"));
  EXPECT_EQ(kept[7].object["spec"]["storageClassName"], "nfs-dynamic");
}

}  // namespace
}  // namespace ocpvdr::kube
