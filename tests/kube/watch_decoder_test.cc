// Watch stream decoding: chunk boundaries anywhere, line-end variants, bookmarks, ERROR events,
// malformed lines and the line limit; the recorded real streams in random chunk sizes; list pages.
#include "kube/watch_decoder.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <sstream>

#include "core/files.h"
#include "core/json_util.h"
#include "kube/kube_client.h"
#include "support/temp_dir.h"

namespace ocpvdr::kube {
namespace {

std::string fixture(const std::string& name) {
  auto text = readFile(ocpvdr::testing::fixturePath("kube-api/" + name).string());
  EXPECT_TRUE(text.ok()) << name;
  return text.valueOr("");
}

struct Collected {
  std::vector<WatchEvent> events;
  std::function<void(WatchEvent&)> sink() {
    return [this](WatchEvent& e) { events.push_back(e); };
  }
};

const std::string kAdded =
    R"({"type":"ADDED","object":{"kind":"PersistentVolume","metadata":{"name":"a","resourceVersion":"10"}}})";
const std::string kModified =
    R"({"type":"MODIFIED","object":{"kind":"PersistentVolume","metadata":{"name":"a","resourceVersion":"11"}}})";
const std::string kBookmark =
    R"({"type":"BOOKMARK","object":{"kind":"PersistentVolume","apiVersion":"v1","metadata":{"resourceVersion":"12"}}})";

TEST(WatchDecoder, EventSplitAtEveryPossibleBoundary) {
  const std::string stream = kAdded + "\n" + kModified + "\n";
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    WatchDecoder d;
    Collected c;
    ASSERT_TRUE(d.feed(stream.substr(0, cut), c.sink()).ok());
    ASSERT_TRUE(d.feed(stream.substr(cut), c.sink()).ok());
    ASSERT_TRUE(d.finish(c.sink()).ok());
    ASSERT_EQ(c.events.size(), 2u) << "cut at " << cut;
    EXPECT_EQ(c.events[0].type, WatchEventType::Added);
    EXPECT_EQ(c.events[0].resourceVersion, "10");
    EXPECT_EQ(c.events[1].type, WatchEventType::Modified);
    EXPECT_EQ(c.events[1].resourceVersion, "11");
  }
}

TEST(WatchDecoder, OneByteAtATime) {
  const std::string stream = kAdded + "\n" + kBookmark + "\n" + kModified + "\n";
  WatchDecoder d;
  Collected c;
  for (char ch : stream) ASSERT_TRUE(d.feed(std::string_view(&ch, 1), c.sink()).ok());
  ASSERT_EQ(c.events.size(), 3u);
  EXPECT_EQ(c.events[1].type, WatchEventType::Bookmark);
  EXPECT_EQ(c.events[1].resourceVersion, "12");
  EXPECT_EQ(d.bufferedBytes(), 0u);
}

TEST(WatchDecoder, SeveralEventsInOneChunkCrlfAndBlankLines) {
  const std::string stream =
      "\n" + kAdded + "\r\n\r\n   \n" + kModified + "\r\n" + kBookmark + "\n";
  WatchDecoder d;
  Collected c;
  ASSERT_TRUE(d.feed(stream, c.sink()).ok());
  ASSERT_EQ(c.events.size(), 3u);
  EXPECT_EQ(d.eventsDecoded(), 3u);
  EXPECT_EQ(c.events[0].object["metadata"]["name"], "a");
}

TEST(WatchDecoder, ErrorEventsCarryTheStatus) {
  WatchDecoder d;
  Collected c;
  ASSERT_TRUE(d.feed(fixture("watch_410_expired.ndjson"), c.sink()).ok());
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].type, WatchEventType::Error);
  EXPECT_TRUE(c.events[0].expired());
  ASSERT_TRUE(c.events[0].status.has_value());
  EXPECT_EQ(c.events[0].status->reason, "Expired");

  WatchDecoder d2;
  Collected c2;
  ASSERT_TRUE(
      d2.feed(
            R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"internal error","reason":"InternalError","code":500}})"
            "\n",
            c2.sink())
          .ok());
  ASSERT_EQ(c2.events.size(), 1u);
  EXPECT_FALSE(c2.events[0].expired());
  ASSERT_TRUE(c2.events[0].status.has_value());
  EXPECT_EQ(c2.events[0].status->code, 500);

  // An ERROR whose object is not a Status still decodes (the client reports it as an error).
  WatchDecoder d3;
  Collected c3;
  ASSERT_TRUE(d3.feed(R"({"type":"ERROR","object":{"weird":true}})"
                      "\n",
                      c3.sink())
                  .ok());
  ASSERT_EQ(c3.events.size(), 1u);
  EXPECT_FALSE(c3.events[0].status.has_value());
  EXPECT_FALSE(c3.events[0].expired());
}

