// core/paths.h: the lexical path rules config validation shares with replication's path mapping.
#include "core/paths.h"

#include <gtest/gtest.h>

namespace ocpvdr::paths {
namespace {

TEST(Paths, NormaliseAbsolute) {
  struct Case {
    const char* in;
    const char* out;
  } cases[] = {{"/", "/"},
               {"//", "/"},
               {"/a", "/a"},
               {"/a/", "/a"},
               {"/a//b", "/a/b"},
               {"/a/./b/.", "/a/b"},
               {"/exports/ocp", "/exports/ocp"},
               {"/a/.../b", "/a/.../b"}};
  for (const auto& c : cases) {
    auto r = normaliseAbsolute(c.in, "x");
    ASSERT_TRUE(r.ok()) << c.in << ": " << r.error().message;
    EXPECT_EQ(*r, c.out) << c.in;
  }
}

TEST(Paths, NormaliseRefusesRelativeTraversalNulAndEmpty) {
  for (std::string_view bad :
       {std::string_view("a/b"), std::string_view(""), std::string_view("/a/../b"),
        std::string_view("/.."), std::string_view("/a\0b", 4), std::string_view("./a")}) {
    auto r = normaliseAbsolute(bad, "spec.nfs.path");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind, ErrorKind::Refused);
    EXPECT_EQ(r.error().message.rfind("spec.nfs.path: ", 0), 0u) << r.error().message;
  }
}

TEST(Paths, IsUnderComparesWholeComponents) {
  EXPECT_TRUE(isUnder("/exports/ocp", "/exports/ocp"));
  EXPECT_TRUE(isUnder("/exports/ocp/pv-a", "/exports/ocp"));
  EXPECT_FALSE(isUnder("/exports/ocpx", "/exports/ocp"));
  EXPECT_FALSE(isUnder("/exports", "/exports/ocp"));
  EXPECT_TRUE(isUnder("/anything", "/"));
  EXPECT_FALSE(isUnder("", "/"));
}

}  // namespace
}  // namespace ocpvdr::paths
