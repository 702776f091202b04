// Label selectors and field selectors as list/watch query parameters express them.
//
// Label selector grammar (k8s.io/apimachinery labels.Parse): comma-separated requirements, each
// `key`, `!key`, `key=v`, `key==v`, `key!=v`, `key in (a,b)`, `key notin (a,b)`, `key>n`, `key<n`.
// Field selectors: comma-separated `field=v`, `field==v`, `field!=v` over metadata.name and
// metadata.namespace (the fields every resource supports).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api_error.h"

namespace kubesim {

using Json = nlohmann::json;

class LabelSelector {
 public:
  enum class Op { Exists, NotExists, Equals, NotEquals, In, NotIn, Gt, Lt };
  struct Requirement {
    std::string key;
    Op op = Op::Exists;
    std::vector<std::string> values;
  };

  // Empty text selects everything.
  static ApiResult<LabelSelector> parse(std::string_view text);
  bool empty() const { return reqs_.empty(); }
  // `labels` is metadata.labels (may be null or absent).
  bool matches(const Json& labels) const;
  const std::vector<Requirement>& requirements() const { return reqs_; }

 private:
  std::vector<Requirement> reqs_;
};

class FieldSelector {
 public:
  struct Term {
    std::string field;  // metadata.name | metadata.namespace
    bool equals = true;
    std::string value;
  };

  static ApiResult<FieldSelector> parse(std::string_view text);
  bool empty() const { return terms_.empty(); }
  bool matches(const std::string& ns, const std::string& name) const;
  // The name an equality term pins, if any (lets single-object watches skip other keys).
  const std::string* pinnedName() const;

 private:
  std::vector<Term> terms_;
};

// Both selectors plus the namespace scope of the request: what list and watch filter on.
struct ObjectFilter {
  std::string ns;  // empty: all namespaces (or a cluster-scoped resource)
  LabelSelector labels;
  FieldSelector fields;

  bool selectsAll() const { return ns.empty() && labels.empty() && fields.empty(); }
  bool matches(const Json& object) const;
};

}  // namespace kubesim
