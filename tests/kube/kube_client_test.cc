// KubeClient against a scripted HttpClient: request shapes, Status decoding, retry policy,
// paging and the watch stream's endings. Retry sleeps go through a recording Clock.
#include "kube/kube_client.h"

#include <gtest/gtest.h>

#include "core/files.h"
#include "core/json_util.h"
#include "kube/fake_http.h"
#include "support/temp_dir.h"

namespace ocpvdr::kube {
namespace {

using namespace std::chrono_literals;
using testing::FakeHttpClient;
using testing::FakeResponse;
using testing::jsonResponse;
using testing::RecordedRequest;
using testing::RecordingClock;

std::string fixture(const std::string& name) {
  auto text = readFile(ocpvdr::testing::fixturePath("kube-api/" + name).string());
  EXPECT_TRUE(text.ok()) << name;
  return text.valueOr("");
}

ClusterConfig testConfig() {
  ClusterConfig c;
  c.server = "https://api.test:6443";
  c.token = "secret-token-value";
  return c;
}

KubeClientOptions testOptions() {
  KubeClientOptions o;
  o.seed = 1;
  return o;
}

struct ClientTest : ::testing::Test {
  FakeHttpClient http;
  RecordingClock clock;
  KubeClient client{http, testConfig(), clock, testOptions()};
};

const char* kPv = R"({"metadata":{"name":"pv-1","uid":"u1","resourceVersion":"5"},"spec":{}})";

TEST_F(ClientTest, GetBuildsTheRequestAndFillsKind) {
  http.push(jsonResponse(200, kPv));
  auto r = client.get(resources::persistentVolumes(), "", "pv-1");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ((*r)["kind"], "PersistentVolume");
  EXPECT_EQ((*r)["apiVersion"], "v1");
  auto reqs = http.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].url, "https://api.test:6443/api/v1/persistentvolumes/pv-1");
  EXPECT_EQ(reqs[0].header("Authorization"), "Bearer secret-token-value");
  EXPECT_EQ(reqs[0].header("Accept"), "application/json");
  EXPECT_EQ(reqs[0].header("Content-Type"), "");
}

TEST_F(ClientTest, RawRequestForDiscoveryPaths) {
  http.push(jsonResponse(200, R"({"major":"1","minor":"32","gitVersion":"v1.32.0"})"));
  auto v = client.request("GET", "/version");
  ASSERT_TRUE(v.ok()) << v.error().describe();
  EXPECT_EQ((*v)["gitVersion"], "v1.32.0");
  EXPECT_EQ(http.requests().back().url, "https://api.test:6443/version");
  auto bad = client.request("GET", "version");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::Invalid);
  http.push(jsonResponse(200, "<html>not json</html>"));
  auto notJson = client.request("GET", "/healthz");
  ASSERT_FALSE(notJson.ok());
  EXPECT_NE(notJson.error().message.find("not JSON"), std::string::npos);
}

TEST_F(ClientTest, StatusErrorsAreDecodedAndNeverEchoTheToken) {
  http.push(jsonResponse(404, fixture("status_404.json")));
  auto r = client.get(resources::persistentVolumes(), "", "nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::NotFound);
  EXPECT_TRUE(isNotFound(r.error()));
  EXPECT_NE(r.error().message.find("GET /api/v1/persistentvolumes/nope"), std::string::npos);
  EXPECT_EQ(r.error().message.find("secret-token-value"), std::string::npos);

  http.push(jsonResponse(403, fixture("status_403.json")));
  auto f = client.list(resources::persistentVolumes(), "");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().kind, ErrorKind::Refused);
  EXPECT_NE(f.error().message.find("forbidden"), std::string::npos);
}