TEST(WatchDecoder, MalformedLinesAreInvalidErrorsNotCrashes) {
  const std::map<std::string, std::string> cases = {
      {"garbage", "hello world"},
      {"truncated JSON", R"({"type":"ADDED","object":{"metadata":)"},
      {"array", "[1,2,3]"},
      {"missing type", R"({"object":{"metadata":{"name":"a"}}})"},
      {"type not a string", R"({"type":7,"object":{}})"},
      {"missing object", R"({"type":"ADDED"})"},
      {"object not an object", R"({"type":"ADDED","object":"x"})"},
      {"unknown type", R"({"type":"EXPLODED","object":{}})"},
      {"bookmark without rv", R"({"type":"BOOKMARK","object":{"metadata":{}}})"},
      {"binary", std::string("\x00\xff\xfe{", 4)},
  };
  for (const auto& [what, line] : cases) {
    WatchDecoder d;
    Collected c;
    // A good event first: it is delivered before the bad line stops decoding.
    Status st = d.feed(kAdded + "\n" + line + "\n" + kModified + "\n", c.sink());
    ASSERT_FALSE(st.ok()) << what;
    EXPECT_EQ(st.error().kind, ErrorKind::Invalid) << what;
    EXPECT_NE(st.error().message.find("watch stream"), std::string::npos) << st.error().message;
    ASSERT_EQ(c.events.size(), 1u) << what;
    EXPECT_FALSE(d.feed(kAdded + "\n", c.sink()).ok()) << "no reuse after an error";
  }
}

TEST(WatchDecoder, ObjectsWithoutNameOrRvStillDecode) {
  // Skipping malformed objects is the reflector's job; the decoder must not fail the stream.
  WatchDecoder d;
  Collected c;
  ASSERT_TRUE(d.feed(R"({"type":"ADDED","object":{"kind":"PersistentVolume"}})"
                     "\n",
                     c.sink())
                  .ok());
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].resourceVersion, "");
}

TEST(WatchDecoder, LineLimit) {
  WatchDecoder d(1024);
  Collected c;
  ASSERT_TRUE(d.feed(kAdded + "\n", c.sink()).ok());
  // Without a newline the buffer may not grow past the limit.
  Status st = d.feed(std::string(600, ' '), c.sink());
  ASSERT_TRUE(st.ok());
  st = d.feed(std::string(600, 'x'), c.sink());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("exceeds the limit of 1024"), std::string::npos)
      << st.error().message;

  // A complete over-long line in one chunk is rejected as well.
  WatchDecoder d2(64);
  Collected c2;
  st = d2.feed(kAdded + "\n", c2.sink());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("exceeds the limit"), std::string::npos);

  EXPECT_EQ(WatchDecoder::kDefaultMaxLine, 16u * 1024 * 1024);
}

TEST(WatchDecoder, FinishReportsAPartialEventAndAcceptsAFinalLineWithoutNewline) {
  WatchDecoder d;
  Collected c;
  ASSERT_TRUE(d.feed(kAdded.substr(0, 30), c.sink()).ok());
  Status st = d.finish(c.sink());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("ended inside an event"), std::string::npos);

  WatchDecoder d2;
  Collected c2;
  ASSERT_TRUE(d2.feed(kAdded, c2.sink()).ok());
  EXPECT_TRUE(c2.events.empty());
  ASSERT_TRUE(d2.finish(c2.sink()).ok());
  EXPECT_EQ(c2.events.size(), 1u);
}

// Counts what the file holds, independently of the decoder: one JSON document per line.
std::map<std::string, int> countTypes(const std::string& text, std::string* lastBookmarkRv) {
  std::map<std::string, int> counts;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = Json::parse(line);
    counts[j["type"].get<std::string>()]++;
    if (j["type"] == "BOOKMARK") *lastBookmarkRv = j["object"]["metadata"]["resourceVersion"];
  }
  return counts;
}

