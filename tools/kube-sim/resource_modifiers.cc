// Velero restore resource modifiers (see resource_modifiers.h).
#include "resource_modifiers.h"

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

#include "body_parser.h"
#include "selectors.h"

namespace kubesim {

namespace {

// yaml.UnmarshalStrict refuses fields the Go types do not have.
std::string unknownKey(const Json& obj, const std::set<std::string>& known) {
  if (!obj.is_object()) return "";
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (!known.count(it.key())) return it.key();
  return "";
}

ApiError decodeError(const std::string& why) {
  return badRequest("failed to decode yaml data into resource modifiers, err: " + why);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// json_patch.go addQuotes: which string values stand for JSON of their own.
Json patchValue(const Json& v) {
  if (!v.is_string()) return v;  // YAML already typed it (upstream would refuse; be lenient)
  std::string s = v.get<std::string>();
  if (s.empty()) return s;
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  if (s == "null") return nullptr;
  if (lower(s) == "true") return true;
  if (lower(s) == "false") return false;
  if (s.front() == '{' || s.front() == '[') {
    Json j = Json::parse(s, nullptr, false);
    return j.is_discarded() ? Json(s) : j;
  }
  try {
    std::size_t used = 0;
    double d = std::stod(s, &used);
    if (used == s.size()) {
      Json j = Json::parse(s, nullptr, false);
      return j.is_discarded() ? Json(d) : j;
    }
  } catch (const std::exception&) {
  }
  return s;
}

Json toRfc6902(const Json& p) {
  Json op = {{"op", lower(p.value("operation", ""))}, {"path", p.value("path", "")}};
  if (p.contains("from")) op["from"] = p["from"];
  if (p.contains("value")) op["value"] = patchValue(p["value"]);
  return op;
}

ApiResult<Json> patchData(const Json& entry) {
  if (auto k = unknownKey(entry, {"patchData"}); !k.empty())
    return decodeError("unknown field \"" + k + "\"");
  if (!entry.contains("patchData") || !entry["patchData"].is_string())
    return decodeError("patchData must be a string");
  auto parsed = parseBody(entry["patchData"].get<std::string>(), true);
  if (!parsed.ok()) return decodeError(parsed.error().message);
  return parsed.value();
}

// metav1.LabelSelector as kube-sim's selector text.
ApiResult<LabelSelector> selectorOf(const Json& sel) {
  std::string text;
  auto add = [&](const std::string& req) { text += (text.empty() ? "" : ",") + req; };
  if (const Json& ml = sel.contains("matchLabels") ? sel["matchLabels"] : Json(); ml.is_object())
    for (auto it = ml.begin(); it != ml.end(); ++it)
      add(it.key() + "=" + (it.value().is_string() ? it.value().get<std::string>() : ""));
  if (const Json& me = sel.contains("matchExpressions") ? sel["matchExpressions"] : Json();
      me.is_array()) {
    for (const auto& e : me) {
      const std::string key = e.value("key", ""), op = e.value("operator", "");
      std::string values;
      if (e.contains("values") && e["values"].is_array())
        for (const auto& v : e["values"])
          if (v.is_string()) values += (values.empty() ? "" : ",") + v.get<std::string>();
      if (op == "In")
        add(key + " in (" + values + ")");
      else if (op == "NotIn")
        add(key + " notin (" + values + ")");
      else if (op == "Exists")
        add(key);
      else if (op == "DoesNotExist")
        add("!" + key);
      else
        return badRequest("error in creating label selector: \"" + op +
                          "\" is not a valid label selector operator");
    }
  }
  return LabelSelector::parse(text);
}

bool namespaceIncluded(const std::vector<std::string>& includes, const std::string& ns) {
  if (includes.empty()) return true;
  for (const auto& p : includes)
    if (p == "*" || globMatch(p, ns, '\0')) return true;
  return false;
}

// A JSON pointer's value, or nullptr-with-found=false.
const Json* atPointer(const Json& obj, const std::string& pointer) {
  try {
    const Json::json_pointer p(pointer);
    return obj.contains(p) ? &obj.at(p) : nullptr;
  } catch (const Json::exception&) {
    return nullptr;
  }
}

std::string objectName(const Json& obj) {
  const Json* n = atPointer(obj, "/metadata/name");
  return n && n->is_string() ? n->get<std::string>() : "";
}

std::string objectNamespace(const Json& obj) {
  const Json* n = atPointer(obj, "/metadata/namespace");
  return n && n->is_string() ? n->get<std::string>() : "";
}

ApiResult<bool> matches(const ResourceModifierRule& r, const Json& obj,
                        const std::string& groupResource) {
  const std::string ns = objectNamespace(obj);
  if (!ns.empty() && !namespaceIncluded(r.namespaces, ns)) return false;
  if (!globMatch(r.groupResource, groupResource, '.')) return false;
  if (!r.resourceNameRegex.empty()) {
    try {
      if (!std::regex_search(objectName(obj), std::regex(r.resourceNameRegex))) return false;
    } catch (const std::regex_error& e) {
      return badRequest(std::string("error in matching regex ") + e.what());
    }
  }
  if (!r.labelSelector.is_null()) {
    auto sel = selectorOf(r.labelSelector);
    if (!sel.ok()) return sel.error();
    const Json* labels = atPointer(obj, "/metadata/labels");
    if (!sel.value().matches(labels ? *labels : Json())) return false;
  }
  if (r.matches.is_array()) {
    for (const auto& m : r.matches) {
      const std::string path = m.value("path", "");
      if (path.empty()) return badRequest("path is required for match rule");
      const Json* v = atPointer(obj, path);
      if (!v || *v != patchValue(m.contains("value") ? m["value"] : Json(""))) return false;
    }
  }
  return true;
}

}  // namespace

bool globMatch(const std::string& pattern, const std::string& s, char separator) {
  // Iterative wildcard match: '*' any run (not crossing `separator`), '?' one character.
  std::size_t p = 0, i = 0, starP = std::string::npos, starI = 0;
  while (i < s.size()) {
    if (p < pattern.size() && (pattern[p] == '?' ? s[i] != separator || separator == '\0'
                                                 : pattern[p] == s[i] && pattern[p] != '*')) {
      ++p;
      ++i;
    } else if (p < pattern.size() && pattern[p] == '*') {
      starP = p++;
      starI = i;
    } else if (starP != std::string::npos && (separator == '\0' || s[starI] != separator)) {
      p = starP + 1;
      i = ++starI;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

Json strategicMerge(const Json& target, const Json& patch) {
  if (!patch.is_object()) return patch;
  Json out = target.is_object() ? target : Json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const Json& pv = it.value();
    if (pv.is_null()) {
      out.erase(it.key());
      continue;
    }
    Json& cur = out[it.key()];
    if (pv.is_object()) {
      cur = strategicMerge(cur, pv);
    } else if (pv.is_array() && cur.is_array() && !pv.empty() &&
               std::all_of(pv.begin(), pv.end(),
                           [](const Json& e) { return e.is_object() && e.contains("name"); })) {
      // Lists keyed by "name": patch elements merge into the element of that name, or append.
      for (const auto& e : pv) {
        auto match = std::find_if(cur.begin(), cur.end(), [&](const Json& c) {
          return c.is_object() && c.value("name", Json()) == e["name"];
        });
        if (match != cur.end())
          *match = strategicMerge(*match, e);
        else
          cur.push_back(e);
      }
    } else {
      cur = pv;
    }
  }
  return out;
}

ApiResult<ResourceModifiers> ResourceModifiers::fromConfigMap(const Json& cm) {
  const std::string where = objectNamespace(cm) + "/" + objectName(cm);
  const Json* data = atPointer(cm, "/data");
  if (!data || !data->is_object() || data->size() != 1)
    return badRequest("illegal resource modifiers " + where + " configmap");
  const Json& text = data->begin().value();
  if (!text.is_string()) return badRequest("illegal resource modifiers " + where + " configmap");
  return parse(text.get<std::string>());
}

ApiResult<ResourceModifiers> ResourceModifiers::parse(const std::string& text) {
  auto doc = parseBody(text, true);
  if (!doc.ok()) return decodeError(doc.error().message);
  const Json& d = doc.value();
  if (!d.is_object()) return decodeError("the document is not a map");
  if (auto k = unknownKey(d, {"version", "resourceModifierRules"}); !k.empty())
    return decodeError("unknown field \"" + k + "\"");
  // resource_modifiers_validator.go
  const std::string version = d.value("version", "");
  if (lower(version) != "v1") return badRequest("unsupported resource modifier version " + version);
  const Json rules = d.contains("resourceModifierRules") ? d["resourceModifierRules"] : Json();
  if (!rules.is_array() || rules.empty())
    return badRequest("resource modifier rules cannot be empty");
  ResourceModifiers out;
  for (const auto& r : rules) {
    if (auto k = unknownKey(r, {"conditions", "patches", "mergePatches", "strategicPatches"});
        !k.empty())
      return decodeError("unknown field \"" + k + "\"");
    ResourceModifierRule rule;
    const Json c = r.contains("conditions") ? r["conditions"] : Json::object();
    if (auto k = unknownKey(
            c, {"groupResource", "resourceNameRegex", "namespaces", "labelSelector", "matches"});
        !k.empty())
      return decodeError("unknown field \"" + k + "\"");
    rule.groupResource = c.value("groupResource", "");
    if (rule.groupResource.empty()) return badRequest("groupkResource cannot be empty");
    rule.resourceNameRegex = c.value("resourceNameRegex", "");
    if (c.contains("namespaces") && c["namespaces"].is_array())
      for (const auto& n : c["namespaces"])
        if (n.is_string()) rule.namespaces.push_back(n.get<std::string>());
    if (c.contains("labelSelector")) rule.labelSelector = c["labelSelector"];
    if (c.contains("matches")) rule.matches = c["matches"];
    if (r.contains("patches") && r["patches"].is_array()) {
      for (const auto& p : r["patches"]) {
        if (auto k = unknownKey(p, {"operation", "path", "value", "from"}); !k.empty())
          return decodeError("unknown field \"" + k + "\"");
        const std::string op = lower(p.value("operation", ""));
        if (op.empty()) return badRequest("operation cannot be empty");
        static const std::set<std::string> ops = {"add",  "remove", "replace",
                                                  "test", "move",   "copy"};
        if (!ops.count(op)) return badRequest("unsupported operation " + p.value("operation", ""));
        if (p.value("path", "").empty()) return badRequest("path cannot be empty");
        rule.patches.push_back(toRfc6902(p));
      }
    }
    for (const char* kind : {"mergePatches", "strategicPatches"}) {
      if (!r.contains(kind) || !r[kind].is_array()) continue;
      for (const auto& e : r[kind]) {
        auto data = patchData(e);
        if (!data.ok()) return data.error();
        (std::string(kind) == "mergePatches" ? rule.mergePatches : rule.strategicPatches)
            .push_back(data.value());
      }
    }
    out.rules_.push_back(std::move(rule));
  }
  return out;
}

std::vector<std::string> ResourceModifiers::apply(Json& obj, const std::string& groupResource,
                                                  bool custom) const {
  std::vector<std::string> errs;
  const Json origin = obj;  // conditions see the object as it came from the plugins
  for (const auto& r : rules_) {
    auto m = matches(r, origin, groupResource);
    if (!m.ok()) {
      errs.push_back(m.error().message);
      continue;
    }
    if (!m.value()) continue;
    try {
      if (!r.patches.empty()) {
        Json patched;
        try {
          patched = obj.patch(r.patches);
        } catch (const Json::other_error& e) {
          // A failed "test" (nlohmann: other_error 501): the object stays as it is.
          if (e.id == 501) continue;
          throw;
        }
        obj = std::move(patched);
      } else if (!r.mergePatches.empty()) {
        for (const auto& p : r.mergePatches) obj.merge_patch(p);
      } else if (!r.strategicPatches.empty()) {
        if (custom) {
          errs.push_back("error in applying patch no kind \"" + obj.value("kind", "") +
                         "\" is registered for version \"" + obj.value("apiVersion", "") +
                         "\" in scheme");
          continue;
        }
        for (const auto& p : r.strategicPatches) obj = strategicMerge(obj, p);
      } else {
        errs.push_back("error in applying patch no patch data found");
      }
    } catch (const Json::exception& e) {
      errs.push_back(std::string("error in applying patch error in applying JSON Patch ") +
                     e.what());
    }
  }
  return errs;
}

}  // namespace kubesim