TEST_F(ClientTest, RetriesHonourRetryAfterThenBackOffExponentially) {
  http.push(jsonResponse(503, R"({"kind":"Status","code":503,"status":"Failure"})",
                         {{"Retry-After", "3"}}));
  http.push(jsonResponse(429, "{}"));
  http.push(jsonResponse(500, "<html>oops</html>"));
  http.push(jsonResponse(200, kPv));
  auto r = client.get(resources::persistentVolumes(), "", "pv-1");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  auto sleeps = clock.sleeps();
  ASSERT_EQ(sleeps.size(), 3u);
  EXPECT_EQ(sleeps[0], 3000ms);  // Retry-After, seconds
  // attempt 2: base 400 ms with equal jitter → [200, 400]; attempt 3: base 800 → [400, 800].
  EXPECT_GE(sleeps[1], 200ms);
  EXPECT_LE(sleeps[1], 400ms);
  EXPECT_GE(sleeps[2], 400ms);
  EXPECT_LE(sleeps[2], 800ms);
  EXPECT_EQ(client.counters().retries, 3u);
  EXPECT_EQ(client.counters().requests, 4u);
}

TEST_F(ClientTest, AttemptsAreBoundedAndRetryAfterIsCapped) {
  http.setHandler([](const RecordedRequest&) {
    return jsonResponse(503, "", {{"Retry-After", "3600"}});
  });
  auto r = client.get(resources::persistentVolumes(), "", "pv-1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Retryable);
  EXPECT_EQ(statusCode(r.error()), 503);
  EXPECT_EQ(http.requests().size(), 5u);  // RetryPolicy::maxAttempts
  for (auto s : clock.sleeps()) EXPECT_EQ(s, 60000ms) << "capped at maxRetryAfter";
}

TEST_F(ClientTest, TransportErrorsRetryForReadsButNotForCreates) {
  http.push(FakeResponse{0, {}, "", {}, retryableError("connection reset")});
  http.push(jsonResponse(200, kPv));
  ASSERT_TRUE(client.get(resources::persistentVolumes(), "", "pv-1").ok());
  EXPECT_EQ(http.requests().size(), 2u);

  http.push(FakeResponse{0, {}, "", {}, retryableError("connection reset")});
  http.push(jsonResponse(201, kPv));  // must not be consumed
  auto c = client.create(resources::persistentVolumes(), Json::parse(kPv));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::Retryable);
  EXPECT_NE(c.error().message.find("may have reached the server"), std::string::npos)
      << c.error().message;
  EXPECT_EQ(http.requests().size(), 3u);
  EXPECT_EQ(http.pending(), 1u);
}

TEST_F(ClientTest, CreateRetriesOnlyWhenTheServerRejectedBeforeActing) {
  http.push(jsonResponse(429, "{}", {{"Retry-After", "1"}}));
  http.push(jsonResponse(503, "{}"));
  http.push(jsonResponse(201, kPv));
  auto ok = client.create(resources::persistentVolumes(), Json::parse(kPv));
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_EQ(http.requests().size(), 3u);

  http.push(jsonResponse(500, "{}"));
  http.push(jsonResponse(201, kPv));
  auto failed = client.create(resources::persistentVolumes(), Json::parse(kPv));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(statusCode(failed.error()), 500);
  EXPECT_EQ(http.requests().size(), 4u);
  EXPECT_EQ(http.pending(), 1u);
}

TEST_F(ClientTest, CreateAlreadyExistsIsDistinguishable) {
  http.push(jsonResponse(409, fixture("status_409_exists.json")));
  auto r = client.create(resources::persistentVolumes(), Json::parse(kPv));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Conflict);
  EXPECT_TRUE(isAlreadyExists(r.error()));
  EXPECT_EQ(statusReason(r.error()), "AlreadyExists");
}

TEST_F(ClientTest, CreateUsesTheObjectsNamespace) {
  Json pvc = {{"apiVersion", "v1"},
              {"kind", "PersistentVolumeClaim"},
              {"metadata", {{"name", "c1"}, {"namespace", "demo"}}}};
  http.push(jsonResponse(201, pvc.dump()));
  ASSERT_TRUE(client.create(resources::persistentVolumeClaims(), pvc).ok());
  auto req = http.requests().back();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path(), "/api/v1/namespaces/demo/persistentvolumeclaims");
  EXPECT_EQ(Json::parse(req.body), pvc);
  EXPECT_EQ(req.header("Content-Type"), "application/json");

  pvc["metadata"].erase("namespace");
  auto r = client.create(resources::persistentVolumeClaims(), pvc);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
  EXPECT_EQ(http.requests().size(), 1u) << "no request for an invalid call";
}

