// managedFields: FieldsV1 round trip against recorded server output, update ownership transfer,
// and the server-side apply merge (conflicts, force, removal of dropped fields).
#include "managed_fields.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "support/temp_dir.h"

namespace kubesim {
namespace {

Json fixture(const std::string& rel) {
  std::ifstream f(ocpvdr::testing::fixturePath(rel));
  std::stringstream ss;
  ss << f.rdbuf();
  return Json::parse(ss.str());
}

TEST(ManagedFields, FieldsV1RoundTripsRecordedEntries) {
  // kubectl-create's entry in the recorded list: maps below the top level carry ".".
  const Json page = fixture("kube-api/list_page1.json");
  const Json recorded = page["items"][0]["metadata"]["managedFields"][1]["fieldsV1"];
  const FieldSet fs = fromFieldsV1(recorded);
  EXPECT_TRUE(fs.count({"spec", "nfs", "server"}));
  EXPECT_TRUE(fs.count({"spec", "accessModes"}));
  EXPECT_EQ(toFieldsV1(fs), recorded);
  // And the set is what leafPaths finds in the object itself (minus the status it does not own).
  const FieldSet fromObject = leafPaths(page["items"][0], FieldScope::NoStatus);
  FieldSet expected = fs;
  expected.insert({"metadata", "finalizers"});  // set by admission in the real capture
  EXPECT_EQ(fromObject, expected);
}

TEST(ManagedFields, LeafPathsSkipServerManagedMetadata) {
  const Json o = {
      {"apiVersion", "v1"},
      {"kind", "X"},
      {"metadata",
       {{"name", "n"}, {"uid", "u"}, {"resourceVersion", "1"}, {"labels", {{"a", "b"}}}}},
      {"spec", {{"x", 1}, {"empty", Json::object()}}},
      {"status", {{"phase", "P"}}}};
  EXPECT_EQ(
      leafPaths(o, FieldScope::All),
      (FieldSet{
          {"metadata", "labels", "a"}, {"spec", "x"}, {"spec", "empty"}, {"status", "phase"}}));
  EXPECT_EQ(leafPaths(o, FieldScope::NoStatus),
            (FieldSet{{"metadata", "labels", "a"}, {"spec", "x"}, {"spec", "empty"}}));
  EXPECT_EQ(leafPaths(o, FieldScope::StatusOnly), (FieldSet{{"status", "phase"}}));
}

TEST(ManagedFields, UpdatesMoveOwnershipOfChangedFields) {
  Json before = {{"spec", {{"a", 1}, {"b", 2}}}};
  Json after = before;
  ManagedFields mf;
  mf.recordUpdate("creator", "", Json::object(), before, FieldScope::All, "v1", "t0");
  after["spec"]["b"] = 3;
  after["spec"]["c"] = 4;
  mf.recordUpdate("editor", "", before, after, FieldScope::All, "v1", "t1");
  ASSERT_EQ(mf.entries().size(), 2u);
  EXPECT_EQ(mf.entries()[0].fields, (FieldSet{{"spec", "a"}}));
  EXPECT_EQ(mf.entries()[1].fields, (FieldSet{{"spec", "b"}, {"spec", "c"}}));
  EXPECT_EQ(mf.entries()[1].time, "t1");
  // Removing a field drops it from every owner; an owner left with nothing disappears.
  Json removed = after;
  removed["spec"].erase("a");
  mf.recordUpdate("editor", "", after, removed, FieldScope::All, "v1", "t2");
  ASSERT_EQ(mf.entries().size(), 1u);
  EXPECT_EQ(mf.entries()[0].manager, "editor");
  // Round trip through an object.
  Json obj = removed;
  obj["metadata"] = Json::object();
  mf.writeTo(obj);
  auto back = ManagedFields::fromObject(obj);
  ASSERT_EQ(back.entries().size(), 1u);
  EXPECT_EQ(back.entries()[0].fields, mf.entries()[0].fields);
}

TEST(ManagedFields, ApplyConflictsForceAndRemoval) {
  Json live = Json::object();
  ManagedFields mf;
  const Json a1 = {{"spec", {{"size", 1}, {"mode", "x"}}},
                   {"metadata", {{"labels", {{"k", "v"}}}}}};
  ASSERT_TRUE(mf.apply(live, a1, "alpha", "", FieldScope::All, false, "v1", "t").ok());
  EXPECT_EQ(live["spec"]["size"], 1);

  const Json b1 = {{"spec", {{"size", 2}}}};
  auto conflict = mf.apply(live, b1, "beta", "", FieldScope::All, false, "v1", "t");
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, 409);
  EXPECT_EQ(conflict.error().details["causes"][0]["field"], ".spec.size");
  EXPECT_EQ(live["spec"]["size"], 1);  // untouched

  const Json bSame = {{"spec", {{"size", 1}}}};
  ASSERT_TRUE(mf.apply(live, bSame, "beta", "", FieldScope::All, false, "v1", "t").ok());
  ASSERT_TRUE(mf.apply(live, b1, "beta", "", FieldScope::All, true, "v1", "t").ok());
  EXPECT_EQ(live["spec"]["size"], 2);
  for (const auto& e : mf.entries()) {
    if (e.manager == "alpha") {
      EXPECT_FALSE(e.fields.count({"spec", "size"}));
    }
  }

  // alpha drops its label: nobody else owns it, so it goes; mode stays (still applied).
  const Json a2 = {{"spec", {{"mode", "x"}}}};
  ASSERT_TRUE(mf.apply(live, a2, "alpha", "", FieldScope::All, false, "v1", "t").ok());
  EXPECT_FALSE(live["metadata"].contains("labels")) << live.dump();
  EXPECT_EQ(live["spec"]["mode"], "x");
  EXPECT_EQ(live["spec"]["size"], 2);
}

}  // namespace
}  // namespace kubesim
