// The text helpers of core/text.h: each one replaced two to five local copies, so the edge cases
// those copies handled are pinned here.
#include "core/text.h"

#include <gtest/gtest.h>

namespace ocpvdr {
namespace {

using namespace std::chrono_literals;
using Parts = std::vector<std::string_view>;

TEST(TextTest, TrimDropsWhitespaceOnBothEnds) {
  EXPECT_EQ(trim("  a b \t\r\n"), "a b");
  EXPECT_EQ(trim("a"), "a");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \t\r\n\f\v"), "");
  EXPECT_EQ(trim("\x0b"
                 "x"
                 "\x0c"),
            "x");
  EXPECT_EQ(trim("//a/b//", "/"), "a/b");
  EXPECT_EQ(trim("///", "/"), "");
  EXPECT_EQ(trim(" /a/ ", "/"), " /a/ ");  // only the given bytes
}

TEST(TextTest, TrimRightKeepsTheFront) {
  EXPECT_EQ(trimRight("  token\r\n"), "  token");
  EXPECT_EQ(trimRight("\n\n"), "");
  EXPECT_EQ(trimRight(""), "");
  EXPECT_EQ(trimRight("abc"), "abc");
}

TEST(TextTest, SplitKeepsEmptyFields) {
  EXPECT_EQ(split("a,b", ','), (Parts{"a", "b"}));
  EXPECT_EQ(split("a,,b", ','), (Parts{"a", "", "b"}));
  EXPECT_EQ(split(",a,", ','), (Parts{"", "a", ""}));
  EXPECT_EQ(split("", ','), (Parts{""}));
  EXPECT_EQ(split("abc", ','), (Parts{"abc"}));
  EXPECT_EQ(split("server#share#sub#", '#'), (Parts{"server", "share", "sub", ""}));
}

TEST(TextTest, SplitWhitespaceDropsRuns) {
  EXPECT_EQ(splitWhitespace("  */5 \t * *\n* *  "), (Parts{"*/5", "*", "*", "*", "*"}));
  EXPECT_EQ(splitWhitespace(""), Parts{});
  EXPECT_EQ(splitWhitespace(" \t "), Parts{});
  EXPECT_EQ(splitWhitespace("one"), (Parts{"one"}));
}

TEST(TextTest, Join) {
  EXPECT_EQ(join({}, ", "), "");
  EXPECT_EQ(join({"a"}, ", "), "a");
  EXPECT_EQ(join({"a", "b", "c"}, "; "), "a; b; c");
  EXPECT_EQ(join({"", "b"}, ","), ",b");  // an empty first part still gets its separator
}

TEST(TextTest, MarkdownCellEscapesPipesAndLineBreaks) {
  EXPECT_EQ(markdownCell("a|b"), "a\\|b");
  EXPECT_EQ(markdownCell("line1\r\nline2"), "line1  line2");
  EXPECT_EQ(markdownCell(""), "");
  EXPECT_EQ(markdownCell("plain *text*"), "plain *text*");
}

TEST(TextTest, HtmlEscape) {
  EXPECT_EQ(htmlEscape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
  EXPECT_EQ(htmlEscape(""), "");
}

TEST(TextTest, HumanBytes) {
  EXPECT_EQ(humanBytes(0), "0 B");
  EXPECT_EQ(humanBytes(1023), "1023 B");
  EXPECT_EQ(humanBytes(1024), "1.0 KiB");
  EXPECT_EQ(humanBytes(1536), "1.5 KiB");
  EXPECT_EQ(humanBytes(1LL << 30), "1.0 GiB");
  EXPECT_EQ(humanBytes(1LL << 60), "1024.0 PiB");  // PiB is the largest unit
}

TEST(TextTest, HumanDurationIsExact) {
  EXPECT_EQ(humanDuration(0ms), "0ms");
  EXPECT_EQ(humanDuration(800ms), "800ms");
  EXPECT_EQ(humanDuration(1999ms), "1s");
  EXPECT_EQ(humanDuration(45s), "45s");
  EXPECT_EQ(humanDuration(90s), "1m30s");
  EXPECT_EQ(humanDuration(120s), "2m");
  EXPECT_EQ(humanDuration(3600s), "1h");
  EXPECT_EQ(humanDuration(3605s), "1h5s");
  EXPECT_EQ(humanDuration(3725s), "1h2m5s");
  EXPECT_EQ(humanDuration(50h), "50h");
}

TEST(TextTest, HumanAgeKeepsTwoUnits) {
  EXPECT_EQ(humanAge(0s), "0s");
  EXPECT_EQ(humanAge(45s), "45s");
  EXPECT_EQ(humanAge(725s), "12m 5s");
  EXPECT_EQ(humanAge(3h + 2min + 59s), "3h 2m");
  EXPECT_EQ(humanAge(52h), "2d 4h");
  EXPECT_EQ(humanAge(-90s), "-1m 30s");  // a clock running behind shows as negative
}

TEST(TextTest, LowerAsciiAndUtf8) {
  EXPECT_EQ(lowerAscii("Content-TYPE\xC3\x89"), "content-type\xC3\x89");
  std::string out;
  appendUtf8(out, 0x41);
  appendUtf8(out, 0xE9);
  appendUtf8(out, 0x20AC);
  appendUtf8(out, 0x1F600);
  EXPECT_EQ(out, "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
}

}  // namespace
}  // namespace ocpvdr
