// Payload building, event ids, object metadata checks and the forwarding filter.
#include "events/payload.h"
#include "events/selection.h"

#include <gtest/gtest.h>

namespace ocpvdr::events {
namespace {

Json pv(const std::string& name, const std::string& sc) {
  return {{"kind", "PersistentVolume"},
          {"apiVersion", "v1"},
          {"metadata", {{"name", name}, {"uid", "u-" + name}, {"resourceVersion", "42"}}},
          {"spec", {{"storageClassName", sc}}}};
}

TEST(Payload, EventIdIsUidVersionAndType) {
  Change c;
  c.type = ChangeType::Deleted;
  c.meta.uid = "8c1f";
  c.meta.resourceVersion = "1234";
  EXPECT_EQ(eventId(c), "8c1f:1234:DELETED");
  c.type = ChangeType::Modified;
  EXPECT_EQ(eventId(c), "8c1f:1234:MODIFIED");
}

TEST(Payload, BodyCarriesEveryFieldWithTheRightTypes) {
  Change c;
  c.kind = "VolumeSnapshot";
  c.apiVersion = "snapshot.storage.k8s.io/v1";
  c.type = ChangeType::Added;
  c.meta = {"snap-1", "vms", "uid-1", "77"};
  c.initial = true;
  c.observedAt = SystemTime{std::chrono::milliseconds(1'800'000'000'123)};
  Json obj = {{"metadata", {{"name", "snap-1"}, {"namespace", "vms"}}},
              {"status", {{"readyToUse", true}}},
              {"note", "quote \" and unicode \u00e9"}};
  c.resource = obj.dump();
  const std::string text = buildPayload(c, "site \"A\"");
  Json body = Json::parse(text);
  EXPECT_EQ(body["id"], "uid-1:77:ADDED");
  EXPECT_EQ(body["kind"], "VolumeSnapshot");
  EXPECT_EQ(body["apiVersion"], "snapshot.storage.k8s.io/v1");
  EXPECT_EQ(body["type"], "ADDED");
  EXPECT_EQ(body["cluster"], "site \"A\"");
  EXPECT_EQ(body["observedAt"], "2027-01-15T08:00:00.123Z");
  ASSERT_TRUE(body["initial"].is_boolean());
  EXPECT_TRUE(body["initial"].get<bool>());
  EXPECT_EQ(body["resource"], obj);
  // Compact and in the same key order nlohmann would produce: re-serialising changes nothing.
  EXPECT_EQ(body.dump(), text);
}

TEST(Payload, ObjectMetaNamesWhatIsMissing) {
  auto noMeta = readObjectMeta(Json{{"kind", "PersistentVolume"}});
  ASSERT_FALSE(noMeta.ok());
  EXPECT_NE(noMeta.error().message.find("metadata"), std::string::npos);

  Json noUid = pv("a", "x");
  noUid["metadata"].erase("uid");
  auto r = readObjectMeta(noUid);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
  EXPECT_NE(r.error().message.find("metadata.uid"), std::string::npos);

  Json badRv = pv("a", "x");
  badRv["metadata"]["resourceVersion"] = 12;
  auto r2 = readObjectMeta(badRv);
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("metadata.resourceVersion"), std::string::npos);

  EXPECT_FALSE(readObjectMeta(Json::array()).ok());
  EXPECT_FALSE(readObjectMeta(Json("text")).ok());

  auto ok = readObjectMeta(pv("a", "x"));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->name, "a");
  EXPECT_EQ(ok->ns, "");
  EXPECT_EQ(ok->uid, "u-a");
  EXPECT_EQ(ok->resourceVersion, "42");
}

TEST(Payload, KeysSeparateKindsAndNamespaces) {
  EXPECT_EQ(changeKey("PersistentVolume", {"pv-a", "", "u", "1"}), "PersistentVolume/pv-a");
  EXPECT_EQ(changeKey("VolumeSnapshot", {"s", "ns1", "u", "1"}), "VolumeSnapshot/ns1/s");
  EXPECT_NE(changeKey("VolumeSnapshot", {"s", "ns1", "u", "1"}),
            changeKey("VolumeSnapshot", {"s", "ns2", "u", "1"}));
}

