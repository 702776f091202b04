// json_util: accessor error messages, JSON parse errors, file I/O and RFC 3339 timestamps.
#include "core/json_util.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "core/files.h"
#include "core/time.h"
#include "support/temp_dir.h"

namespace ocpvdr {
namespace {

using namespace std::chrono;
using ocpvdr::testing::TempDir;

const Json kPv = Json::parse(R"({
  "metadata": {"name": "pv-a", "generation": 3, "big": 18446744073709551615},
  "spec": {"nfs": {"server": 10, "path": "/exports/a", "readOnly": false},
           "capacity": "5Gi", "ratio": 2.5, "whole": 4.0, "nothing": null}
})");

TEST(JsonAccessTest, StringOkMissingAndWrongType) {
  EXPECT_EQ(jsonString(kPv, "spec.nfs.path").value(), "/exports/a");
  auto wrong = jsonString(kPv, "spec.nfs.server");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().kind, ErrorKind::Invalid);
  EXPECT_EQ(wrong.error().message, "spec.nfs.server: expected a string, got number");
  auto missing = jsonString(kPv, "spec.csi.driver");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::Invalid);
  EXPECT_EQ(missing.error().message, "spec.csi.driver: missing");
  auto throughScalar = jsonString(kPv, "spec.capacity.value");
  ASSERT_FALSE(throughScalar.ok());
  EXPECT_EQ(throughScalar.error().message, "spec.capacity: expected an object, got string");
  auto rootNotObject = jsonString(Json::array(), "a");
  ASSERT_FALSE(rootNotObject.ok());
  EXPECT_EQ(rootNotObject.error().message, "document: expected an object, got array");
}

TEST(JsonAccessTest, IntAcceptsIntegersOnly) {
  EXPECT_EQ(jsonInt(kPv, "metadata.generation").value(), 3);
  EXPECT_EQ(jsonInt(kPv, "spec.whole").value(), 4);
  EXPECT_EQ(jsonInt(kPv, "spec.ratio").error().message,
            "spec.ratio: expected an integer, got fractional number");
  EXPECT_EQ(jsonInt(kPv, "spec.capacity").error().message,
            "spec.capacity: expected an integer, got string");
  EXPECT_EQ(jsonInt(kPv, "metadata.big").error().message, "metadata.big: integer out of range");
  EXPECT_EQ(jsonInt(kPv, "spec.nothing").error().message,
            "spec.nothing: expected an integer, got null");
}

TEST(JsonAccessTest, BoolAndOptionals) {
  EXPECT_FALSE(jsonBool(kPv, "spec.nfs.readOnly").value());
  EXPECT_EQ(jsonBool(kPv, "spec.nfs.path").error().message,
            "spec.nfs.path: expected a boolean, got string");
  EXPECT_EQ(jsonBool(kPv, "spec.nfs.nope").error().message, "spec.nfs.nope: missing");

  EXPECT_EQ(jsonOptString(kPv, "spec.nfs.path").value(), std::optional<std::string>("/exports/a"));
  EXPECT_EQ(jsonOptString(kPv, "spec.nfs.absent").value(), std::nullopt);
  EXPECT_EQ(jsonOptString(kPv, "spec.nothing").value(), std::nullopt);
  EXPECT_EQ(jsonOptString(kPv, "spec.nfs.server").error().message,
            "spec.nfs.server: expected a string, got number");
  // Absent parent is absence; a parent of the wrong type is a shape error.
  EXPECT_EQ(jsonOptString(kPv, "spec.csi.driver").value(), std::nullopt);
  EXPECT_EQ(jsonOptString(kPv, "spec.capacity.x").error().message,
            "spec.capacity: expected an object, got string");

  EXPECT_EQ(jsonOptBool(kPv, "spec.nfs.readOnly").value(), std::optional<bool>(false));
  EXPECT_EQ(jsonOptBool(kPv, "spec.nfs.x").value(), std::nullopt);
  EXPECT_EQ(jsonOptBool(kPv, "spec.capacity").error().message,
            "spec.capacity: expected a boolean, got string");
}

TEST(JsonAccessTest, JsonAt) {
  ASSERT_NE(jsonAt(kPv, "spec.nfs"), nullptr);
  EXPECT_TRUE(jsonAt(kPv, "spec.nfs")->is_object());
  EXPECT_EQ(jsonAt(kPv, "spec.nfs.none"), nullptr);
  EXPECT_EQ(jsonAt(kPv, "spec.capacity.x"), nullptr);
  EXPECT_EQ(jsonAt(Json(5), "a"), nullptr);
}

