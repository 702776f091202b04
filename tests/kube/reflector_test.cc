// Reflector semantics against a scripted API: initial list, re-watch from the last RV without a
// re-list, 410 → re-list diff, seeding from a checkpoint, malformed objects, error backoff.
#include "kube/reflector.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <thread>

#include "kube/fake_http.h"

namespace ocpvdr::kube {
namespace {

using namespace std::chrono_literals;
using testing::FakeHttpClient;
using testing::FakeResponse;
using testing::jsonResponse;
using testing::RecordedRequest;
using testing::RecordingClock;
using testing::watchedPv;
using testing::watchEventLine;

std::string listBody(const std::vector<Json>& items, const std::string& rv) {
  Json body = {{"kind", "PersistentVolumeList"},
               {"apiVersion", "v1"},
               {"metadata", {{"resourceVersion", rv}}},
               {"items", items}};
  for (auto& it : body["items"]) {
    it.erase("kind");  // as the real server sends list items
    it.erase("apiVersion");
  }
  return body.dump();
}

std::string bookmark(const std::string& rv) {
  return watchEventLine("BOOKMARK", {{"kind", "PersistentVolume"},
                                     {"apiVersion", "v1"},
                                     {"metadata", {{"resourceVersion", rv}}}});
}

FakeResponse stream(std::vector<std::string> events) {
  return FakeResponse{200, {}, "", std::move(events), std::nullopt};
}

struct Seen {
  WatchEventType type;
  std::string name, rv;
  bool fromRelist;
  Json object;
};

// Scripted server: each request takes the next step; when the script runs out the reflector is
// stopped, so run() returns and the test inspects what happened.
struct ReflectorHarness {
  FakeHttpClient http;
  RecordingClock clock;
  std::stop_source stop;
  std::deque<std::function<FakeResponse(const RecordedRequest&)>> steps;
  std::vector<Seen> seen;
  KubeClient client;
  ReflectorOptions opts;

  ReflectorHarness() : client(http, config(), clock, clientOptions()) {
    opts.seed = 99;
    opts.watchTimeoutMin = 300s;
    opts.watchTimeoutMax = 600s;
    http.setHandler([this](const RecordedRequest& req) {
      if (steps.empty()) {
        stop.request_stop();
        return FakeResponse{0, {}, "", {}, retryableError("script finished")};
      }
      auto step = std::move(steps.front());
      steps.pop_front();
      return step(req);
    });
  }
  static ClusterConfig config() {
    ClusterConfig c;
    c.server = "http://sim";
    return c;
  }
  static KubeClientOptions clientOptions() {
    KubeClientOptions o;
    o.retry.maxAttempts = 1;  // the reflector's own backoff is under test
    o.seed = 5;
    return o;
  }
  void add(FakeResponse r) {
    steps.push_back([r](const RecordedRequest&) { return r; });
  }
  void add(std::function<FakeResponse(const RecordedRequest&)> f) { steps.push_back(std::move(f)); }