TEST_F(ClientTest, UpdateIsAPutWithTheResourceVersionAndConflictIsDetected) {
  Json pv = Json::parse(kPv);
  http.push(jsonResponse(409, fixture("status_409_conflict.json")));
  auto r = client.update(resources::persistentVolumes(), pv);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(isConflict(r.error()));
  auto req = http.requests().back();
  EXPECT_EQ(req.method, "PUT");
  EXPECT_EQ(req.path(), "/api/v1/persistentvolumes/pv-1");
  EXPECT_EQ(Json::parse(req.body)["metadata"]["resourceVersion"], "5");

  http.push(jsonResponse(200, kPv));
  ASSERT_TRUE(client.updateStatus(resources::persistentVolumes(), pv).ok());
  EXPECT_EQ(http.requests().back().path(), "/api/v1/persistentvolumes/pv-1/status");
}

TEST_F(ClientTest, ApplyMergeAndJsonPatchRequestShapes) {
  Json vm = {{"apiVersion", "kubevirt.io/v1"},
             {"kind", "VirtualMachine"},
             {"metadata", {{"name", "rhel9"}, {"namespace", "vms"}}},
             {"spec", {{"runStrategy", "Halted"}}}};
  http.push(jsonResponse(200, vm.dump()));
  ASSERT_TRUE(client.apply(resources::virtualMachines(), vm, {"ocpv-dr", true}).ok());
  auto req = http.requests().back();
  EXPECT_EQ(req.method, "PATCH");
  EXPECT_EQ(req.path(), "/apis/kubevirt.io/v1/namespaces/vms/virtualmachines/rhel9");
  EXPECT_EQ(req.header("Content-Type"), "application/apply-patch+yaml");
  EXPECT_EQ(req.query("fieldManager"), "ocpv-dr");
  EXPECT_EQ(req.query("force"), "true");
  EXPECT_EQ(Json::parse(req.body), vm);

  auto noManager = client.apply(resources::virtualMachines(), vm, {"", false});
  ASSERT_FALSE(noManager.ok());
  EXPECT_NE(noManager.error().message.find("fieldManager"), std::string::npos);
  Json noKind = vm;
  noKind.erase("kind");
  EXPECT_FALSE(client.apply(resources::virtualMachines(), noKind, {"m", false}).ok());

  http.push(jsonResponse(200, vm.dump()));
  ASSERT_TRUE(client
                  .mergePatch(resources::virtualMachines(), "vms", "rhel9",
                              {{"spec", {{"runStrategy", "Always"}}}})
                  .ok());
  req = http.requests().back();
  EXPECT_EQ(req.header("Content-Type"), "application/merge-patch+json");
  EXPECT_EQ(req.query("force"), "");

  http.push(jsonResponse(200, kPv));
  Json ops = Json::array({{{"op", "add"}, {"path", "/metadata/labels/x"}, {"value", "y"}}});
  ASSERT_TRUE(client.jsonPatch(resources::persistentVolumes(), "", "pv-1", ops).ok());
  req = http.requests().back();
  EXPECT_EQ(req.header("Content-Type"), "application/json-patch+json");
  EXPECT_EQ(Json::parse(req.body), ops);
  EXPECT_FALSE(client.jsonPatch(resources::persistentVolumes(), "", "pv-1", Json::object()).ok());

  http.push(jsonResponse(200, kPv));
  ASSERT_TRUE(client
                  .patchSubresource(resources::persistentVolumes(), "", "pv-1", "status",
                                    PatchType::Merge, {{"status", {{"phase", "Bound"}}}})
                  .ok());
  EXPECT_EQ(http.requests().back().path(), "/api/v1/persistentvolumes/pv-1/status");
}

