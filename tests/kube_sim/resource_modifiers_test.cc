// Velero restore resource modifiers (resource_modifiers.h): the document's validation as
// Velero's restore controller does it, condition matching (groupResource glob, namespaces,
// name regex, label selector, matches), and the three patch kinds.
#include "resource_modifiers.h"

#include <gtest/gtest.h>

namespace kubesim {
namespace {

Json vm(const std::string& ns, const std::string& name, const Json& labels = Json::object()) {
  return {{"apiVersion", "kubevirt.io/v1"},
          {"kind", "VirtualMachine"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
          {"spec", {{"running", true}, {"template", {{"spec", Json::object()}}}}}};
}

ResourceModifiers parsed(const std::string& text) {
  auto r = ResourceModifiers::parse(text);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? std::move(r).value() : ResourceModifiers{};
}

// The document ocpv-dr's failover writes (restore_modifiers.h).
const char* kHalted = R"(version: v1
resourceModifierRules:
- conditions:
    groupResource: virtualmachines.kubevirt.io
    namespaces:
    - vms-a
  mergePatches:
  - patchData: '{"spec":{"runStrategy":"Halted","running":null}}'
)";

TEST(ResourceModifiers, MergePatchSetsTheRunStrategyInTheNamedNamespacesOnly) {
  auto m = parsed(kHalted);
  Json a = vm("vms-a", "one");
  EXPECT_TRUE(m.apply(a, "virtualmachines.kubevirt.io", true).empty());
  EXPECT_EQ(a["spec"]["runStrategy"], "Halted");
  EXPECT_FALSE(a["spec"].contains("running"));
  EXPECT_TRUE(a["spec"].contains("template"));  // the rest of the spec is kept
  Json b = vm("vms-b", "two");
  EXPECT_TRUE(m.apply(b, "virtualmachines.kubevirt.io", true).empty());
  EXPECT_EQ(b, vm("vms-b", "two"));
  Json dv = vm("vms-a", "dv");
  EXPECT_TRUE(m.apply(dv, "datavolumes.cdi.kubevirt.io", true).empty());
  EXPECT_EQ(dv, vm("vms-a", "dv"));
}

TEST(ResourceModifiers, ConditionsGlobRegexLabelSelectorAndMatches) {
  auto m = parsed(R"(version: v1
resourceModifierRules:
- conditions:
    groupResource: "*.kubevirt.io"
    resourceNameRegex: "^db-"
    namespaces: ["prod-*"]
    labelSelector:
      matchLabels: {tier: db}
      matchExpressions:
      - {key: env, operator: In, values: [prod, staging]}
    matches:
    - {path: /spec/running, value: "true"}
  patches:
  - {operation: add, path: /metadata/labels/restored, value: "yes"}
)");
  const Json good = {{"tier", "db"}, {"env", "prod"}};
  Json a = vm("prod-1", "db-1", good);
  EXPECT_TRUE(m.apply(a, "virtualmachines.kubevirt.io", true).empty());
  EXPECT_EQ(a["metadata"]["labels"]["restored"], "yes");
  for (auto [ns, name, labels, gr] :
       std::vector<std::tuple<std::string, std::string, Json, std::string>>{
           {"dev-1", "db-1", good, "virtualmachines.kubevirt.io"},    // namespace
           {"prod-1", "web-1", good, "virtualmachines.kubevirt.io"},  // name
           {"prod-1", "db-1", {{"tier", "db"}, {"env", "dev"}}, "virtualmachines.kubevirt.io"},
           {"prod-1", "db-1", good, "datavolumes.cdi.kubevirt.io"},  // "*" stops at "."
       }) {
    Json o = vm(ns, name, labels);
    EXPECT_TRUE(m.apply(o, gr, true).empty());
    EXPECT_FALSE(o["metadata"]["labels"].contains("restored")) << ns << " " << name << " " << gr;
  }
  Json stopped = vm("prod-1", "db-2", good);
  stopped["spec"]["running"] = false;  // matches: /spec/running == true fails
  EXPECT_TRUE(m.apply(stopped, "virtualmachines.kubevirt.io", true).empty());
  EXPECT_FALSE(stopped["metadata"]["labels"].contains("restored"));
}

TEST(ResourceModifiers, JsonPatchValuesAndFailures) {
  auto m = parsed(R"(version: v1
resourceModifierRules:
- conditions: {groupResource: virtualmachines.kubevirt.io}
  patches:
  - {operation: test, path: /spec/running, value: "true"}
  - {operation: replace, path: /spec/running, value: "false"}
  - {operation: add, path: /spec/note, value: "\"42\""}
- conditions: {groupResource: virtualmachines.kubevirt.io}
  patches:
  - {operation: remove, path: /spec/doesNotExist}
)");
  Json o = vm("a", "b");
  auto errs = m.apply(o, "virtualmachines.kubevirt.io", true);
  EXPECT_EQ(o["spec"]["running"], false);  // "false" is JSON false
  EXPECT_EQ(o["spec"]["note"], "42");      // quoted: the string
  ASSERT_EQ(errs.size(), 1u);              // the second rule: removing a missing path
  // A failed "test" leaves the object as it is, without an error.
  Json stopped = vm("a", "c");
  stopped["spec"]["running"] = false;
  const Json before = stopped;
  auto errs2 = m.apply(stopped, "virtualmachines.kubevirt.io", true);
  EXPECT_EQ(stopped, before);
  EXPECT_EQ(errs2.size(), 1u);  // only the second rule again
}

TEST(ResourceModifiers, StrategicPatchMergesNamedListsAndFailsOnCustomResources) {
  auto m = parsed(R"(version: v1
resourceModifierRules:
- conditions: {groupResource: pods}
  strategicPatches:
  - patchData: |
      {"spec":{"containers":[{"name":"app","image":"new"}]}}
)");
  Json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "p"}, {"namespace", "a"}}},
              {"spec",
               {{"containers",
                 {{{"name", "app"}, {"image", "old"}, {"args", {"x"}}},
                  {{"name", "side"}, {"image", "s"}}}}}}};
  EXPECT_TRUE(m.apply(pod, "pods", false).empty());
  ASSERT_EQ(pod["spec"]["containers"].size(), 2u);
  EXPECT_EQ(pod["spec"]["containers"][0]["image"], "new");
  EXPECT_EQ(pod["spec"]["containers"][0]["args"], Json({"x"}));
  EXPECT_EQ(pod["spec"]["containers"][1]["name"], "side");
  // Velero's scheme has no KubeVirt types: a strategic patch of a VM is an error.
  auto m2 = parsed(R"(version: v1
resourceModifierRules:
- conditions: {groupResource: virtualmachines.kubevirt.io}
  strategicPatches:
  - patchData: '{"spec":{"runStrategy":"Halted"}}'
)");
  Json o = vm("a", "b");
  EXPECT_EQ(m2.apply(o, "virtualmachines.kubevirt.io", true).size(), 1u);
  EXPECT_FALSE(o["spec"].contains("runStrategy"));
}