  std::unique_ptr<Reflector> make(const ResourceType& type = resources::persistentVolumes()) {
    return std::make_unique<Reflector>(
        client, clock, type, opts, [this](WatchEventType t, const Json& o, bool relist) {
          seen.push_back({t, o["metadata"].value("name", ""),
                          o["metadata"].value("resourceVersion", ""), relist, o});
        });
  }
  std::vector<RecordedRequest> watches() const {
    std::vector<RecordedRequest> out;
    for (auto& r : http.requests()) {
      if (r.query("watch") == "true") out.push_back(r);
    }
    return out;
  }
  std::vector<RecordedRequest> lists() const {
    std::vector<RecordedRequest> out;
    for (auto& r : http.requests()) {
      if (r.query("watch").empty()) out.push_back(r);
    }
    return out;
  }
};

std::string describe(const std::vector<Seen>& s) {
  std::string out;
  for (const auto& e : s) {
    out += std::string(toString(e.type)) + " " + e.name + "@" + e.rv +
           (e.fromRelist ? " (list)" : "") + "\n";
  }
  return out;
}

TEST(Reflector, ListThenWatchThenRewatchFromLastRvWithoutRelisting) {
  ReflectorHarness h;
  h.add(jsonResponse(200, listBody({watchedPv("a", "10"), watchedPv("b", "11")}, "12")));
  h.add(stream({watchEventLine("MODIFIED", watchedPv("a", "13")), bookmark("15")}));
  h.add(stream({watchEventLine("ADDED", watchedPv("c", "16")),
                watchEventLine("DELETED", watchedPv("b", "17"))}));
  auto r = h.make();
  EXPECT_FALSE(r->hasSynced());
  r->run(h.stop.get_token());

  ASSERT_EQ(h.seen.size(), 5u) << describe(h.seen);
  EXPECT_EQ(h.seen[0].type, WatchEventType::Added);
  EXPECT_TRUE(h.seen[0].fromRelist);
  EXPECT_EQ(h.seen[0].object["kind"], "PersistentVolume") << "kind filled in for list items";
  EXPECT_EQ(h.seen[1].name, "b");
  EXPECT_TRUE(h.seen[1].fromRelist);
  EXPECT_EQ(h.seen[2].type, WatchEventType::Modified);
  EXPECT_FALSE(h.seen[2].fromRelist);
  EXPECT_EQ(h.seen[3].type, WatchEventType::Added);
  EXPECT_EQ(h.seen[3].name, "c");
  EXPECT_EQ(h.seen[4].type, WatchEventType::Deleted);
  EXPECT_EQ(h.seen[4].name, "b");

  EXPECT_TRUE(r->hasSynced());
  EXPECT_EQ(r->knownVersions(), (std::map<std::string, std::string>{{"a", "13"}, {"c", "16"}}));
  EXPECT_EQ(r->lastResourceVersion(), "17");
  auto lists = h.lists();
  auto watches = h.watches();
  ASSERT_EQ(lists.size(), 1u) << "a clean watch end does not re-list";
  EXPECT_EQ(lists[0].query("limit"), "500");
  ASSERT_EQ(watches.size(), 3u);
  EXPECT_EQ(watches[0].query("resourceVersion"), "12");
  EXPECT_EQ(watches[1].query("resourceVersion"), "15") << "bookmark advanced the RV";
  EXPECT_EQ(watches[2].query("resourceVersion"), "17");
  for (const auto& w : watches) {
    EXPECT_EQ(w.query("allowWatchBookmarks"), "true");
    const int t = std::stoi(w.query("timeoutSeconds"));
    EXPECT_GE(t, 300);
    EXPECT_LE(t, 600);
  }
  EXPECT_EQ(r->counters().lists, 1u);
  EXPECT_EQ(r->counters().relists, 0u);
  EXPECT_EQ(r->counters().watches, 3u);

  MetricsRegistry metrics;
  publishReflectorMetrics(metrics, *r, "persistentvolumes");
  const Labels l{{"resource", "persistentvolumes"}};
  EXPECT_EQ(metrics.get("ocpvdr_kube_reflector_lists_total", l), 1);
  EXPECT_EQ(metrics.get("ocpvdr_kube_reflector_watches_total", l), 3);
  EXPECT_EQ(metrics.get("ocpvdr_kube_reflector_events_total", l), 5);
  EXPECT_EQ(metrics.get("ocpvdr_kube_reflector_synced", l), 1);
  EXPECT_EQ(metrics.get("ocpvdr_kube_reflector_objects", l), 2);
  EXPECT_NE(
      metrics.renderPrometheus().find("# TYPE ocpvdr_kube_reflector_watch_restarts_total counter"),
      std::string::npos);
}

TEST(Reflector, RandomisedWatchTimeoutDependsOnTheSeed) {
  auto timeouts = [](std::uint64_t seed) {
    ReflectorHarness h;
    h.opts.seed = seed;
    h.add(jsonResponse(200, listBody({}, "1")));
    for (int i = 0; i < 5; ++i)
      h.add(stream(
          {watchEventLine("ADDED", watchedPv("x" + std::to_string(i), std::to_string(i + 2)))}));
    h.make()->run(h.stop.get_token());
    std::vector<std::string> out;
    for (auto& w : h.watches()) out.push_back(w.query("timeoutSeconds"));
    return out;
  };
  auto a = timeouts(1), b = timeouts(1), c = timeouts(2);
  EXPECT_EQ(a, b) << "same seed, same timeouts";
  EXPECT_NE(a, c);
  std::set<std::string> distinct(a.begin(), a.end());
  EXPECT_GT(distinct.size(), 1u) << "timeouts vary between watches";
}

TEST(Reflector, ExpiredWatchRelistsAndDiffs) {
  for (bool asHttpStatus : {false, true}) {
    ReflectorHarness h;
    Json cFull = watchedPv("c", "12");
    cFull["spec"]["nfs"] = {{"server", "nfs1"}, {"path", "/exports/c"}};
    h.add(jsonResponse(200, listBody({watchedPv("a", "10"), watchedPv("b", "11"), cFull}, "12")));
    const std::string expired =
        R"js({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 12 (20)","reason":"Expired","code":410}})js"
        "\n";
    if (asHttpStatus) {
      h.add(stream({watchEventLine("MODIFIED", watchedPv("a", "13"))}));
      h.add(jsonResponse(410,
                         R"({"kind":"Status","status":"Failure","reason":"Expired","code":410})"));
    } else {
      h.add(stream({watchEventLine("MODIFIED", watchedPv("a", "13")), expired}));
    }
    // While disconnected: b modified, c deleted, d created, a unchanged since 13.
    h.add(jsonResponse(
        200, listBody({watchedPv("a", "13"), watchedPv("b", "20"), watchedPv("d", "21")}, "22")));
    auto r = h.make();
    r->run(h.stop.get_token());

