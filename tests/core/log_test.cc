// Logging: the JSON line shape, the human line shape, level filtering and secret redaction.
#include "core/log.h"

#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <thread>

namespace ocpvdr {
namespace {

class LogTest : public ::testing::Test {
 protected:
  // The logger must not keep writing into `out_` after the test.
  void TearDown() override { log::setup(log::Format::Json, log::Level::Info); }

  std::vector<std::string> lines() const {
    std::vector<std::string> v;
    std::istringstream in(out_.str());
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
  }
  std::ostringstream out_;
};

const std::regex kTs(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");

TEST_F(LogTest, JsonLineShape) {
  log::setupStream(out_, log::Format::Json, log::Level::Info);
  log::info("synced pv", {{"pv", "pv-a"}, {"bytes", 1024}, {"nested", {{"ok", true}}}});
  auto v = lines();
  ASSERT_EQ(v.size(), 1u);
  // Fixed keys come first, in this order, so collectors and humans find them.
  EXPECT_TRUE(v[0].starts_with("{\"ts\":\"")) << v[0];
  auto j = nlohmann::json::parse(v[0]);
  EXPECT_TRUE(std::regex_match(j["ts"].get<std::string>(), kTs)) << j["ts"];
  EXPECT_EQ(j["level"], "info");
  EXPECT_EQ(j["msg"], "synced pv");
  EXPECT_EQ(j["pv"], "pv-a");
  EXPECT_EQ(j["bytes"], 1024);
  EXPECT_EQ(j["nested"]["ok"], true);
  EXPECT_EQ(j.size(), 6u);
  EXPECT_LT(v[0].find("\"level\""), v[0].find("\"msg\""));
}

TEST_F(LogTest, FieldsCannotShadowFixedKeys) {
  log::setupStream(out_, log::Format::Json, log::Level::Info);
  log::warn("m", {{"msg", "fake"}, {"level", "debug"}});
  auto j = nlohmann::json::parse(lines().at(0));
  EXPECT_EQ(j["msg"], "m");
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["field.msg"], "fake");
  EXPECT_EQ(j["field.level"], "debug");
}

TEST_F(LogTest, HumanLineShape) {
  log::setupStream(out_, log::Format::Human, log::Level::Debug);
  log::error("rsync failed\nsecond line", {{"pv", "pv-a"}, {"code", 23}, {"why", "two words"}});
  auto v = lines();
  ASSERT_EQ(v.size(), 1u);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(
      v[0], m,
      std::regex(R"((\S+) ERROR rsync failed\\nsecond line code=23 pv=pv-a why="two words")")))
      << v[0];
  EXPECT_TRUE(std::regex_match(m[1].str(), kTs));
}

TEST_F(LogTest, LevelFiltering) {
  log::setupStream(out_, log::Format::Json, log::Level::Warn);
  log::debug("d");
  log::info("i");
  log::warn("w");
  log::error("e");
  auto v = lines();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(v[0])["level"], "warn");
  EXPECT_EQ(nlohmann::json::parse(v[1])["level"], "error");
  EXPECT_EQ(log::parseLevel("DEBUG"), log::Level::Debug);
  EXPECT_EQ(log::parseLevel("warning"), log::Level::Warn);
  EXPECT_EQ(log::parseLevel("bogus", log::Level::Error), log::Level::Error);
}

TEST_F(LogTest, RegisteredSecretsMaskedInMessageAndFields) {
  log::addSecret("hunter2-s3cr3t");
  log::addSecret("abc");  // too short to register
  log::setupStream(out_, log::Format::Json, log::Level::Info);
  log::info("token is hunter2-s3cr3t, twice: hunter2-s3cr3t; abc stays",
            {{"cmd", "curl -H 'Bearer hunter2-s3cr3t'"},
             {"list", {"x", "hunter2-s3cr3t"}},
             {"deep", {{"inner", "pre-hunter2-s3cr3t-post"}}}});
  const std::string line = lines().at(0);
  EXPECT_EQ(line.find("hunter2"), std::string::npos) << line;
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["msg"], "token is ***, twice: ***; abc stays");
  EXPECT_EQ(j["cmd"], "curl -H 'Bearer ***'");
  EXPECT_EQ(j["list"][1], "***");
  EXPECT_EQ(j["deep"]["inner"], "pre-***-post");
}

TEST_F(LogTest, LongerSecretMaskedWholeWhenItContainsAnother) {
  // Secrets stay registered for the whole process: use strings no other test logs.
  log::addSecret("zq7-s3c");
  log::addSecret("zq7-s3c-longer-one");
  EXPECT_EQ(log::redact("x zq7-s3c-longer-one y zq7-s3c"), "x *** y ***");
}

TEST_F(LogTest, SensitiveKeyNamesMaskedWhateverTheValue) {
  auto r = log::redactFields({{"Authorization", "Bearer abc.def"},
                              {"accessToken", 12345},
                              {"db", {{"PASSWORD", {{"nested", "x"}}}, {"user", "bob"}}},
                              {"private_key", "-----BEGIN"},
                              {"aws_secret_access_key", "k"},
                              {"credentials", {"a", "b"}},
                              {"items", {{{"token", "t"}, {"name", "n"}}}},
                              {"path", "/exports/a"}});
  EXPECT_EQ(r["Authorization"], "***");
  EXPECT_EQ(r["accessToken"], "***");
  EXPECT_EQ(r["db"]["PASSWORD"], "***");
  EXPECT_EQ(r["db"]["user"], "bob");
  EXPECT_EQ(r["private_key"], "***");
  EXPECT_EQ(r["aws_secret_access_key"], "***");
  EXPECT_EQ(r["credentials"], "***");
  EXPECT_EQ(r["items"][0]["token"], "***");
  EXPECT_EQ(r["items"][0]["name"], "n");
  EXPECT_EQ(r["path"], "/exports/a");

  log::setupStream(out_, log::Format::Human, log::Level::Info);
  log::info("login", {{"password", "pw-value-1"}});
  EXPECT_EQ(out_.str().find("pw-value-1"), std::string::npos);
  EXPECT_NE(out_.str().find("password=***"), std::string::npos) << out_.str();
}

TEST_F(LogTest, InvalidUtf8DoesNotThrow) {
  log::setupStream(out_, log::Format::Json, log::Level::Info);
  log::info("bad \xc3\x28 bytes", {{"stderr", "\xff\xfe"}});
  auto j = nlohmann::json::parse(lines().at(0));
  EXPECT_TRUE(j["msg"].get<std::string>().starts_with("bad "));
}

TEST_F(LogTest, ConcurrentLoggingKeepsLinesWhole) {
  log::setupStream(out_, log::Format::Json, log::Level::Info);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 200; ++i) log::info("line", {{"t", t}, {"i", i}});
    });
  }
  for (auto& t : threads) t.join();
  auto v = lines();
  ASSERT_EQ(v.size(), 800u);
  for (const auto& l : v) {
    EXPECT_TRUE(nlohmann::json::accept(l)) << l;
  }
}

}  // namespace
}  // namespace ocpvdr