TEST(Payload, FilterByStorageClassAndNamespace) {
  Filter f;
  f.storageClasses = {"nfs-dynamic", "nfs-csi"};
  f.namespaces = {"vms"};
  EXPECT_TRUE(accepts(f, "PersistentVolume", pv("a", "nfs-dynamic")));
  EXPECT_TRUE(accepts(f, "PersistentVolume", pv("a", "nfs-csi")));
  EXPECT_FALSE(accepts(f, "PersistentVolume", pv("a", "gp3")));
  Json noClass = pv("a", "x");
  noClass["spec"].erase("storageClassName");
  EXPECT_FALSE(accepts(f, "PersistentVolume", noClass));
  Json snap = {{"metadata", {{"name", "s"}, {"namespace", "vms"}}}};
  EXPECT_TRUE(accepts(f, "VolumeSnapshot", snap));
  snap["metadata"]["namespace"] = "other";
  EXPECT_FALSE(accepts(f, "VolumeSnapshot", snap));
  EXPECT_FALSE(accepts(f, "PersistentVolumeClaim", snap));

  Filter all;  // empty lists: everything of the watched kinds
  EXPECT_TRUE(accepts(all, "PersistentVolume", noClass));
  EXPECT_TRUE(accepts(all, "VolumeSnapshot", snap));
  // Velero's backup-time snapshots never, whatever the filter.
  snap["metadata"]["labels"] = {{"velero.io/backup-name", "nightly-1"}};
  EXPECT_FALSE(accepts(all, "VolumeSnapshot", snap));
  snap["metadata"]["namespace"] = "vms";
  EXPECT_FALSE(accepts(f, "VolumeSnapshot", snap));
  snap["metadata"]["labels"] = {{"app", "db"}};
  EXPECT_TRUE(accepts(f, "VolumeSnapshot", snap));
}

TEST(Payload, ASnapshotsBoundContentRidesAlong) {
  Change c;
  c.kind = "VolumeSnapshot";
  c.apiVersion = "snapshot.storage.k8s.io/v1";
  c.type = ChangeType::Modified;
  c.meta = {"snap-1", "vms", "uid-1", "78"};
  c.resource = R"({"metadata":{"name":"snap-1"}})";
  EXPECT_FALSE(Json::parse(buildPayload(c, "primary")).contains("content"));
  Json content = {{"metadata", {{"name", "snapcontent-uid-1"}}},
                  {"status", {{"snapshotHandle", "s#e#snap#snap#src"}}}};
  c.content = content.dump();
  const std::string text = buildPayload(c, "primary");
  Json body = Json::parse(text);
  EXPECT_EQ(body["content"], content);
  EXPECT_EQ(body.dump(), text);  // still compact, keys in order
}

TEST(Payload, AnUnconfirmedDeletedSaysSo) {
  Change c;
  c.kind = "PersistentVolume";
  c.apiVersion = "v1";
  c.type = ChangeType::Deleted;
  c.meta = {"pv-a", "", "uid-a", "90"};
  c.resource = R"({"metadata":{"name":"pv-a"}})";
  EXPECT_FALSE(Json::parse(buildPayload(c, "primary")).contains("unconfirmed"));
  c.unconfirmed = true;
  const std::string text = buildPayload(c, "primary");
  Json body = Json::parse(text);
  EXPECT_EQ(body["unconfirmed"], true);
  EXPECT_EQ(body["type"], "DELETED");
  EXPECT_EQ(body.dump(), text);  // still compact, keys in order
}

TEST(Payload, ChangeTypeRoundTrip) {
  for (auto t :
       {ChangeType::Added, ChangeType::Modified, ChangeType::Deleted, ChangeType::LeftSelection}) {
    auto back = parseChangeType(toString(t));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, t);
  }
  EXPECT_FALSE(parseChangeType("BOOKMARK").ok());
}

}  // namespace
}  // namespace ocpvdr::events
