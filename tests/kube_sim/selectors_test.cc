// Label and field selector parsing and matching.
#include "selectors.h"

#include <gtest/gtest.h>

namespace kubesim {
namespace {

bool matches(const std::string& sel, const Json& labels) {
  auto s = LabelSelector::parse(sel);
  EXPECT_TRUE(s.ok()) << sel << ": " << (s.ok() ? "" : s.error().message);
  return s.ok() && s.value().matches(labels);
}

TEST(LabelSelector, Operators) {
  const Json l = {{"tier", "gold"}, {"app", "vm"}, {"n", "5"}};
  EXPECT_TRUE(matches("", l));
  EXPECT_TRUE(matches("tier=gold", l));
  EXPECT_TRUE(matches("tier==gold", l));
  EXPECT_FALSE(matches("tier=silver", l));
  EXPECT_TRUE(matches("tier!=silver", l));
  EXPECT_TRUE(matches("missing!=x", l));  // != matches an absent key
  EXPECT_TRUE(matches("tier in (silver, gold)", l));
  EXPECT_FALSE(matches("tier notin (gold)", l));
  EXPECT_TRUE(matches("missing notin (gold)", l));
  EXPECT_FALSE(matches("missing in (gold)", l));
  EXPECT_TRUE(matches("app", l));
  EXPECT_FALSE(matches("!app", l));
  EXPECT_TRUE(matches("!missing", l));
  EXPECT_TRUE(matches("tier=gold, app=vm", l));
  EXPECT_FALSE(matches("tier=gold,app=db", l));
  EXPECT_TRUE(matches("n>3", l));
  EXPECT_FALSE(matches("n<3", l));
  EXPECT_TRUE(matches("example.com/role=x", {{"example.com/role", "x"}}));
  EXPECT_FALSE(matches("tier=gold", Json()));  // no labels at all
  EXPECT_TRUE(matches("tier=", {{"tier", ""}}));
  EXPECT_TRUE(matches("inner=1", {{"inner", "1"}}));  // "in" is not a prefix match
}

TEST(LabelSelector, ErrorsAreBadRequests) {
  for (const char* bad :
       {"tier in gold", "tier in (gold", "=x", "tier=gold,", "tier ~ x", "n>abc", "-bad=x"}) {
    auto s = LabelSelector::parse(bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.error().code, 400) << bad;
    EXPECT_EQ(s.error().reason, "BadRequest");
  }
}

TEST(FieldSelector, MetadataFields) {
  auto s = FieldSelector::parse("metadata.name=a,metadata.namespace!=kube-system");
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s.value().matches("demo", "a"));
  EXPECT_FALSE(s.value().matches("kube-system", "a"));
  EXPECT_FALSE(s.value().matches("demo", "b"));
  ASSERT_NE(s.value().pinnedName(), nullptr);
  EXPECT_EQ(*s.value().pinnedName(), "a");
  EXPECT_TRUE(FieldSelector::parse("").value().empty());
  auto bad = FieldSelector::parse("spec.nodeName=x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, 400);
  EXPECT_FALSE(FieldSelector::parse("metadata.name").ok());
}

TEST(ObjectFilter, NamespaceAndSelectors) {
  ObjectFilter f;
  f.ns = "demo";
  f.labels = LabelSelector::parse("a=b").value();
  Json o = {{"metadata", {{"name", "x"}, {"namespace", "demo"}, {"labels", {{"a", "b"}}}}}};
  EXPECT_TRUE(f.matches(o));
  o["metadata"]["namespace"] = "other";
  EXPECT_FALSE(f.matches(o));
  EXPECT_FALSE(f.matches(Json::object()));  // malformed objects never match, never crash
}

}  // namespace
}  // namespace kubesim