void feedInRandomChunks(const std::string& file, std::uint64_t seed) {
  const std::string text = fixture(file);
  ASSERT_FALSE(text.empty());
  std::string wantBookmarkRv;
  const auto want = countTypes(text, &wantBookmarkRv);
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 200; ++round) {
    std::uniform_int_distribution<std::size_t> size(1, round < 100 ? 64 : 8192);
    WatchDecoder d;
    std::map<std::string, int> got;
    std::string rv, bookmarkRv;
    std::vector<std::string> names;
    auto sink = [&](WatchEvent& e) {
      got[std::string(toString(e.type))]++;
      if (!e.resourceVersion.empty()) {
        // resourceVersions in a watch stream never go backwards.
        EXPECT_GE(std::stoll(e.resourceVersion), rv.empty() ? 0 : std::stoll(rv));
        rv = e.resourceVersion;
      }
      if (e.type == WatchEventType::Bookmark) {
        bookmarkRv = e.resourceVersion;
        EXPECT_FALSE(e.object["metadata"].contains("name"));
      } else {
        names.push_back(e.object["metadata"]["name"]);
      }
    };
    std::size_t pos = 0;
    while (pos < text.size()) {
      std::size_t n = std::min(size(rng), text.size() - pos);
      ASSERT_TRUE(d.feed(std::string_view(text).substr(pos, n), sink).ok());
      pos += n;
    }
    ASSERT_TRUE(d.finish(sink).ok());
    ASSERT_EQ(got, want) << file << " round " << round;
    EXPECT_EQ(bookmarkRv, wantBookmarkRv);
    EXPECT_EQ(rv, wantBookmarkRv) << "the last bookmark carries the stream's final RV";
  }
}

TEST(WatchFixtures, RecordedPvStreamInRandomChunks) {
  feedInRandomChunks("watch_pv.ndjson", 42);
  std::string lastRv;
  auto counts = countTypes(fixture("watch_pv.ndjson"), &lastRv);
  // What the README says was captured: 2 PVs created and deleted, bookmarks around them.
  EXPECT_EQ(counts["ADDED"], 2);
  EXPECT_EQ(counts["DELETED"], 2);
  EXPECT_EQ(counts["BOOKMARK"], 3);
  EXPECT_EQ(lastRv, "270");
}

TEST(WatchFixtures, RecordedPvcStreamInRandomChunks) {
  feedInRandomChunks("watch_pvc.ndjson", 7);
  std::string lastRv;
  auto counts = countTypes(fixture("watch_pvc.ndjson"), &lastRv);
  EXPECT_EQ(counts["ADDED"], 1);
  EXPECT_EQ(counts["DELETED"], 1);
  EXPECT_EQ(lastRv, "264");
}

TEST(ListFixtures, PagesParseWithContinueAndResourceVersion) {
  auto p1 = parseJson(fixture("list_page1.json"), "page1");
  auto p2 = parseJson(fixture("list_page2.json"), "page2");
  ASSERT_TRUE(p1.ok() && p2.ok());
  auto page1 = parseListPage(*p1, &resources::persistentVolumes());
  auto page2 = parseListPage(*p2, &resources::persistentVolumes());
  ASSERT_TRUE(page1.ok()) << page1.error().describe();
  ASSERT_TRUE(page2.ok()) << page2.error().describe();
  EXPECT_EQ(page1->kind, "PersistentVolumeList");
  EXPECT_EQ(page1->resourceVersion, "283");
  EXPECT_EQ(page2->resourceVersion, "283");
  EXPECT_FALSE(page1->continueToken.empty());
  EXPECT_NE(page1->continueToken, page2->continueToken);
  EXPECT_EQ(page1->remainingItemCount, 3);
  EXPECT_EQ(page2->remainingItemCount, 1);
  ASSERT_EQ(page1->items.size(), 2u);
  ASSERT_EQ(page2->items.size(), 2u);
  EXPECT_EQ(page1->items[0]["metadata"]["name"], "page-pv-1");
  EXPECT_EQ(page1->items[1]["metadata"]["resourceVersion"], "277");
  EXPECT_EQ(page2->items[1]["metadata"]["name"], "page-pv-4");
  // The server leaves kind/apiVersion out of list items; parseListPage fills them in.
  EXPECT_EQ(page1->items[0]["kind"], "PersistentVolume");
  EXPECT_EQ(page1->items[0]["apiVersion"], "v1");

  EXPECT_FALSE(parseListPage(Json::array()).ok());
  auto badItems = parseListPage(Json{{"items", "nope"}});
  ASSERT_FALSE(badItems.ok());
  EXPECT_NE(badItems.error().message.find("items"), std::string::npos);
  auto badRv = parseListPage(Json{{"metadata", {{"resourceVersion", 5}}}});
  ASSERT_FALSE(badRv.ok());
  EXPECT_NE(badRv.error().message.find("metadata.resourceVersion"), std::string::npos);
  auto nullItems = parseListPage(Json{{"items", nullptr}});
  ASSERT_TRUE(nullItems.ok());
  EXPECT_TRUE(nullItems->items.empty());
}

}  // namespace
}  // namespace ocpvdr::kube