    ASSERT_EQ(h.seen.size(), 7u) << describe(h.seen);
    // 3 initial ADDED + MODIFIED a (live) + re-list diff:
    EXPECT_EQ(h.seen[3].type, WatchEventType::Modified);
    EXPECT_FALSE(h.seen[3].fromRelist);
    EXPECT_EQ(h.seen[4].type, WatchEventType::Modified);
    EXPECT_EQ(h.seen[4].name, "b");
    EXPECT_TRUE(h.seen[4].fromRelist);
    EXPECT_EQ(h.seen[5].type, WatchEventType::Added);
    EXPECT_EQ(h.seen[5].name, "d");
    EXPECT_EQ(h.seen[6].type, WatchEventType::Deleted);
    EXPECT_EQ(h.seen[6].name, "c");
    EXPECT_TRUE(h.seen[6].fromRelist);
    EXPECT_EQ(h.seen[6].object["spec"]["nfs"]["path"], "/exports/c")
        << "a synthetic delete carries the last known object";

    EXPECT_EQ(r->knownVersions(),
              (std::map<std::string, std::string>{{"a", "13"}, {"b", "20"}, {"d", "21"}}));
    auto c = r->counters();
    EXPECT_EQ(c.lists, 2u);
    EXPECT_EQ(c.relists, 1u);
    EXPECT_EQ(c.expired, 1u);
    auto watches = h.watches();
    ASSERT_GE(watches.size(), 2u);
    EXPECT_EQ(watches.back().query("resourceVersion"), "22") << "watch resumes from the re-list";
    EXPECT_TRUE(h.clock.sleeps().empty()) << "a 410 re-lists at once, without backoff";
  }
}

TEST(Reflector, RecreatedObjectWithANewUidIsDeleteThenAdd) {
  ReflectorHarness h;
  h.add(jsonResponse(200, listBody({watchedPv("a", "10", "uid-1")}, "10")));
  h.add(jsonResponse(410, R"({"kind":"Status","status":"Failure","reason":"Expired","code":410})"));
  h.add(jsonResponse(200, listBody({watchedPv("a", "30", "uid-2")}, "30")));
  h.make()->run(h.stop.get_token());
  ASSERT_EQ(h.seen.size(), 3u) << describe(h.seen);
  EXPECT_EQ(h.seen[1].type, WatchEventType::Deleted);
  EXPECT_EQ(h.seen[1].object["metadata"]["uid"], "uid-1");
  EXPECT_EQ(h.seen[2].type, WatchEventType::Added);
  EXPECT_EQ(h.seen[2].object["metadata"]["uid"], "uid-2");
}

TEST(Reflector, SeededCheckpointReportsOnlyRealChanges) {
  ReflectorHarness h;
  h.add(jsonResponse(
      200, listBody({watchedPv("a", "10"), watchedPv("b", "12"), watchedPv("new", "13")}, "14")));
  auto r = h.make();
  r->seed(std::map<std::string, std::string>{{"a", "10"}, {"b", "11"}, {"gone", "5"}});
  r->run(h.stop.get_token());
  ASSERT_EQ(h.seen.size(), 3u) << describe(h.seen);
  EXPECT_EQ(h.seen[0].type, WatchEventType::Modified);
  EXPECT_EQ(h.seen[0].name, "b");
  EXPECT_EQ(h.seen[1].type, WatchEventType::Added);
  EXPECT_EQ(h.seen[1].name, "new");
  EXPECT_EQ(h.seen[2].type, WatchEventType::Deleted);
  EXPECT_EQ(h.seen[2].name, "gone");
  EXPECT_EQ(h.seen[2].rv, "5");
  EXPECT_EQ(h.seen[2].object["kind"], "PersistentVolume");
  EXPECT_FALSE(h.seen[2].object["metadata"].contains("namespace"));

  // Namespaced keys split into namespace and name; a seeded uid is passed on.
  ReflectorHarness h2;
  h2.add(jsonResponse(
      200,
      R"({"kind":"PersistentVolumeClaimList","metadata":{"resourceVersion":"3"},"items":[]})"));
  auto r2 = h2.make(resources::persistentVolumeClaims());
  r2->seed(std::map<std::string, SeedEntry>{{"demo/rootdisk", {"7", "uid-7"}}});
  r2->run(h2.stop.get_token());
  ASSERT_EQ(h2.seen.size(), 1u);
  EXPECT_EQ(h2.seen[0].type, WatchEventType::Deleted);
  EXPECT_EQ(h2.seen[0].object["metadata"]["namespace"], "demo");
  EXPECT_EQ(h2.seen[0].object["metadata"]["name"], "rootdisk");
  EXPECT_EQ(h2.seen[0].object["metadata"]["uid"], "uid-7");
  EXPECT_EQ(h2.seen[0].object["kind"], "PersistentVolumeClaim");
}

