// managedFields: leaf-path field sets per manager, FieldsV1 rendering, update tracking and the
// approximate server-side apply merge with conflict detection.
#include "managed_fields.h"

#include <algorithm>

namespace kubesim {

namespace {

bool serverManagedMeta(const std::string& k) {
  return k == "name" || k == "namespace" || k == "uid" || k == "resourceVersion" ||
         k == "generation" || k == "creationTimestamp" || k == "deletionTimestamp" ||
         k == "deletionGracePeriodSeconds" || k == "managedFields" || k == "selfLink" ||
         k == "generateName";
}

// Structs marked `+structType=atomic` in k8s.io/api (core/v1/types.go: ObjectReference,
// SecretReference, NodeSelector, TypedLocalObjectReference; apimachinery's LabelSelector), at the
// places the kinds served here embed them. structured-merge-diff (typed/merge.go, schema
// ElementRelationship "atomic") treats such a struct as one value: an apply replaces it whole and
// the manager owns it as one field (FieldsV1 "f:claimRef": {}), never its members.
const std::vector<FieldPath>& atomicPaths(const std::string& kind) {
  static const std::vector<FieldPath> kNone;
  static const std::vector<FieldPath> kPv = {
      {"spec", "claimRef"},
      {"spec", "nodeAffinity", "required"},
      {"spec", "csi", "controllerPublishSecretRef"},
      {"spec", "csi", "nodeStageSecretRef"},
      {"spec", "csi", "nodePublishSecretRef"},
      {"spec", "csi", "controllerExpandSecretRef"},
      {"spec", "csi", "nodeExpandSecretRef"},
  };
  static const std::vector<FieldPath> kPvc = {{"spec", "selector"}, {"spec", "dataSource"}};
  if (kind == "PersistentVolume") return kPv;
  if (kind == "PersistentVolumeClaim") return kPvc;
  return kNone;
}

void walk(const Json& v, FieldPath& path, FieldSet& out, const std::vector<FieldPath>& atomic) {
  const bool isAtomic = std::find(atomic.begin(), atomic.end(), path) != atomic.end();
  if (v.is_object() && !v.empty() && !isAtomic) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      path.push_back(it.key());
      walk(it.value(), path, out, atomic);
      path.pop_back();
    }
  } else {
    out.insert(path);
  }
}

bool startsWith(const FieldPath& p, const FieldPath& prefix) {
  return p.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), p.begin());
}

// True when some element of `set` is q, a prefix of q, or has q as a prefix.
bool overlapsAny(const FieldPath& q, const FieldSet& set) {
  FieldPath pre;
  for (const auto& part : q) {
    pre.push_back(part);
    if (set.count(pre)) return true;
  }
  auto it = set.upper_bound(q);
  return it != set.end() && startsWith(*it, q);
}

// Config paths that overlap q (q itself, its prefixes, or paths below it).
std::vector<FieldPath> overlapping(const FieldPath& q, const FieldSet& set) {
  std::vector<FieldPath> out;
  FieldPath pre;
  for (const auto& part : q) {
    pre.push_back(part);
    if (set.count(pre)) out.push_back(pre);
  }
  for (auto it = set.upper_bound(q); it != set.end() && startsWith(*it, q); ++it)
    out.push_back(*it);
  return out;
}

bool sameValue(const Json* a, const Json* b) {
  if (!a || !b) return a == b;
  return *a == *b;
}

}  // namespace

FieldSet leafPaths(const Json& object, FieldScope scope) {
  FieldSet out;
  if (!object.is_object()) return out;
  FieldPath path;
  const auto& atomic = atomicPaths(object.value("kind", ""));
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string& k = it.key();
    if (k == "kind" || k == "apiVersion") continue;
    const bool isStatus = k == "status";
    if (scope == FieldScope::NoStatus && isStatus) continue;
    if (scope == FieldScope::StatusOnly && !isStatus) continue;
    if (k == "metadata") {
      if (!it.value().is_object()) continue;
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (serverManagedMeta(m.key())) continue;
        path = {"metadata", m.key()};
        walk(m.value(), path, out, atomic);
      }
      continue;
    }
    path = {k};
    walk(it.value(), path, out, atomic);
  }
  return out;
}

