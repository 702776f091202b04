// Request bodies: JSON, YAML with core-schema scalars (as Kubernetes' YAML decoder resolves
// them), and clear 400s for anything else.
#include "body_parser.h"

#include <gtest/gtest.h>

#include "faults.h"

namespace kubesim {
namespace {

TEST(BodyParser, YamlScalarsResolveLikeKubernetes) {
  auto r = parseBody(
      "apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: a\n  labels:\n"
      "    quoted: \"true\"\n    num: '5'\nspec:\n  replicas: 3\n  ratio: 0.5\n  on: true\n"
      "  off: False\n  none: ~\n  empty:\n  list: [a, 1]\n  big: 123456789012345678901234\n"
      "  text: |\n    line\n",
      true);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Json& j = r.value();
  EXPECT_EQ(j["metadata"]["labels"]["quoted"], "true");  // quoted stays a string
  EXPECT_EQ(j["metadata"]["labels"]["num"], "5");
  EXPECT_EQ(j["spec"]["replicas"], 3);
  EXPECT_TRUE(j["spec"]["replicas"].is_number_integer());
  EXPECT_DOUBLE_EQ(j["spec"]["ratio"].get<double>(), 0.5);
  EXPECT_EQ(j["spec"]["on"], true);
  EXPECT_EQ(j["spec"]["off"], false);
  EXPECT_TRUE(j["spec"]["none"].is_null());
  EXPECT_TRUE(j["spec"]["empty"].is_null());
  EXPECT_EQ(j["spec"]["list"], Json::array({"a", 1}));
  EXPECT_EQ(j["spec"]["big"], "123456789012345678901234");  // no silent precision loss
  EXPECT_EQ(j["spec"]["text"], "line\n");
}

TEST(BodyParser, JsonFirstAndClearErrors) {
  auto j = parseBody(R"({"a": [1, 2]})", false);
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j.value()["a"][1], 2);
  const std::pair<const char*, bool> bad[] = {
      {"", false}, {"{", false}, {"{\"a\": }", false}, {"a: [", true}, {"", true}};
  for (const auto& [text, yaml] : bad) {
    auto r = parseBody(text, yaml);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, 400) << text;
    EXPECT_FALSE(r.error().message.empty());
  }
  EXPECT_FALSE(parseBody("key: value", false).ok());  // YAML only where the media type says so
}

TEST(FaultConfig, ParsesAndRejectsNonsense) {
  auto c = FaultConfig::fromJson({{"errorRate", 0.25}, {"errorCode", 429}, {"pathPrefix", "/api"}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.value().errorCode, 429);
  EXPECT_FALSE(FaultConfig::fromJson({{"errorRate", 2}}).ok());
  EXPECT_FALSE(FaultConfig::fromJson({{"errorCode", 200}}).ok());
  EXPECT_FALSE(FaultConfig::fromJson({{"latencyMs", "slow"}}).ok());
  EXPECT_FALSE(FaultConfig::fromJson({{"unknown", 1}}).ok());
  EXPECT_FALSE(FaultConfig::fromJson(Json::array()).ok());

  Faults f(c.value());
  int failed = 0;
  for (int i = 0; i < 400; ++i) failed += f.decide("/api/v1/x").error ? 1 : 0;
  EXPECT_GT(failed, 50);
  EXPECT_LT(failed, 150);
  EXPECT_FALSE(f.decide("/healthz").error);  // outside pathPrefix
  f.set(FaultConfig::fromJson({{"errorCount", 1}, {"errorCode", 503}, {"retryAfterSeconds", 4}})
            .value());
  auto d = f.decide("/anything");
  ASSERT_TRUE(d.error);
  EXPECT_EQ(d.error->code, 503);
  EXPECT_EQ(d.error->retryAfterSeconds, 4);
  EXPECT_FALSE(f.decide("/anything").error);
}

}  // namespace
}  // namespace kubesim