TEST(ResourceModifiers, InvalidDocumentsAndConfigMapsAreRefused) {
  for (const char* bad : {
           "version: v2\nresourceModifierRules:\n- conditions: {groupResource: pods}\n"
           "  patches: [{operation: add, path: /x, value: y}]\n",
           "version: v1\nresourceModifierRules: []\n",
           "version: v1\nresourceModifierRules:\n- conditions: {namespaces: [a]}\n"
           "  patches: [{operation: add, path: /x, value: y}]\n",
           "version: v1\nresourceModifierRules:\n- conditions: {groupResource: pods}\n"
           "  patches: [{operation: frobnicate, path: /x}]\n",
           "version: v1\nresourceModifierRules:\n- conditions: {groupResource: pods}\n"
           "  patches: [{operation: add, path: /x, value: y}]\n  surprise: 1\n",
       }) {
    EXPECT_FALSE(ResourceModifiers::parse(bad).ok()) << bad;
  }
  Json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", "m"}, {"namespace", "velero"}}},
             {"data", {{"a.yaml", kHalted}, {"b.yaml", kHalted}}}};
  auto two = ResourceModifiers::fromConfigMap(cm);
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.error().message.find("illegal resource modifiers velero/m"), std::string::npos);
  cm["data"].erase("b.yaml");
  EXPECT_TRUE(ResourceModifiers::fromConfigMap(cm).ok());
}

TEST(ResourceModifiers, GlobMatch) {
  EXPECT_TRUE(globMatch("*.kubevirt.io", "virtualmachines.kubevirt.io", '.'));
  EXPECT_FALSE(globMatch("*.io", "virtualmachines.kubevirt.io", '.'));
  EXPECT_TRUE(globMatch("*", "pods", '.'));
  EXPECT_FALSE(globMatch("*", "a.b", '.'));
  EXPECT_TRUE(globMatch("prod-*", "prod-eu-1", '\0'));
  EXPECT_TRUE(globMatch("p?d", "pod", '\0'));
  EXPECT_FALSE(globMatch("prod-*", "dev-1", '\0'));
}

}  // namespace
}  // namespace kubesim
