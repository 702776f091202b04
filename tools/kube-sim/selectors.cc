// Label selector (labels.Parse grammar) and metadata field selector parsing and matching.
#include "selectors.h"

#include <cctype>
#include <cstdlib>

namespace kubesim {

namespace {

// A tiny lexer over the selector text; positions are for error messages.
class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}
  void skipSpace() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool atEnd() {
    skipSpace();
    return pos_ >= s_.size();
  }
  char peek() {
    skipSpace();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  bool consume(std::string_view tok) {
    skipSpace();
    if (s_.substr(pos_, tok.size()) == tok) {
      pos_ += tok.size();
      return true;
    }
    return false;
  }
  // Identifier or value: letters, digits, '-', '_', '.', '/'.
  std::string word() {
    skipSpace();
    std::size_t start = pos_;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == '/')
        ++pos_;
      else
        break;
    }
    return std::string(s_.substr(start, pos_ - start));
  }
  // Keyword check that does not swallow a longer identifier ("in" vs "inner").
  bool keyword(std::string_view kw) {
    skipSpace();
    if (s_.substr(pos_, kw.size()) != kw) return false;
    std::size_t after = pos_ + kw.size();
    if (after < s_.size()) {
      char c = s_[after];
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == '/')
        return false;
    }
    pos_ = after;
    return true;
  }
  std::size_t pos() const { return pos_; }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

bool validLabelKey(const std::string& k) {
  if (k.empty() || k.size() > 316) return false;
  auto slash = k.find('/');
  std::string name = slash == std::string::npos ? k : k.substr(slash + 1);
  if (name.empty() || name.size() > 63) return false;
  return std::isalnum(static_cast<unsigned char>(name.front())) &&
         std::isalnum(static_cast<unsigned char>(name.back()));
}

bool isInteger(const std::string& s, long long* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (!end || *end != '\0') return false;
  *out = v;
  return true;
}

std::string found(char c, const char* expected) {
  std::string s = "found '";
  s.push_back(c);
  s.append("', expected: ");
  s.append(expected);
  return s;
}

ApiError selectorError(std::string_view text, const std::string& why) {
  return badRequest("unable to parse requirement: " + why + " in label selector \"" +
                    std::string(text) + "\"");
}

}  // namespace

ApiResult<LabelSelector> LabelSelector::parse(std::string_view text) {
  LabelSelector sel;
  Lexer lx(text);
  if (lx.atEnd()) return sel;
  while (true) {
    Requirement r;
    bool negated = lx.consume("!");
    r.key = lx.word();
    if (!validLabelKey(r.key)) {
      return selectorError(text, "invalid label key \"" + r.key + "\"");
    }
    if (negated) {
      r.op = Op::NotExists;
    } else if (lx.atEnd() || lx.peek() == ',') {
      r.op = Op::Exists;
    } else if (lx.consume("==") || lx.consume("=")) {
      r.op = Op::Equals;
      r.values.push_back(lx.word());
    } else if (lx.consume("!=")) {
      r.op = Op::NotEquals;
      r.values.push_back(lx.word());
    } else if (bool gt = lx.consume(">"); gt || lx.consume("<")) {
      r.op = gt ? Op::Gt : Op::Lt;
      std::string v = lx.word();
      long long n = 0;
      if (!isInteger(v, &n)) {
        return selectorError(text, "for 'Gt', 'Lt' operators, the value must be an integer");
      }
      r.values.push_back(v);
    } else if (bool notIn = lx.keyword("notin"); notIn || lx.keyword("in")) {
      r.op = notIn ? Op::NotIn : Op::In;
      if (!lx.consume("(")) return selectorError(text, "found '" + lx.word() + "', expected: '('");
      while (true) {
        std::string v = lx.word();
        r.values.push_back(v);
        if (lx.consume(",")) continue;
        if (lx.consume(")")) break;
        return selectorError(text, "expected ',' or ')' in value set");
      }
    } else {
      return selectorError(text, found(lx.peek(), "in, notin, =, ==, !=, gt, lt"));
    }
    sel.reqs_.push_back(std::move(r));
    if (lx.atEnd()) break;
    if (!lx.consume(",")) {
      return selectorError(text, found(lx.peek(), "','"));
    }
  }
  return sel;
}