Json toFieldsV1(const FieldSet& fields) {
  Json root = Json::object();
  for (const auto& p : fields) {
    Json* node = &root;
    for (std::size_t i = 0; i < p.size(); ++i) {
      Json& child = (*node)["f:" + p[i]];
      if (!child.is_object()) child = Json::object();
      // A map below the top level that the manager has members of also owns the map itself.
      if (i >= 1 && i + 1 < p.size()) child["."] = Json::object();
      node = &child;
    }
  }
  return root;
}

namespace {

void parseFields(const Json& node, FieldPath& path, FieldSet& out) {
  bool hasChild = false;
  if (node.is_object()) {
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string& k = it.key();
      if (k.rfind("f:", 0) != 0) continue;  // ".", "k:", "v:", "i:": this node is atomic here
      hasChild = true;
      path.push_back(k.substr(2));
      parseFields(it.value(), path, out);
      path.pop_back();
    }
  }
  if (!hasChild && !path.empty()) out.insert(path);
}

}  // namespace

FieldSet fromFieldsV1(const Json& fieldsV1) {
  FieldSet out;
  FieldPath path;
  parseFields(fieldsV1, path, out);
  return out;
}

const Json* valueAt(const Json& object, const FieldPath& path) {
  const Json* cur = &object;
  for (const auto& part : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(part);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

void setAt(Json& object, const FieldPath& path, const Json& value) {
  Json* cur = &object;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (!cur->is_object()) *cur = Json::object();
    cur = &(*cur)[path[i]];
  }
  *cur = value;
}

namespace {

bool eraseRec(Json& node, const FieldPath& path, std::size_t i) {
  if (!node.is_object()) return false;
  auto it = node.find(path[i]);
  if (it == node.end()) return false;
  if (i + 1 == path.size()) {
    node.erase(it);
    return true;
  }
  bool erased = eraseRec(*it, path, i + 1);
  // Prune maps the removal left empty, but never top-level sections (spec, metadata.labels'
  // parent).
  if (erased && i >= 1 && it->is_object() && it->empty()) node.erase(it);
  return erased;
}

}  // namespace

void eraseAt(Json& object, const FieldPath& path) {
  if (!path.empty()) (void)eraseRec(object, path, 0);
}

std::string pathString(const FieldPath& path) {
  std::string s;
  for (const auto& p : path) s += "." + p;
  return s;
}

ManagedFields ManagedFields::fromObject(const Json& object) {
  ManagedFields mf;
  const Json* list = valueAt(object, {"metadata", "managedFields"});
  if (!list || !list->is_array()) return mf;
  for (const auto& e : *list) {
    if (!e.is_object() || !e.contains("manager") || !e["manager"].is_string()) continue;
    ManagerEntry m;
    m.manager = e["manager"].get<std::string>();
    m.operation = e.value("operation", "Update");
    m.apiVersion = e.value("apiVersion", "");
    m.time = e.value("time", "");
    m.subresource = e.value("subresource", "");
    if (e.contains("fieldsV1")) m.fields = fromFieldsV1(e["fieldsV1"]);
    mf.entries_.push_back(std::move(m));
  }
  return mf;
}

void ManagedFields::writeTo(Json& object) const {
  Json& md = object["metadata"];
  if (entries_.empty()) {
    if (md.is_object()) md.erase("managedFields");
    return;
  }
  Json list = Json::array();
  for (const auto& e : entries_) {
    Json j = {{"manager", e.manager},       {"operation", e.operation},
              {"apiVersion", e.apiVersion}, {"time", e.time},
              {"fieldsType", "FieldsV1"},   {"fieldsV1", toFieldsV1(e.fields)}};
    if (!e.subresource.empty()) j["subresource"] = e.subresource;
    list.push_back(std::move(j));
  }
  md["managedFields"] = std::move(list);
}

ManagerEntry* ManagedFields::find(const std::string& manager, const std::string& operation,
                                  const std::string& subresource) {
  for (auto& e : entries_) {
    if (e.manager == manager && e.operation == operation && e.subresource == subresource) return &e;
  }
  return nullptr;
}

void ManagedFields::dropEmpty() {
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [](const ManagerEntry& e) { return e.fields.empty(); }),
                 entries_.end());
}