TEST(ParseJsonTest, ErrorNamesWhatAndBytePosition) {
  auto bad = parseJson(R"({"a": tru})", "pv.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::Invalid);
  EXPECT_TRUE(bad.error().message.starts_with("pv.json: invalid JSON at byte 10: "))
      << bad.error().message;
  EXPECT_EQ(bad.error().message.find("[json.exception"), std::string::npos);

  auto truncated = parseJson(R"({"a": [1, 2)", "webhook body");
  ASSERT_FALSE(truncated.ok());
  EXPECT_TRUE(truncated.error().message.starts_with("webhook body: invalid JSON at byte 12"))
      << truncated.error().message;

  EXPECT_FALSE(parseJson("", "empty").ok());
  EXPECT_FALSE(parseJson("\xff\xfe", "binary").ok());
  EXPECT_FALSE(parseJson("{\"s\": \"\xc3\x28\"}", "bad utf8").ok());
  EXPECT_FALSE(parseJson(std::string(100000, '['), "deep").ok());

  auto good = parseJson(R"({"a": [1, 2]})", "ok");
  ASSERT_TRUE(good.ok());
  EXPECT_EQ((*good)["a"][1], 2);
}

TEST(FileTest, WriteAtomicCreatesReplacesAndLeavesNoTemp) {
  TempDir dir;
  const std::string path = (dir / "state.json").string();
  ASSERT_TRUE(writeFileAtomic(path, "first").ok());
  EXPECT_EQ(readFile(path).value(), "first");
  ASSERT_TRUE(writeFileAtomic(path, "second, longer").ok());
  EXPECT_EQ(readFile(path).value(), "second, longer");
  ASSERT_TRUE(writeFileAtomic(path, "").ok());
  EXPECT_EQ(readFile(path).value(), "");

  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);  // no temporary files left behind

  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  const std::string secret = (dir / "token").string();
  ASSERT_TRUE(writeFileAtomic(secret, "t0ken", 0600).ok());
  ASSERT_EQ(::stat(secret.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(FileTest, WriteAtomicReaderNeverSeesPartialContent) {
  TempDir dir;
  const std::string path = (dir / "big").string();
  const std::string a(1 << 20, 'a'), b(1 << 20, 'b');
  ASSERT_TRUE(writeFileAtomic(path, a).ok());
  std::atomic<bool> done{false};
  std::atomic<int> torn{0}, reads{0};
  std::thread reader([&] {
    while (!done) {
      auto r = readFile(path);
      ASSERT_TRUE(r.ok()) << r.error().message;
      ++reads;
      if (r->size() != a.size() || r->find_first_not_of(r->front()) != std::string::npos) ++torn;
    }
  });
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(writeFileAtomic(path, i % 2 ? a : b).ok());
  done = true;
  reader.join();
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(torn.load(), 0);
}

TEST(FileTest, ErrorsNameThePathAndKind) {
  TempDir dir;
  auto missing = readFile((dir / "nope").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::NotFound);
  EXPECT_NE(missing.error().message.find((dir / "nope").string()), std::string::npos);

  auto isDir = readFile(dir.str());
  ASSERT_FALSE(isDir.ok());
  EXPECT_EQ(isDir.error().kind, ErrorKind::Invalid);

  Status noDir = writeFileAtomic((dir / "missing-dir" / "f").string(), "x");
  ASSERT_FALSE(noDir.ok());
  EXPECT_EQ(noDir.error().kind, ErrorKind::NotFound);
  EXPECT_NE(noDir.error().message.find("missing-dir"), std::string::npos);

  EXPECT_EQ(readFileOrStdin((dir / "nope").string()).error().kind, ErrorKind::NotFound);
  dir.write("x.json", "{}");
  EXPECT_EQ(readFileOrStdin((dir / "x.json").string()).value(), "{}");
}

TEST(TimeTest, FormatIsRfc3339Utc) {
  EXPECT_EQ(formatTime(system_clock::time_point{}), "1970-01-01T00:00:00Z");
  const system_clock::time_point t{seconds{1795479141} + milliseconds{123}};
  EXPECT_EQ(formatTime(t), "2026-11-24T00:12:21Z");
  EXPECT_EQ(formatTimeMillis(t), "2026-11-24T00:12:21.123Z");
  EXPECT_EQ(formatTimeMillis(system_clock::time_point{milliseconds{-500}}),
            "1969-12-31T23:59:59.500Z");
  EXPECT_EQ(formatTime(system_clock::time_point{seconds{951782400}}), "2000-02-29T00:00:00Z");
}

TEST(TimeTest, ParseKubernetesForms) {
  const system_clock::time_point base{seconds{1795479141}};
  EXPECT_EQ(parseTime("2026-11-24T00:12:21Z").value(), base);
  EXPECT_EQ(parseTime("2026-11-24t00:12:21z").value(), base);
  EXPECT_EQ(parseTime("2026-11-24T00:12:21.5Z").value(), base + milliseconds{500});
  EXPECT_EQ(parseTime("2026-11-24T00:12:21.123456Z").value(), base + microseconds{123456});
  EXPECT_EQ(parseTime("2026-11-24T00:12:21.123456789Z").value(),
            base + duration_cast<system_clock::duration>(nanoseconds{123456789}));
  EXPECT_EQ(parseTime("2026-11-24T02:12:21+02:00").value(), base);
  EXPECT_EQ(parseTime("2026-11-23T18:42:21-05:30").value(), base);
  EXPECT_EQ(parseTime("2026-11-24T00:12:21.25+00:00").value(), base + milliseconds{250});
  EXPECT_EQ(parseTime("2024-02-29T00:00:00Z").value(),
            system_clock::time_point{seconds{1709164800}});
  // Round trip.
  EXPECT_EQ(formatTime(parseTime("2031-07-04T13:14:15+01:00").value()), "2031-07-04T12:14:15Z");
}

TEST(TimeTest, ParseRejectsMalformed) {
  for (const char* bad :
       {"", "2026-11-24", "2026-11-24T00:12:21", "2026-11-24T00:12Z", "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "2026-11-24T24:00:00Z",
        "2026-11-24T00:60:00Z", "2026-11-24T00:00:61Z", "2026-11-24T00:12:21.Z",
        "2026-11-24T00:12:21+0200", "2026-11-24T00:12:21Zjunk", "26-11-24T00:12:21Z",
        "2026-11-24X00:12:21Z", "2026-1a-24T00:12:21Z"}) {
    auto r = parseTime(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid);
    EXPECT_NE(r.error().message.find("invalid timestamp \"" + std::string(bad) + "\""),
              std::string::npos)
        << r.error().message;
  }
}

}  // namespace
}  // namespace ocpvdr