TEST_F(ClientTest, DeleteSendsOptionsAndKubeVirtActionsUseTheSubresourceGroup) {
  http.push(jsonResponse(200, fixture("status_404.json")));
  DeleteOptions del;
  del.propagationPolicy = "Foreground";
  del.preconditionUid = "u1";
  del.preconditionResourceVersion = "5";
  ASSERT_TRUE(client.remove(resources::persistentVolumes(), "", "pv-1", del).ok());
  auto req = http.requests().back();
  EXPECT_EQ(req.method, "DELETE");
  auto body = Json::parse(req.body);
  EXPECT_EQ(body["kind"], "DeleteOptions");
  EXPECT_EQ(body["propagationPolicy"], "Foreground");
  EXPECT_EQ(body["preconditions"]["uid"], "u1");
  EXPECT_EQ(body["preconditions"]["resourceVersion"], "5");

  http.push(FakeResponse{202, {}, "", {}, std::nullopt});
  auto stop = client.putSubresource(resources::virtualMachines(), "vms", "rhel9", "stop");
  ASSERT_TRUE(stop.ok()) << stop.error().describe();
  EXPECT_TRUE(stop->is_object() && stop->empty());
  req = http.requests().back();
  EXPECT_EQ(req.method, "PUT");
  EXPECT_EQ(req.path(),
            "/apis/subresources.kubevirt.io/v1/namespaces/vms/virtualmachines/rhel9/stop");
  EXPECT_EQ(req.body, "{}");

  http.push(jsonResponse(
      409,
      R"({"kind":"Status","status":"Failure","code":409,"reason":"Conflict","message":"VM is not running"})"));
  auto freeze = client.putSubresource(resources::virtualMachineInstances(), "vms", "rhel9",
                                      "freeze", {{"unfreezeTimeout", "5m"}});
  ASSERT_FALSE(freeze.ok());
  EXPECT_EQ(freeze.error().kind, ErrorKind::Conflict);
  EXPECT_EQ(Json::parse(http.requests().back().body)["unfreezeTimeout"], "5m");
}

TEST_F(ClientTest, ListAllFollowsContinueWithEncodedSelectors) {
  const std::string page1 = fixture("list_page1.json");
  const std::string page2 = fixture("list_page2.json");
  const std::string token1 = Json::parse(page1)["metadata"]["continue"];
  auto last = Json::parse(page2);
  last["metadata"].erase("continue");
  last["metadata"].erase("remainingItemCount");
  http.setHandler([&](const RecordedRequest& req) {
    return jsonResponse(200, req.query("continue") == token1 ? last.dump() : page1);
  });
  ListOptions lo;
  lo.limit = 2;
  lo.labelSelector = "app in (a,b)";
  auto r = client.listAll(resources::persistentVolumes(), "", lo);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->items.size(), 4u);
  EXPECT_EQ(r->resourceVersion, "283");
  EXPECT_EQ(r->pages, 2);
  auto reqs = http.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].query("limit"), "2");
  EXPECT_EQ(reqs[0].query("labelSelector"), "app in (a,b)");
  EXPECT_NE(reqs[0].url.find("labelSelector=app%20in%20%28a%2Cb%29"), std::string::npos);
  EXPECT_EQ(reqs[1].query("continue"), token1);
  EXPECT_EQ(reqs[1].query("resourceVersion"), "");
}

TEST_F(ClientTest, ListAllRestartsWhenTheContinueTokenExpired) {
  const std::string page1 = fixture("list_page1.json");
  auto last = Json::parse(fixture("list_page2.json"));
  last["metadata"].erase("continue");
  int calls = 0;
  http.setHandler([&](const RecordedRequest& req) {
    ++calls;
    if (req.query("continue").empty()) return jsonResponse(200, page1);
    if (calls == 2) return jsonResponse(410, fixture("status_410_list_expired.json"));
    return jsonResponse(200, last.dump());
  });
  auto r = client.listAll(resources::persistentVolumes(), "", {.limit = 2});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->restarts, 1);
  EXPECT_EQ(r->items.size(), 4u) << "pages from before the restart are discarded";
  EXPECT_EQ(calls, 4);

  // Always expiring: bounded restarts, then the 410 is returned.
  http.setHandler([&](const RecordedRequest& req) {
    if (req.query("continue").empty()) return jsonResponse(200, page1);
    return jsonResponse(410, fixture("status_410_list_expired.json"));
  });
  auto bad = client.listAll(resources::persistentVolumes(), "", {.limit = 2});
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(isExpired(bad.error()));
}

std::vector<std::string> chunksOf(const std::string& s, std::size_t n) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size(); i += n) out.push_back(s.substr(i, n));
  return out;
}

