// Result/Status/Error: kinds, exit codes, wrapping and the propagation macros.
#include "core/result.h"

#include <gtest/gtest.h>

namespace ocpvdr {
namespace {

TEST(ResultTest, ExitCodesAreStablePerKind) {
  EXPECT_EQ(exitCodeFor(ErrorKind::Invalid), 2);
  EXPECT_EQ(exitCodeFor(ErrorKind::Refused), 3);
  EXPECT_EQ(exitCodeFor(ErrorKind::Retryable), 4);
  EXPECT_EQ(exitCodeFor(ErrorKind::Terminal), 5);
  EXPECT_EQ(exitCodeFor(ErrorKind::Conflict), 6);
  EXPECT_EQ(exitCodeFor(ErrorKind::NotFound), 7);
}

TEST(ResultTest, KindNames) {
  EXPECT_EQ(toString(ErrorKind::Invalid), "invalid");
  EXPECT_EQ(toString(ErrorKind::Refused), "refused");
  EXPECT_EQ(toString(ErrorKind::Retryable), "retryable");
  EXPECT_EQ(toString(ErrorKind::Terminal), "terminal");
  EXPECT_EQ(toString(ErrorKind::Conflict), "conflict");
  EXPECT_EQ(toString(ErrorKind::NotFound), "not-found");
}

TEST(ResultTest, WrapKeepsKindAndPrefixesContext) {
  Error e = retryableError("connection refused");
  Error w = e.wrap("syncing pv-a").wrap("reconcile");
  EXPECT_EQ(w.kind, ErrorKind::Retryable);
  EXPECT_EQ(w.message, "reconcile: syncing pv-a: connection refused");
  EXPECT_EQ(w.describe(), "retryable: reconcile: syncing pv-a: connection refused");
  EXPECT_EQ(e.message, "connection refused");  // wrap does not modify the original
}

Result<int> half(int x) {
  if (x % 2 != 0) return invalidError(std::to_string(x) + " is odd");
  return x / 2;
}

Result<int> quarter(int x) {
  OCPVDR_ASSIGN_OR_RETURN(int h, half(x));
  OCPVDR_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

Status checkQuarter(int x) {
  OCPVDR_TRY(quarter(x));
  return Status::success();
}

TEST(ResultTest, MacrosPropagateFirstError) {
  auto ok = quarter(12);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);
  auto bad = quarter(6);  // 6/2 = 3 is odd
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::Invalid);
  EXPECT_EQ(bad.error().message, "3 is odd");
  EXPECT_TRUE(checkQuarter(8).ok());
  Status s = checkQuarter(5);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "5 is odd");
}

TEST(ResultTest, ValueOrAndBoolConversion) {
  Result<std::string> r = notFoundError("gone");
  EXPECT_FALSE(r);
  EXPECT_EQ(r.valueOr("fallback"), "fallback");
  Result<std::string> v = std::string("x");
  EXPECT_TRUE(v);
  EXPECT_EQ(v.valueOr("fallback"), "x");
  EXPECT_EQ(v->size(), 1u);
}

}  // namespace
}  // namespace ocpvdr