bool LabelSelector::matches(const Json& labels) const {
  for (const auto& r : reqs_) {
    const Json* v = nullptr;
    if (labels.is_object()) {
      auto it = labels.find(r.key);
      if (it != labels.end() && it->is_string()) v = &*it;
    }
    const std::string value = v ? v->get<std::string>() : std::string();
    switch (r.op) {
      case Op::Exists:
        if (!v) return false;
        break;
      case Op::NotExists:
        if (v) return false;
        break;
      case Op::Equals:
        if (!v || value != r.values[0]) return false;
        break;
      case Op::NotEquals:
        if (v && value == r.values[0]) return false;
        break;
      case Op::In: {
        if (!v) return false;
        bool found = false;
        for (const auto& c : r.values) found = found || c == value;
        if (!found) return false;
        break;
      }
      case Op::NotIn: {
        if (!v) break;
        for (const auto& c : r.values)
          if (c == value) return false;
        break;
      }
      case Op::Gt:
      case Op::Lt: {
        long long have = 0, want = 0;
        if (!v || !isInteger(value, &have) || !isInteger(r.values[0], &want)) return false;
        if (r.op == Op::Gt ? !(have > want) : !(have < want)) return false;
        break;
      }
    }
  }
  return true;
}

ApiResult<FieldSelector> FieldSelector::parse(std::string_view text) {
  FieldSelector sel;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    std::string_view term = text.substr(
        start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    // Trim spaces.
    while (!term.empty() && std::isspace(static_cast<unsigned char>(term.front())))
      term.remove_prefix(1);
    while (!term.empty() && std::isspace(static_cast<unsigned char>(term.back())))
      term.remove_suffix(1);
    if (term.empty()) {
      if (text.empty()) break;
      continue;
    }
    Term t;
    std::size_t op = term.find("!=");
    std::size_t opLen = 2;
    if (op != std::string_view::npos) {
      t.equals = false;
    } else if ((op = term.find("==")) != std::string_view::npos) {
      opLen = 2;
    } else if ((op = term.find('=')) != std::string_view::npos) {
      opLen = 1;
    } else {
      return badRequest("invalid selector: '" + std::string(text) + "'; can't understand '" +
                        std::string(term) + "'");
    }
    t.field = std::string(term.substr(0, op));
    t.value = std::string(term.substr(op + opLen));
    while (!t.field.empty() && std::isspace(static_cast<unsigned char>(t.field.back())))
      t.field.pop_back();
    if (t.field != "metadata.name" && t.field != "metadata.namespace") {
      return badRequest("field label not supported: " + t.field);
    }
    sel.terms_.push_back(std::move(t));
  }
  return sel;
}

bool FieldSelector::matches(const std::string& ns, const std::string& name) const {
  for (const auto& t : terms_) {
    const std::string& have = t.field == "metadata.name" ? name : ns;
    if ((have == t.value) != t.equals) return false;
  }
  return true;
}

const std::string* FieldSelector::pinnedName() const {
  for (const auto& t : terms_) {
    if (t.field == "metadata.name" && t.equals) return &t.value;
  }
  return nullptr;
}

namespace {

const std::string& stringField(const Json& md, const char* key) {
  static const std::string kEmpty;
  auto it = md.find(key);
  return it != md.end() && it->is_string() ? it->get_ref<const std::string&>() : kEmpty;
}

}  // namespace

bool ObjectFilter::matches(const Json& object) const {
  auto mit = object.find("metadata");
  if (mit == object.end() || !mit->is_object()) return false;
  const Json& md = *mit;
  const std::string& objNs = stringField(md, "namespace");
  if (!ns.empty() && objNs != ns) return false;
  if (!fields.empty() && !fields.matches(objNs, stringField(md, "name"))) return false;
  if (!labels.empty()) {
    auto it = md.find("labels");
    if (!labels.matches(it == md.end() ? Json() : *it)) return false;
  }
  return true;
}

}  // namespace kubesim