void ManagedFields::recordUpdate(const std::string& manager, const std::string& subresource,
                                 const Json& before, const Json& after, FieldScope scope,
                                 const std::string& apiVersion, const std::string& now) {
  const FieldSet b = leafPaths(before, scope);
  const FieldSet a = leafPaths(after, scope);
  FieldSet changed, touched;
  for (const auto& p : a) {
    if (!sameValue(valueAt(before, p), valueAt(after, p))) changed.insert(p);
  }
  touched = changed;
  for (const auto& p : b) {
    if (!a.count(p)) touched.insert(p);
  }
  if (touched.empty()) return;
  for (auto& e : entries_) {
    for (auto it = e.fields.begin(); it != e.fields.end();) {
      it = overlapsAny(*it, touched) ? e.fields.erase(it) : std::next(it);
    }
  }
  if (!changed.empty()) {
    ManagerEntry* mine = find(manager, "Update", subresource);
    if (!mine) {
      entries_.push_back({manager, "Update", apiVersion, now, subresource, {}});
      mine = &entries_.back();
    }
    mine->fields.insert(changed.begin(), changed.end());
    mine->time = now;
    mine->apiVersion = apiVersion;
  }
  dropEmpty();
}

ApiStatus ManagedFields::apply(Json& live, const Json& config, const std::string& manager,
                               const std::string& subresource, FieldScope scope, bool force,
                               const std::string& apiVersion, const std::string& now) {
  const FieldSet c = leafPaths(config, scope);
  struct Conflict {
    std::size_t entry;
    FieldPath path;
  };
  std::vector<Conflict> conflicts;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const auto& e = entries_[i];
    if (e.manager == manager) continue;
    for (const auto& q : e.fields) {
      for (const auto& p : overlapping(q, c)) {
        if (!sameValue(valueAt(live, p), valueAt(config, p))) {
          conflicts.push_back({i, q});
          break;
        }
      }
    }
  }
  if (!conflicts.empty() && !force) {
    Json causes = Json::array();
    std::string list;
    for (const auto& cf : conflicts) {
      const auto& e = entries_[cf.entry];
      std::string who = "conflict with \"" + e.manager + "\"";
      if (e.operation == "Update") who += " using " + e.apiVersion;
      if (!e.subresource.empty()) who += " with subresource \"" + e.subresource + "\"";
      causes.push_back(cause("FieldManagerConflict", pathString(cf.path), who));
      if (!list.empty()) list += "; ";
      list += who + ": " + pathString(cf.path);
    }
    const std::size_t n = conflicts.size();
    return ApiError{
        409,
        "Conflict",
        "Apply failed with " + std::to_string(n) + " conflict" + (n == 1 ? "" : "s") + ": " + list,
        {{"causes", causes}}};
  }
  for (const auto& cf : conflicts) entries_[cf.entry].fields.erase(cf.path);

  const Json liveBefore = live;
  ManagerEntry* mine = find(manager, "Apply", subresource);
  const bool sameFields = mine && mine->fields == c;
  if (mine) {
    for (const auto& p : mine->fields) {
      if (overlapsAny(p, c)) continue;
      bool ownedElsewhere = false;
      for (const auto& e : entries_) {
        if (&e != mine && overlapsAny(p, e.fields)) {
          ownedElsewhere = true;
          break;
        }
      }
      if (!ownedElsewhere) eraseAt(live, p);
    }
  }
  for (const auto& p : c) setAt(live, p, *valueAt(config, p));
  if (!mine) {
    entries_.push_back({manager, "Apply", apiVersion, now, subresource, {}});
    mine = &entries_.back();
  }
  // A repeated identical apply is a no-op: keeping the old timestamp keeps the object unchanged,
  // so the store does not bump its resourceVersion.
  if (!(sameFields && live == liveBefore)) {
    mine->fields = c;
    mine->time = now;
    mine->apiVersion = apiVersion;
  }
  dropEmpty();
  return Done{};
}

}  // namespace kubesim