TEST_F(ClientTest, WatchStreamsEventsAndEndsCleanly) {
  const std::string stream = fixture("watch_pv.ndjson");
  http.push(FakeResponse{200, {}, "", chunksOf(stream, 37), std::nullopt});
  std::vector<std::string> seen;
  WatchOptions wo;
  wo.resourceVersion = "246";
  wo.timeoutSeconds = 300;
  wo.fieldSelector = "metadata.name=x";
  auto r = client.watch(resources::persistentVolumes(), "", wo,
                        [&](WatchEvent& e) { seen.emplace_back(toString(e.type)); });
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->how, WatchEnd::How::Closed);
  EXPECT_EQ(r->resourceVersion, "270");
  EXPECT_EQ(r->events, 16u);
  EXPECT_EQ(seen.size(), 16u);
  EXPECT_EQ(seen.front(), "BOOKMARK");
  auto req = http.requests().back();
  EXPECT_EQ(req.path(), "/api/v1/persistentvolumes");
  EXPECT_EQ(req.query("watch"), "true");
  EXPECT_EQ(req.query("resourceVersion"), "246");
  EXPECT_EQ(req.query("allowWatchBookmarks"), "true");
  EXPECT_EQ(req.query("timeoutSeconds"), "300");
  EXPECT_EQ(req.query("fieldSelector"), "metadata.name=x");
  EXPECT_EQ(req.timeout, 330000ms) << "timeoutSeconds plus the grace";
}

TEST_F(ClientTest, WatchExpiryAsHttpStatusAndAsErrorEvent) {
  http.push(jsonResponse(410, fixture("status_410_list_expired.json")));
  auto r = client.watch(resources::persistentVolumes(), "", {.resourceVersion = "1"},
                        [](WatchEvent&) {});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->how, WatchEnd::How::Expired);

  const std::string added =
      R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"9"}}})";
  http.push(FakeResponse{200,
                         {},
                         "",
                         {added + "\n", fixture("watch_410_expired.ndjson"), added + "\n"},
                         std::nullopt});
  int events = 0;
  r = client.watch(resources::persistentVolumes(), "", {.resourceVersion = "1"},
                   [&](WatchEvent&) { ++events; });
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->how, WatchEnd::How::Expired);
  EXPECT_EQ(events, 1) << "events before the ERROR are delivered, none after";
  EXPECT_EQ(r->resourceVersion, "9");
  EXPECT_NE(r->message.find("too old"), std::string::npos) << r->message;
}

TEST_F(ClientTest, WatchFailuresAreErrors) {
  http.push(FakeResponse{
      200,
      {},
      "",
      {R"({"type":"ERROR","object":{"kind":"Status","status":"Failure","code":500,"reason":"InternalError","message":"etcd down"}})"
       "\n"},
      std::nullopt});
  auto r = client.watch(resources::persistentVolumes(), "", {}, [](WatchEvent&) {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Retryable);
  EXPECT_NE(r.error().message.find("etcd down"), std::string::npos);

  http.push(FakeResponse{200, {}, "", {"not json at all\n"}, std::nullopt});
  r = client.watch(resources::persistentVolumes(), "", {}, [](WatchEvent&) {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);

  http.push(jsonResponse(403, fixture("status_403.json")));
  r = client.watch(resources::persistentVolumes(), "", {}, [](WatchEvent&) {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Refused);

  http.push(FakeResponse{0, {}, "", {}, retryableError("connection refused")});
  r = client.watch(resources::persistentVolumes(), "", {}, [](WatchEvent&) {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Retryable);

  http.push(FakeResponse{200, {}, "", {R"({"type":"ADDED","object":{"meta)"}, std::nullopt});
  r = client.watch(resources::persistentVolumes(), "", {}, [](WatchEvent&) {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("ended inside an event"), std::string::npos);
}

TEST_F(ClientTest, WatchStopsOnRequest) {
  const std::string stream = fixture("watch_pv.ndjson");
  http.push(FakeResponse{200, {}, "", chunksOf(stream, 100), std::nullopt});
  std::stop_source stop;
  int events = 0;
  auto r = client.watch(
      resources::persistentVolumes(), "", {},
      [&](WatchEvent&) {
        if (++events == 3) stop.request_stop();
      },
      stop.get_token());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->how, WatchEnd::How::Stopped);
  EXPECT_LT(events, 16);
}

}  // namespace
}  // namespace ocpvdr::kube