TEST(Reflector, MalformedObjectsAreSkippedAndTheStreamContinues) {
  ReflectorHarness h;
  Json noName = watchedPv("x", "3");
  noName["metadata"].erase("name");
  Json noRv = watchedPv("y", "4");
  noRv["metadata"].erase("resourceVersion");
  h.add(jsonResponse(200, listBody({noName, noRv, watchedPv("ok", "5")}, "6")));
  h.add(stream(
      {watchEventLine("ADDED", {{"kind", "PersistentVolume"}, {"metadata", {{"name", "nrv"}}}}),
       watchEventLine("MODIFIED", {{"kind", "PersistentVolume"}}),
       watchEventLine("ADDED", watchedPv("z", "8"))}));
  auto r = h.make();
  r->run(h.stop.get_token());
  ASSERT_EQ(h.seen.size(), 2u) << describe(h.seen);
  EXPECT_EQ(h.seen[0].name, "ok");
  EXPECT_EQ(h.seen[1].name, "z");
  EXPECT_EQ(r->counters().skipped, 4u);
  EXPECT_EQ(r->knownVersions(), (std::map<std::string, std::string>{{"ok", "5"}, {"z", "8"}}));
}

TEST(Reflector, ErrorsBackOffExponentiallyWithJitterAndResetAfterAHealthyWatch) {
  ReflectorHarness h;
  h.opts.backoffInitial = 800ms;
  h.opts.backoffMax = 5000ms;
  const std::string forbidden =
      R"({"kind":"Status","status":"Failure","reason":"Forbidden","code":403})";
  for (int i = 0; i < 3; ++i) h.add(jsonResponse(403, forbidden));
  h.add(jsonResponse(200, listBody({watchedPv("a", "1")}, "1")));
  h.add(FakeResponse{0, {}, "", {}, retryableError("connection refused")});
  h.add(FakeResponse{0, {}, "", {}, retryableError("connection refused")});
  h.add(stream({watchEventLine("MODIFIED", watchedPv("a", "2"))}));  // healthy: delivered an event
  h.add(FakeResponse{0, {}, "", {}, retryableError("connection refused")});
  // Then the script ends (stop).
  auto r = h.make();
  r->run(h.stop.get_token());

  const std::vector<std::int64_t> bases = {800, 1600, 3200, 5000, 5000, 800};
  auto sleeps = h.clock.sleeps();
  ASSERT_EQ(sleeps.size(), bases.size());
  for (std::size_t i = 0; i < bases.size(); ++i) {
    EXPECT_GE(sleeps[i].count(), bases[i]) << i;
    EXPECT_LE(sleeps[i].count(), bases[i] + bases[i] / 4) << i;
  }
  auto watches = h.watches();
  ASSERT_EQ(watches.size(), 5u);  // the last one finds the script finished (stop)
  EXPECT_EQ(watches[0].query("resourceVersion"), "1");
  EXPECT_EQ(watches[1].query("resourceVersion"), "1") << "an error re-watches, no re-list";
  EXPECT_EQ(watches[3].query("resourceVersion"), "2");
  EXPECT_EQ(h.lists().size(), 4u);
  EXPECT_EQ(r->counters().errors, 6u);
}

TEST(Reflector, AWatchThatEndsAtOnceWithoutEventsBacksOff) {
  ReflectorHarness h;
  h.add(jsonResponse(200, listBody({}, "1")));
  h.add(stream({}));
  h.add(stream({}));
  h.make()->run(h.stop.get_token());
  EXPECT_EQ(h.clock.sleeps().size(), 2u);
}

TEST(Reflector, StopsWhileBackingOff) {
  FakeHttpClient http;
  ManualClock clock;  // never advanced: only the stop request can end the backoff
  http.setHandler([](const RecordedRequest&) {
    return jsonResponse(503, R"({"kind":"Status","code":503,"status":"Failure"})");
  });
  KubeClientOptions o;
  o.retry.maxAttempts = 1;
  KubeClient client(http, ReflectorHarness::config(), clock, o);
  Reflector r(client, clock, resources::persistentVolumes(), {}, nullptr);
  std::jthread t([&](std::stop_token st) { r.run(st); });
  while (clock.sleepers() == 0) std::this_thread::sleep_for(1ms);
  t.request_stop();
  t.join();
  EXPECT_FALSE(r.hasSynced());
  EXPECT_EQ(r.counters().errors, 1u);
}

}  // namespace
}  // namespace ocpvdr::kube
