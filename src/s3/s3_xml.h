// A small, strict XML reader for the S3 response bodies ocpv-dr needs, and decoders for them.
//
// Format: XML 1.0 documents as S3 and S3-compatible servers send them: an optional BOM and
// <?xml ...?> declaration, one root element, nested elements with attributes, character data,
// CDATA sections, comments and processing instructions. Character references (&#NN; &#xHH;) and
// the five predefined entities (&amp; &lt; &gt; &quot; &apos;) are decoded. Everything else is an
// error that says what and where (line:column): DOCTYPE (no entity definitions, hence no entity
// expansion attacks), unknown entities, mismatched or unclosed tags, control characters, text or a
// second element after the root, nesting deeper than a limit. Namespace prefixes are ignored when
// matching names (S3 puts its namespace on the root as the default namespace).
//
// Decoded shapes: ListBucketResult (ListObjectsV2) and Error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace ocpvdr::s3 {

struct XmlElement {
  std::string name;  // local name (prefix removed)
  std::vector<std::pair<std::string, std::string>> attributes;
  std::string text;  // concatenated character data directly inside this element
  std::vector<XmlElement> children;

  const XmlElement* child(std::string_view localName) const;  // first such child, or nullptr
  std::vector<const XmlElement*> childrenNamed(std::string_view localName) const;
};

struct XmlLimits {
  std::size_t maxDepth = 64;
  std::size_t maxElements = 1'000'000;
};

// Parses a whole document; the error (Invalid) names line, column and the problem.
[[nodiscard]] Result<XmlElement> parseXml(std::string_view document, const XmlLimits& limits = {});

// One object in a listing.
struct ObjectEntry {
  std::string key;
  std::int64_t size = 0;
  std::string lastModified;  // as sent (ISO 8601)
  std::string etag;          // surrounding quotes removed
};

// One page of ListObjectsV2.
struct ListObjectsPage {
  std::string prefix;
  std::vector<ObjectEntry> contents;
  std::vector<std::string> commonPrefixes;
  bool isTruncated = false;
  std::string nextContinuationToken;  // non-empty whenever isTruncated
  std::optional<std::int64_t> keyCount;
};

// Invalid when the root is not ListBucketResult, a Contents lacks Key or Size, a number is not a
// non-negative integer, IsTruncated is not true/false, or a truncated page has no continuation
// token (a client following it would loop forever).
[[nodiscard]] Result<ListObjectsPage> parseListBucketResult(std::string_view xml);

struct S3ErrorBody {
  std::string code;  // "NoSuchKey", "AccessDenied", ...
  std::string message;
  std::string requestId;
  std::string resource;  // Resource, Key or BucketName, whichever the server gave
};

// Invalid unless the root is Error with a Code.
[[nodiscard]] Result<S3ErrorBody> parseS3Error(std::string_view xml);

}  // namespace ocpvdr::s3
