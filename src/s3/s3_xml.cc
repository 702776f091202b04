// Strict XML reader and S3 ListBucketResult / Error decoders (see s3_xml.h).
#include "s3/s3_xml.h"

#include <charconv>
#include <cstdint>

#include "core/text.h"

namespace ocpvdr::s3 {
namespace {

bool isNameStart(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' || c >= 0x80;
}
bool isNameChar(unsigned char c) {
  return isNameStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}
bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string localName(std::string_view qname) {
  auto colon = qname.rfind(':');
  return std::string(colon == std::string_view::npos ? qname : qname.substr(colon + 1));
}

// XML 1.0 Char production.
bool isXmlChar(std::uint32_t cp) {
  return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
         (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF);
}

class Parser {
 public:
  Parser(std::string_view doc, const XmlLimits& limits) : s_(doc), limits_(limits) {}

  Result<XmlElement> parseDocument() {
    if (s_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;
    // Prolog: declaration, comments, PIs, whitespace. No DOCTYPE.
    OCPVDR_TRY(skipMisc());
    if (atEnd()) return fail("document has no root element");
    if (peek() != '<') return fail("text before the root element");
    XmlElement root;
    OCPVDR_TRY(parseElement(root, 1));
    OCPVDR_TRY(skipMisc());
    if (!atEnd()) {
      return fail(peek() == '<' ? "a second element after the root element"
                                : "text after the root element");
    }
    return root;
  }

 private:
  bool atEnd() const { return pos_ >= s_.size(); }
  char peek() const { return s_[pos_]; }
  bool startsWith(std::string_view t) const { return s_.substr(pos_, t.size()) == t; }

  Error fail(std::string what) const { return failAt(pos_, std::move(what)); }
  Error failAt(std::size_t at, std::string what) const {
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < at && i < s_.size(); ++i) {
      if (s_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return invalidError("XML line " + std::to_string(line) + ", column " + std::to_string(col) +
                        ": " + what);
  }

  void skipSpace() {
    while (!atEnd() && isSpace(peek())) ++pos_;
  }

  Status skipMisc() {
    for (;;) {
      skipSpace();
      if (startsWith("<?")) {
        OCPVDR_TRY(skipPi());
      } else if (startsWith("<!--")) {
        OCPVDR_TRY(skipComment());
      } else if (startsWith("<!")) {
        return fail("DOCTYPE and other declarations are not accepted");
      } else {
        return Status::success();
      }
    }
  }

  Status skipPi() {
    std::size_t start = pos_;
    auto end = s_.find("?>", pos_ + 2);
    if (end == std::string_view::npos) return failAt(start, "unterminated processing instruction");
    pos_ = end + 2;
    return Status::success();
  }

  Status skipComment() {
    std::size_t start = pos_;
    auto end = s_.find("-->", pos_ + 4);
    if (end == std::string_view::npos) return failAt(start, "unterminated comment");
    pos_ = end + 3;
    return Status::success();
  }

  Result<std::string> parseName() {
    std::size_t start = pos_;
    if (atEnd() || !isNameStart(static_cast<unsigned char>(peek()))) return fail("expected a name");
    while (!atEnd() && isNameChar(static_cast<unsigned char>(peek()))) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }

  // Decodes one reference starting at '&'; appends the character(s) to out.
  Status parseReference(std::string& out) {
    std::size_t start = pos_;
    auto semi = s_.find(';', pos_);
    if (semi == std::string_view::npos || semi - pos_ > 12)
      return failAt(start, "'&' not followed by an entity or character reference ending in ';'");
    std::string_view ref = s_.substr(pos_ + 1, semi - pos_ - 1);
    pos_ = semi + 1;
    if (ref == "amp")
      out += '&';
    else if (ref == "lt")
      out += '<';
    else if (ref == "gt")
      out += '>';
    else if (ref == "quot")
      out += '"';
    else if (ref == "apos")
      out += '\'';
    else if (!ref.empty() && ref[0] == '#') {
      bool hex = ref.size() > 1 && ref[1] == 'x';
      std::string_view digits = ref.substr(hex ? 2 : 1);
      std::uint32_t cp = 0;
      auto [p, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
      if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size())
        return failAt(start, "malformed character reference \"&" + std::string(ref) + ";\"");
      if (!isXmlChar(cp))
        return failAt(start, "character reference \"&" + std::string(ref) +
                                 ";\" is not a legal XML character");
      ocpvdr::appendUtf8(out, cp);
    } else {
      return failAt(start, "unknown entity \"&" + std::string(ref) + ";\"");
    }
    return Status::success();
  }

  // Character data up to the next '<'.
  Status parseText(std::string& out) {
    while (!atEnd() && peek() != '<') {
      char c = peek();
      if (c == '&') {
        OCPVDR_TRY(parseReference(out));
        continue;
      }
      auto uc = static_cast<unsigned char>(c);
      if (uc < 0x20 && !isSpace(c)) return fail("control character in text");
      out += c;
      ++pos_;
    }
    return Status::success();
  }

  Status parseAttributes(XmlElement& el, bool& selfClosing) {
    for (;;) {
      std::size_t before = pos_;
      skipSpace();
      if (atEnd()) return fail("unterminated start tag <" + el.name + ">");
      if (startsWith("/>")) {
        pos_ += 2;
        selfClosing = true;
        return Status::success();
      }
      if (peek() == '>') {
        ++pos_;
        selfClosing = false;
        return Status::success();
      }
      if (before == pos_) return fail("expected whitespace, '>' or '/>' in tag <" + el.name + ">");
      OCPVDR_ASSIGN_OR_RETURN(std::string name, parseName());
      skipSpace();
      if (atEnd() || peek() != '=') return fail("attribute \"" + name + "\" has no value");
      ++pos_;
      skipSpace();
      if (atEnd() || (peek() != '"' && peek() != '\''))
        return fail("attribute \"" + name + "\" value must be quoted");
      char quote = peek();
      ++pos_;
      std::string value;
      while (!atEnd() && peek() != quote) {
        if (peek() == '<') return fail("'<' in the value of attribute \"" + name + "\"");
        if (peek() == '&') {
          OCPVDR_TRY(parseReference(value));
          continue;
        }
        value += peek();
        ++pos_;
      }
      if (atEnd()) return fail("unterminated value of attribute \"" + name + "\"");
      ++pos_;
      for (const auto& [n, v] : el.attributes)
        if (n == name) return fail("duplicate attribute \"" + name + "\"");
      el.attributes.emplace_back(std::move(name), std::move(value));
    }
  }

  Status parseElement(XmlElement& el, std::size_t depth) {
    if (depth > limits_.maxDepth)
      return fail("elements nested deeper than " + std::to_string(limits_.maxDepth));
    if (++elements_ > limits_.maxElements)
      return fail("more than " + std::to_string(limits_.maxElements) + " elements");
    ++pos_;  // '<'
    OCPVDR_ASSIGN_OR_RETURN(std::string qname, parseName());
    el.name = localName(qname);
    bool selfClosing = false;
    OCPVDR_TRY(parseAttributes(el, selfClosing));
    if (selfClosing) return Status::success();
    for (;;) {
      OCPVDR_TRY(parseText(el.text));
      if (atEnd()) return fail("element <" + qname + "> is not closed");
      if (startsWith("</")) {
        std::size_t at = pos_;
        pos_ += 2;
        OCPVDR_ASSIGN_OR_RETURN(std::string endName, parseName());
        skipSpace();
        if (atEnd() || peek() != '>') return fail("malformed end tag </" + endName);
        ++pos_;
        if (endName != qname)
          return failAt(at, "end tag </" + endName + "> does not match <" + qname + ">");
        return Status::success();
      }
      if (startsWith("<!--")) {
        OCPVDR_TRY(skipComment());
      } else if (startsWith("<![CDATA[")) {
        std::size_t start = pos_;
        auto end = s_.find("]]>", pos_ + 9);
        if (end == std::string_view::npos) return failAt(start, "unterminated CDATA section");
        el.text.append(s_.substr(pos_ + 9, end - pos_ - 9));
        pos_ = end + 3;
      } else if (startsWith("<?")) {
        OCPVDR_TRY(skipPi());
      } else if (startsWith("<!")) {
        return fail("declaration inside an element");
      } else {
        el.children.emplace_back();
        OCPVDR_TRY(parseElement(el.children.back(), depth + 1));
      }
    }
  }

  std::string_view s_;
  XmlLimits limits_;
  std::size_t pos_ = 0;
  std::size_t elements_ = 0;
};

Result<std::int64_t> parseCount(std::string_view text, std::string_view field) {
  std::int64_t v = -1;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v < 0)
    return invalidError(std::string(field) + ": expected a non-negative integer, got \"" +
                        std::string(text.substr(0, 40)) + "\"");
  return v;
}

std::string trimmedText(std::string_view s) {
  while (!s.empty() && isSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && isSpace(s.back())) s.remove_suffix(1);
  return std::string(s);
}

Result<std::string> percentDecode(std::string_view s, std::string_view field) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      unsigned v = 0;
      if (i + 2 >= s.size()) return invalidError(std::string(field) + ": truncated %-escape");
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec != std::errc() || p != s.data() + i + 3)
        return invalidError(std::string(field) + ": malformed %-escape");
      out += static_cast<char>(v);
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

const XmlElement* XmlElement::child(std::string_view localName) const {
  for (const auto& c : children)
    if (c.name == localName) return &c;
  return nullptr;
}

std::vector<const XmlElement*> XmlElement::childrenNamed(std::string_view localName) const {
  std::vector<const XmlElement*> out;
  for (const auto& c : children)
    if (c.name == localName) out.push_back(&c);
  return out;
}

Result<XmlElement> parseXml(std::string_view document, const XmlLimits& limits) {
  return Parser(document, limits).parseDocument();
}

Result<ListObjectsPage> parseListBucketResult(std::string_view xml) {
  auto doc = parseXml(xml);
  if (!doc.ok()) return doc.error().wrap("ListObjectsV2 response");
  const XmlElement& root = *doc;
  if (root.name != "ListBucketResult")
    return invalidError("ListObjectsV2 response: expected a ListBucketResult document, got <" +
                        root.name + ">");
  ListObjectsPage page;
  bool urlEncoded = false;
  if (const auto* e = root.child("EncodingType")) {
    std::string t = trimmedText(e->text);
    if (t != "url")
      return invalidError("ListObjectsV2 response: unsupported EncodingType \"" + t + "\"");
    urlEncoded = true;
  }
  auto decode = [&](const std::string& raw, std::string_view field) -> Result<std::string> {
    if (!urlEncoded) return raw;
    return percentDecode(raw, field);
  };
  if (const auto* e = root.child("Prefix")) {
    OCPVDR_ASSIGN_OR_RETURN(page.prefix, decode(e->text, "Prefix"));
  }
  std::size_t index = 0;
  for (const XmlElement* c : root.childrenNamed("Contents")) {
    const std::string where = "ListObjectsV2 response: Contents[" + std::to_string(index++) + "]";
    const XmlElement* key = c->child("Key");
    if (!key) return invalidError(where + " has no Key");
    ObjectEntry entry;
    auto k = decode(key->text, "Key");
    if (!k.ok()) return k.error().wrap(where);
    entry.key = std::move(k).value();
    if (entry.key.empty()) return invalidError(where + " has an empty Key");
    const XmlElement* size = c->child("Size");
    if (!size) return invalidError(where + " (" + entry.key + ") has no Size");
    auto n = parseCount(trimmedText(size->text), "Size");
    if (!n.ok()) return n.error().wrap(where + " (" + entry.key + ")");
    entry.size = *n;
    if (const auto* lm = c->child("LastModified")) entry.lastModified = trimmedText(lm->text);
    if (const auto* et = c->child("ETag")) {
      std::string t = trimmedText(et->text);
      if (t.size() >= 2 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);
      entry.etag = std::move(t);
    }
    page.contents.push_back(std::move(entry));
  }
  index = 0;
  for (const XmlElement* cp : root.childrenNamed("CommonPrefixes")) {
    const std::string where =
        "ListObjectsV2 response: CommonPrefixes[" + std::to_string(index++) + "]";
    auto prefixes = cp->childrenNamed("Prefix");
    if (prefixes.empty()) return invalidError(where + " has no Prefix");
    for (const XmlElement* p : prefixes) {
      auto v = decode(p->text, "Prefix");
      if (!v.ok()) return v.error().wrap(where);
      page.commonPrefixes.push_back(std::move(v).value());
    }
  }
  if (const auto* t = root.child("IsTruncated")) {
    std::string v = trimmedText(t->text);
    if (v == "true")
      page.isTruncated = true;
    else if (v == "false")
      page.isTruncated = false;
    else
      return invalidError("ListObjectsV2 response: IsTruncated must be true or false, got \"" +
                          v.substr(0, 40) + "\"");
  }
  if (const auto* t = root.child("NextContinuationToken")) page.nextContinuationToken = t->text;
  if (page.isTruncated && page.nextContinuationToken.empty())
    return invalidError(
        "ListObjectsV2 response: IsTruncated is true but there is no NextContinuationToken");
  if (const auto* k = root.child("KeyCount")) {
    auto n = parseCount(trimmedText(k->text), "KeyCount");
    if (!n.ok()) return n.error().wrap("ListObjectsV2 response");
    page.keyCount = *n;
  }
  return page;
}

Result<S3ErrorBody> parseS3Error(std::string_view xml) {
  auto doc = parseXml(xml);
  if (!doc.ok()) return doc.error().wrap("S3 error response");
  if (doc->name != "Error")
    return invalidError("S3 error response: expected an Error document, got <" + doc->name + ">");
  S3ErrorBody e;
  const XmlElement* code = doc->child("Code");
  if (!code || trimmedText(code->text).empty())
    return invalidError("S3 error response: Error has no Code");
  e.code = trimmedText(code->text);
  if (const auto* m = doc->child("Message")) e.message = trimmedText(m->text);
  if (const auto* r = doc->child("RequestId")) e.requestId = trimmedText(r->text);
  for (const char* field : {"Resource", "Key", "BucketName"}) {
    if (const auto* r = doc->child(field)) {
      e.resource = r->text;
      break;
    }
  }
  return e;
}

}  // namespace ocpvdr::s3
