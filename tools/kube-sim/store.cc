// Store: CRUD with the API server's semantics, the commit path, history, lists and watches.
#include "store.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "admission.h"
#include "cdi_controller.h"
#include "core/time.h"
#include "managed_fields.h"

namespace kubesim {

namespace {

std::string keyOf(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

const std::string& strField(const Json& o, const char* key) {
  static const std::string kEmpty;
  if (!o.is_object()) return kEmpty;
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get_ref<const std::string&>() : kEmpty;
}

bool hasFinalizers(const Json& object) {
  const Json& md = object["metadata"];
  auto it = md.find("finalizers");
  return it != md.end() && it->is_array() && !it->empty();
}

bool isDeleting(const Json& object) {
  const Json& md = object["metadata"];
  auto it = md.find("deletionTimestamp");
  return it != md.end() && !it->is_null();
}

FieldScope scopeFor(const ResourceType& type, const std::string& subresource) {
  if (subresource == "status") return FieldScope::StatusOnly;
  return type.statusSubresource ? FieldScope::NoStatus : FieldScope::All;
}

// Generation moves when anything but metadata (and status, when it is a subresource) changes.
bool specChanged(const ResourceType& type, const Json& a, const Json& b) {
  auto relevant = [&](const std::string& k) {
    return k != "metadata" && !(type.statusSubresource && k == "status");
  };
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (!relevant(it.key())) continue;
    auto jt = b.find(it.key());
    if (jt == b.end() || *jt != *it) return true;
  }
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (relevant(it.key()) && !a.contains(it.key())) return true;
  }
  return false;
}

std::optional<std::uint64_t> parseRv(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

std::string base64Encode(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string base64UrlEncode(const std::string& in) {
  std::string out = base64Encode(in);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::optional<std::string> base64UrlDecode(std::string in) {
  for (char& c : in) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '='))
      return std::nullopt;
  }
  std::size_t pad = 0;
  while (in.size() % 4 != 0) {
    in.push_back('=');
    ++pad;
  }
  if (pad == 3) return std::nullopt;
  std::string out(in.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  std::size_t trailing = 0;
  for (auto it = in.rbegin(); it != in.rend() && *it == '='; ++it) ++trailing;
  out.resize(static_cast<std::size_t>(n) - trailing);
  return out;
}

// Continue tokens look like the real server's: base64url of {"v","rv","start"}.
std::string encodeContinue(std::uint64_t rv, const std::string& startKey) {
  Json t = {{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", startKey + std::string(1, '\0')}};
  return base64UrlEncode(t.dump());
}

const char* kContinueExpired =
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this response "
    "to retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the "
    "first chunk was returned and now may show up in the list.";

std::optional<ApiError> checkTypeMeta(const ResourceType& type, const Json& body, bool required) {
  const Json* av = body.contains("apiVersion") ? &body["apiVersion"] : nullptr;
  const Json* k = body.contains("kind") ? &body["kind"] : nullptr;
  if (required && (!av || !av->is_string() || av->get_ref<const std::string&>().empty())) {
    return badRequest("apiVersion must be set");
  }
  if (required && (!k || !k->is_string() || k->get_ref<const std::string&>().empty())) {
    return badRequest("kind must be set");
  }
  if (av && !av->is_null() && (!av->is_string() || *av != type.apiVersion())) {
    return badRequest("the API version in the data (" +
                      (av->is_string() ? av->get<std::string>() : av->dump()) +
                      ") does not match the expected API version (" + type.apiVersion() + ")");
  }
  if (k && !k->is_null() && (!k->is_string() || *k != type.kind)) {
    return badRequest("the kind in the data (" +
                      (k->is_string() ? k->get<std::string>() : k->dump()) +
                      ") does not match the expected kind (" + type.kind + ")");
  }
  return std::nullopt;
}

}  // namespace

Store::Store(const ocpvdr::Clock& clock, StoreOptions options, ResourceTable table)
    : clock_(clock),
      options_(options),
      table_(std::move(table)),
      namespaces_(table_.find("", "v1", "namespaces")),
      objects_(table_.all().size()),
      watchers_(table_.all().size()),
      rng_(std::random_device{}()) {
  std::lock_guard lock(mu_);
  if (options_.compactionInterval.count() > 0) {
    nextCompaction_ = clock_.monotonic() + options_.compactionInterval;
  }
  if (options_.defaultNamespaces) createDefaultNamespacesLocked();
}

Store::~Store() {
  std::lock_guard lock(mu_);
  closeWatchesLocked();
}

std::uint64_t Store::resourceVersion() const {
  std::lock_guard lock(mu_);
  return rv_;
}

std::string Store::now() const {
  return ocpvdr::formatTime(clock_.now());
}

std::string Store::newUid() {
  std::uint64_t a = rng_(), b = rng_();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  char buf[40];
  std::snprintf(
      buf, sizeof buf, "%08llx-%04llx-%04llx-%04llx-%012llx",
      static_cast<unsigned long long>(a >> 32), static_cast<unsigned long long>((a >> 16) & 0xffff),
      static_cast<unsigned long long>(a & 0xffff), static_cast<unsigned long long>(b >> 48),
      static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

ObjectPtr Store::findLocked(const ResourceType& type, const std::string& ns,
                            const std::string& name) const {
  const auto& m = objects_[static_cast<std::size_t>(type.index)];
  auto it = m.find(keyOf(type.namespaced ? ns : std::string(), name));
  return it == m.end() ? nullptr : it->second;
}

// ---------------------------------------------------------------------------------------------
// Reads

ApiResult<ObjectPtr> Store::get(const ResourceType& type, const std::string& ns,
                                const std::string& name) const {
  std::lock_guard lock(mu_);
  auto obj = findLocked(type, ns, name);
  if (!obj) return notFound(type, name);
  return obj;
}

ApiResult<ListPage> Store::list(const ResourceType& type, const ListRequest& req) const {
  std::lock_guard lock(mu_);
  return listLocked(type, req);
}

ApiResult<ListPage> Store::listLocked(const ResourceType& type, const ListRequest& req) const {
  std::uint64_t snapshot = rv_;
  std::string startKey;
  if (req.limit < 0) return badRequest("limit must not be negative");
  if (!req.continueToken.empty()) {
    auto raw = base64UrlDecode(req.continueToken);
    Json tok = raw ? Json::parse(*raw, nullptr, false) : Json();
    if (!tok.is_object() || !tok.contains("rv") || !tok["rv"].is_number_unsigned() ||
        !tok.contains("start") || !tok["start"].is_string()) {
      return badRequest("continue key is not valid: the token is not a kube-sim continue token");
    }
    snapshot = tok["rv"].get<std::uint64_t>();
    startKey = tok["start"].get<std::string>();
    if (snapshot < compactedRv_) return expired(kContinueExpired);
    if (snapshot > rv_)
      return badRequest("continue key is not valid: resourceVersion from the future");
  } else if (!req.resourceVersion.empty() && req.resourceVersion != "0") {
    auto n = parseRv(req.resourceVersion);
    if (!n) return badRequest("invalid resource version \"" + req.resourceVersion + "\"");
    const bool exact =
        req.resourceVersionMatch == "Exact" || (req.resourceVersionMatch.empty() && req.limit > 0);
    if (!req.resourceVersionMatch.empty() && req.resourceVersionMatch != "Exact" &&
        req.resourceVersionMatch != "NotOlderThan") {
      return badRequest("resourceVersionMatch: Unsupported value: \"" + req.resourceVersionMatch +
                        "\": supported values: \"Exact\", \"NotOlderThan\"");
    }
    if (*n > rv_) {
      return timeoutError("Too large resource version: " + std::to_string(*n) +
                          ", current: " + std::to_string(rv_));
    }
    if (exact) {
      if (*n < compactedRv_)
        return expired("The resourceVersion for the provided list is too old.");
      snapshot = *n;
    }
  } else if (req.resourceVersionMatch == "Exact") {
    return badRequest(
        "resourceVersionMatch: Forbidden: resourceVersionMatch \"Exact\" is "
        "forbidden for resourceVersion \"" +
        req.resourceVersion + "\"");
  }

  const ObjectMap& current = objects_[static_cast<std::size_t>(type.index)];
  const ObjectMap* source = &current;
  ObjectMap rebuilt;
  if (snapshot < rv_) {
    // Undo this type's later events, newest first, to see the collection as it was at `snapshot`.
    bool touched = false;
    for (auto it = history_.rbegin(); it != history_.rend() && (*it)->resourceVersion > snapshot;
         ++it) {
      if ((*it)->type != &type) continue;
      if (!touched) {
        rebuilt = current;
        touched = true;
      }
      const Event& ev = **it;
      const auto& ref = ev.previous ? *ev.previous : *ev.object;
      const std::string key = keyOf(ref.ns, ref.name);
      if (ev.previous) {
        rebuilt[key] = ev.previous;
      } else {
        rebuilt.erase(key);
      }
    }
    if (touched) source = &rebuilt;
  }

  const ObjectFilter& f = req.filter;
  std::string lo, hi;
  if (type.namespaced && !f.ns.empty()) {
    lo = f.ns + "/";
    hi = f.ns + "0";  // '0' follows '/': the end of this namespace's key range
  }
  if (!startKey.empty() && startKey > lo) lo = startKey;
  const bool selectors = !f.labels.empty() || !f.fields.empty();
  ListPage page;
  page.resourceVersion = snapshot;
  auto it = lo.empty() ? source->begin() : source->lower_bound(lo);
  auto end = hi.empty() ? source->end() : source->lower_bound(hi);
  for (; it != end; ++it) {
    if (selectors && !f.matches(it->second->object)) continue;
    if (req.limit > 0 && static_cast<std::int64_t>(page.items.size()) == req.limit) break;
    page.items.push_back(it->second);
  }
  if (it != end) {
    // Only promise a next page when one more item would match.
    auto more = it;
    if (selectors) {
      while (more != end && !f.matches(more->second->object)) ++more;
    }
    if (more != end) {
      const auto& last = *page.items.back();
      page.continueToken =
          encodeContinue(snapshot, keyOf(type.namespaced ? last.ns : "", last.name));
      if (!selectors) page.remainingItemCount = std::distance(more, end);
    }
  }
  return page;
}

// ---------------------------------------------------------------------------------------------
// Writes

ApiResult<WriteResult> Store::create(const ResourceType& type, const std::string& ns, Json body,
                                     const WriteOptions& opts) {
  std::lock_guard lock(mu_);
  return createLocked(type, ns, std::move(body), opts, nullptr);
}

ApiResult<WriteResult> Store::createLocked(const ResourceType& type, const std::string& urlNs,
                                           Json body, const WriteOptions& opts,
                                           const ManagedFields* applied) {
  if (!body.is_object()) return badRequest("the body of the request must be a JSON object");
  if (auto e = checkTypeMeta(type, body, false)) return *e;
  if (!body.contains("metadata") || body["metadata"].is_null()) body["metadata"] = Json::object();
  Json& md = body["metadata"];
  if (!md.is_object()) return badRequest("metadata must be an object");

  std::string ns;
  if (type.namespaced) {
    const std::string bodyNs = strField(md, "namespace");
    if (!bodyNs.empty() && !urlNs.empty() && bodyNs != urlNs) {
      return badRequest(
          "the namespace of the provided object does not match the namespace sent on the request");
    }
    ns = urlNs.empty() ? bodyNs : urlNs;
    if (ns.empty()) {
      return invalid(
          type, strField(md, "name"),
          Json::array({cause("FieldValueRequired", "metadata.namespace", "Required value")}));
    }
    md["namespace"] = ns;
  } else {
    md.erase("namespace");
  }

  std::string name = strField(md, "name");
  if (name.empty()) {
    const std::string prefix = strField(md, "generateName");
    if (prefix.empty()) {
      return invalid(type, "",
                     Json::array({cause("FieldValueRequired", "metadata.name",
                                        "Required value: name or generateName is required")}));
    }
    static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    for (int attempt = 0; attempt < 16; ++attempt) {
      name = prefix;
      for (int i = 0; i < 5; ++i) name += kAlphabet[rng_() % (sizeof kAlphabet - 1)];
      if (!findLocked(type, ns, name)) break;
    }
    md["name"] = name;
  }
  if (!strField(md, "resourceVersion").empty()) {
    // What the etcd3 storage layer answers (a plain error, hence 500).
    return internalError("resourceVersion should not be set on objects to be created");
  }
  if (type.namespaced) {
    auto nsObj = findLocked(*namespaces_, "", ns);
    if (!nsObj) return namespaceNotFound(ns);
    if (isDeleting(nsObj->object)) {
      return forbidden(type.groupResource() + " \"" + name +
                           "\" is forbidden: unable to create new "
                           "content in namespace " +
                           ns + " because it is being terminated",
                       {{"name", name}, {"kind", type.plural}});
    }
  }
  if (findLocked(type, ns, name)) return alreadyExists(type, name);

  for (const char* k : {"uid", "resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                        "managedFields", "selfLink", "generation", "creationTimestamp"}) {
    md.erase(k);
  }
  const std::string ts = now();
  md["uid"] = newUid();
  md["creationTimestamp"] = ts;
  if (type.custom) md["generation"] = 1;
  if (type.statusSubresource) body.erase("status");  // status is not settable on create
  body["apiVersion"] = type.apiVersion();
  body["kind"] = type.kind;
  if (auto e = validateObject(type, body, nullptr)) return *e;
  if (type.group == "cdi.kubevirt.io" && type.plural == "datavolumes") {
    // CDI's validating webhook: it looks at the claim of the same name (cdi_controller.h).
    const ResourceType* pvcs = table_.find("", "v1", "persistentvolumeclaims");
    auto pvc = pvcs ? findLocked(*pvcs, ns, name) : nullptr;
    if (auto e = admitDataVolumeCreate(body, pvc ? &pvc->object : nullptr)) return *e;
  }
  if (applied) {
    applied->writeTo(body);
  } else {
    ManagedFields mf;
    mf.recordUpdate(opts.fieldManager, "", Json::object(), body, scopeFor(type, ""),
                    type.apiVersion(), ts);
    mf.writeTo(body);
  }
  applyCreateDefaults(type, body, ts);
  if (opts.dryRun) return WriteResult{StoredObject::make(std::move(body)), true};
  return WriteResult{commitLocked(type, std::move(body), EventType::Added, nullptr), true};
}

ApiResult<WriteResult> Store::update(const ResourceType& type, const std::string& ns,
                                     const std::string& name, Json body, const WriteOptions& opts) {
  std::lock_guard lock(mu_);
  auto cur = findLocked(type, ns, name);
  if (!cur) return notFound(type, name);
  if (!body.is_object()) return badRequest("the body of the request must be a JSON object");
  if (auto e = checkTypeMeta(type, body, false)) return *e;
  return finishUpdateLocked(type, cur, std::move(body), opts, nullptr);
}

ApiResult<WriteResult> Store::modify(const ResourceType& type, const std::string& ns,
                                     const std::string& name,
                                     const std::function<void(Json&)>& edit,
                                     const WriteOptions& opts) {
  std::lock_guard lock(mu_);
  auto cur = findLocked(type, ns, name);
  if (!cur) return notFound(type, name);
  Json candidate = cur->object;
  edit(candidate);
  if (!candidate.is_object()) return badRequest("the edited object is not a JSON object");
  if (candidate.contains("metadata") && candidate["metadata"].is_object()) {
    candidate["metadata"].erase("resourceVersion");  // read-modify-write under the lock
  }
  return finishUpdateLocked(type, cur, std::move(candidate), opts, nullptr);
}

ApiResult<WriteResult> Store::finishUpdateLocked(const ResourceType& type, const ObjectPtr& current,
                                                 Json candidate, const WriteOptions& opts,
                                                 const ManagedFields* applied) {
  const Json& old = current->object;
  const Json& oldMd = old["metadata"];
  if (!candidate.contains("metadata") || candidate["metadata"].is_null()) {
    candidate["metadata"] = Json::object();
  }
  Json& cmd = candidate["metadata"];
  if (!cmd.is_object()) return badRequest("metadata must be an object");
  const std::string& wantRv = strField(cmd, "resourceVersion");
  if (!wantRv.empty() && wantRv != strField(oldMd, "resourceVersion")) {
    return modifiedConflict(type, current->name);
  }
  if (const std::string& n = strField(cmd, "name"); !n.empty() && n != current->name) {
    return badRequest("the name of the object (" + n + ") does not match the name on the URL (" +
                      current->name + ")");
  }
  if (const std::string& n = strField(cmd, "namespace");
      type.namespaced && !n.empty() && n != current->ns) {
    return badRequest(
        "the namespace of the provided object does not match the namespace sent on the request");
  }

  Json result;
  if (opts.subresource == "status") {
    result = old;
    if (candidate.contains("status")) {
      result["status"] = std::move(candidate["status"]);
    } else {
      result.erase("status");
    }
  } else {
    result = std::move(candidate);
    if (type.statusSubresource) {
      if (old.contains("status")) {
        result["status"] = old["status"];
      } else {
        result.erase("status");
      }
    }
    Json& rmd = result["metadata"];
    for (const char* k : {"name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation", "managedFields"}) {
      if (auto it = oldMd.find(k); it != oldMd.end()) {
        rmd[k] = *it;
      } else {
        rmd.erase(k);
      }
    }
    rmd.erase("selfLink");
  }
  result["apiVersion"] = type.apiVersion();
  result["kind"] = type.kind;
  result["metadata"]["resourceVersion"] = oldMd["resourceVersion"];
  if (auto e = validateObject(type, result, &old)) return *e;

  if (applied) {
    applied->writeTo(result);
  } else {
    auto mf = ManagedFields::fromObject(old);
    mf.recordUpdate(opts.fieldManager, opts.subresource, old, result,
                    scopeFor(type, opts.subresource), type.apiVersion(), now());
    mf.writeTo(result);
  }
  if (type.custom && specChanged(type, old, result)) {
    result["metadata"]["generation"] = oldMd.value("generation", std::int64_t{0}) + 1;
  }
  if (result == old) return WriteResult{current, false};
  if (opts.dryRun) return WriteResult{StoredObject::make(std::move(result)), false};

  // Clearing the last finalizer of an object being deleted completes the deletion: one DELETED
  // event, as the real server emits (no MODIFIED in between).
  if (isDeleting(result) && !hasFinalizers(result) &&
      (&type != namespaces_ || namespaceEmptyLocked(current->name))) {
    return WriteResult{commitDeleteLocked(type, current, &result), false};
  }
  return WriteResult{commitLocked(type, std::move(result), EventType::Modified, current), false};
}

ApiResult<WriteResult> Store::patch(const ResourceType& type, const std::string& ns,
                                    const std::string& name, PatchType patchType, const Json& patch,
                                    const PatchOptions& opts) {
  std::lock_guard lock(mu_);
  if (patchType == PatchType::Apply) return applyLocked(type, ns, name, patch, opts);
  if (opts.force) {
    return invalid(type, name,
                   Json::array({cause("FieldValueForbidden", "force",
                                      "Forbidden: may not be specified for non-apply patch")}));
  }
  auto cur = findLocked(type, ns, name);
  if (!cur) return notFound(type, name);
  Json candidate = cur->object;
  if (patchType == PatchType::Merge) {
    if (!patch.is_object()) {
      return badRequest("error decoding patch: a merge patch must be a JSON object");
    }
    candidate.merge_patch(patch);
  } else {
    if (!patch.is_array()) return badRequest("error decoding patch: a JSON patch must be an array");
    try {
      candidate = candidate.patch(patch);
    } catch (const Json::exception& e) {
      return ApiError{
          422,
          "Invalid",
          std::string("the patch could not be applied: ") + e.what(),
          {{"causes",
            Json::array({{{"reason", "UnexpectedServerResponse"}, {"message", e.what()}}})}}};
    }
  }
  if (!candidate.is_object()) {
    return ApiError{422, "Invalid", "the patch produced something other than an object", nullptr};
  }
  if (auto e = checkTypeMeta(type, candidate, false)) return *e;
  return finishUpdateLocked(type, cur, std::move(candidate), opts.write, nullptr);
}

ApiResult<WriteResult> Store::applyLocked(const ResourceType& type, const std::string& ns,
                                          const std::string& name, const Json& config,
                                          const PatchOptions& opts) {
  if (opts.write.fieldManager.empty()) {
    return invalid(type, name,
                   Json::array({cause("FieldValueRequired", "fieldManager",
                                      "Required value: is required for apply patch")}));
  }
  if (!config.is_object()) return badRequest("the apply configuration must be an object");
  if (auto e = checkTypeMeta(type, config, true)) return *e;
  if (config.contains("metadata") && !config["metadata"].is_object()) {
    return badRequest("metadata must be an object");
  }
  const Json md = config.value("metadata", Json::object());
  if (const std::string& n = strField(md, "name"); !n.empty() && n != name) {
    return badRequest("the name of the object (" + n + ") does not match the name on the URL (" +
                      name + ")");
  }
  const FieldScope scope = scopeFor(type, opts.write.subresource);
  auto cur = findLocked(type, ns, name);
  if (!cur) {
    if (opts.write.subresource == "status") return notFound(type, name);
    Json live = Json::object();
    ManagedFields mf;
    auto st = mf.apply(live, config, opts.write.fieldManager, "", scope, opts.force,
                       type.apiVersion(), now());
    if (!st.ok()) return st.error();
    live["metadata"]["name"] = name;
    if (type.namespaced) live["metadata"]["namespace"] = ns;
    return createLocked(type, ns, std::move(live), opts.write, &mf);
  }
  Json live = cur->object;
  auto mf = ManagedFields::fromObject(live);
  auto st = mf.apply(live, config, opts.write.fieldManager, opts.write.subresource, scope,
                     opts.force, type.apiVersion(), now());
  if (!st.ok()) return st.error();
  return finishUpdateLocked(type, cur, std::move(live), opts.write, &mf);
}

ApiResult<WriteResult> Store::remove(const ResourceType& type, const std::string& ns,
                                     const std::string& name, const DeleteOptions& opts) {
  std::lock_guard lock(mu_);
  auto cur = findLocked(type, ns, name);
  if (!cur) return notFound(type, name);
  const Json& md = cur->object["metadata"];
  if (!opts.preconditionUid.empty() && opts.preconditionUid != strField(md, "uid")) {
    return conflict(type, name,
                    "Precondition failed: UID in precondition: " + opts.preconditionUid +
                        ", UID in object meta: " + strField(md, "uid"));
  }
  if (!opts.preconditionResourceVersion.empty() &&
      opts.preconditionResourceVersion != strField(md, "resourceVersion")) {
    return conflict(type, name,
                    "Precondition failed: ResourceVersion in precondition: " +
                        opts.preconditionResourceVersion +
                        ", ResourceVersion in object meta: " + strField(md, "resourceVersion"));
  }
  if (!opts.propagationPolicy.empty() && opts.propagationPolicy != "Orphan" &&
      opts.propagationPolicy != "Background" && opts.propagationPolicy != "Foreground") {
    return badRequest("propagationPolicy: Unsupported value: \"" + opts.propagationPolicy +
                      "\": supported values: \"Foreground\", \"Background\", \"Orphan\"");
  }
  if (&type == namespaces_) return removeNamespaceLocked(cur, opts.dryRun);
  return removeLocked(type, cur, opts.dryRun);
}

ApiResult<WriteResult> Store::removeLocked(const ResourceType& type, const ObjectPtr& current,
                                           bool dryRun) {
  if (hasFinalizers(current->object)) {
    if (isDeleting(current->object)) return WriteResult{current, false};
    Json o = current->object;
    o["metadata"]["deletionTimestamp"] = now();
    o["metadata"]["deletionGracePeriodSeconds"] = 0;
    if (o["metadata"].contains("generation")) {
      o["metadata"]["generation"] = o["metadata"]["generation"].get<std::int64_t>() + 1;
    }
    if (dryRun) return WriteResult{StoredObject::make(std::move(o)), false};
    return WriteResult{commitLocked(type, std::move(o), EventType::Modified, current), false};
  }
  if (dryRun) return WriteResult{current, false};
  (void)commitDeleteLocked(type, current);
  // The response carries the object as it was last stored, like the etcd3 storage layer.
  return WriteResult{current, false};
}

ApiResult<WriteResult> Store::removeNamespaceLocked(const ObjectPtr& current, bool dryRun) {
  const std::string ns = current->name;
  ObjectPtr terminating = current;
  if (!isDeleting(current->object)) {
    Json o = current->object;
    o["metadata"]["deletionTimestamp"] = now();
    o["metadata"]["deletionGracePeriodSeconds"] = 0;
    o["status"]["phase"] = "Terminating";
    if (dryRun) return WriteResult{StoredObject::make(std::move(o)), false};
    terminating = commitLocked(*namespaces_, std::move(o), EventType::Modified, current);
  } else if (dryRun) {
    return WriteResult{current, false};
  }
  // The namespace controller's work, done at once: delete everything inside (objects with
  // finalizers stay Terminating until their finalizers are removed).
  for (const auto& type : table_.all()) {
    if (!type.namespaced) continue;
    auto& m = objects_[static_cast<std::size_t>(type.index)];
    std::vector<ObjectPtr> inside;
    for (auto it = m.lower_bound(ns + "/"); it != m.end() && it->second->ns == ns; ++it) {
      inside.push_back(it->second);
    }
    for (const auto& obj : inside) (void)removeLocked(type, obj, false);
  }
  maybeFinishNamespaceLocked(ns);
  return WriteResult{terminating, false};
}

bool Store::namespaceEmptyLocked(const std::string& ns) const {
  for (const auto& type : table_.all()) {
    if (!type.namespaced) continue;
    const auto& m = objects_[static_cast<std::size_t>(type.index)];
    auto it = m.lower_bound(ns + "/");
    if (it != m.end() && it->second->ns == ns) return false;
  }
  return true;
}

void Store::maybeFinishNamespaceLocked(const std::string& ns) {
  auto nsObj = findLocked(*namespaces_, "", ns);
  if (!nsObj || !isDeleting(nsObj->object) || hasFinalizers(nsObj->object)) return;
  if (!namespaceEmptyLocked(ns)) return;
  (void)commitDeleteLocked(*namespaces_, nsObj);
}

ApiResult<std::vector<ObjectPtr>> Store::removeCollection(const ResourceType& type,
                                                          const ListRequest& req,
                                                          const DeleteOptions& opts) {
  std::lock_guard lock(mu_);
  ListRequest all = req;
  all.limit = 0;
  all.continueToken.clear();
  all.resourceVersion.clear();
  auto page = listLocked(type, all);
  if (!page.ok()) return page.error();
  std::vector<ObjectPtr> out;
  for (const auto& obj : page.value().items) {
    auto cur = findLocked(type, obj->ns, obj->name);
    if (!cur) continue;
    auto r = &type == namespaces_ ? removeNamespaceLocked(cur, opts.dryRun)
                                  : removeLocked(type, cur, opts.dryRun);
    if (r.ok()) out.push_back(r.value().object);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Commit path

ObjectPtr Store::commitLocked(const ResourceType& type, Json object, EventType kind,
                              const ObjectPtr& previous) {
  const std::uint64_t rv = ++rv_;
  object["metadata"]["resourceVersion"] = std::to_string(rv);
  auto stored = StoredObject::make(std::move(object));
  objects_[static_cast<std::size_t>(type.index)][keyOf(stored->ns, stored->name)] = stored;
  publishLocked(std::make_shared<const Event>(Event{rv, &type, kind, stored, previous}));
  return stored;
}

ObjectPtr Store::commitDeleteLocked(const ResourceType& type, const ObjectPtr& current,
                                    const Json* finalState) {
  const std::uint64_t rv = ++rv_;
  Json last = finalState ? *finalState : current->object;
  last["metadata"]["resourceVersion"] = std::to_string(rv);
  auto stored = StoredObject::make(std::move(last));
  objects_[static_cast<std::size_t>(type.index)].erase(keyOf(current->ns, current->name));
  publishLocked(
      std::make_shared<const Event>(Event{rv, &type, EventType::Deleted, stored, current}));
  if (type.namespaced) maybeFinishNamespaceLocked(current->ns);
  return stored;
}

void Store::periodicCompactionLocked() {
  if (options_.compactionInterval.count() <= 0) return;
  const auto now = clock_.monotonic();
  while (now >= nextCompaction_) {
    // compact.go: compact to the revision seen at the previous tick, then remember this one.
    while (!history_.empty() && history_.front()->resourceVersion <= compactTo_) {
      history_.pop_front();
    }
    compactedRv_ = std::max(compactedRv_, compactTo_);
    compactTo_ = rv_;
    nextCompaction_ += options_.compactionInterval;
  }
}

void Store::publishLocked(const EventPtr& event) {
  periodicCompactionLocked();
  history_.push_back(event);
  if (options_.compactionWindow > 0) {
    while (history_.size() > options_.compactionWindow) {
      compactedRv_ = history_.front()->resourceVersion;
      history_.pop_front();
    }
  }
  for (const auto& w : watchers_[static_cast<std::size_t>(event->type->index)]) {
    if (auto t = w->translate(*event)) w->push(*t, event->object);
  }
  for (EventSink* s : sinks_) s->deliver(event);
}

// ---------------------------------------------------------------------------------------------
// Watches

ApiResult<std::shared_ptr<Watcher>> Store::watch(const ResourceType& type, WatchRequest req) {
  std::lock_guard lock(mu_);
  periodicCompactionLocked();
  const bool initial =
      req.sendInitialEvents || req.resourceVersion.empty() || req.resourceVersion == "0";
  std::uint64_t from = 0;
  if (!initial) {
    auto n = parseRv(req.resourceVersion);
    if (!n) return badRequest("invalid resource version \"" + req.resourceVersion + "\"");
    if (*n < compactedRv_) return expired("The resourceVersion for the provided watch is too old.");
    if (*n > rv_) {
      return timeoutError("Too large resource version: " + std::to_string(*n) +
                          ", current: " + std::to_string(rv_));
    }
    from = *n;
  }
  auto w = std::make_shared<Watcher>(type, std::move(req));
  const WatchRequest& r = w->request();
  if (initial) {
    const auto& m = objects_[static_cast<std::size_t>(type.index)];
    const bool scoped = type.namespaced && !r.filter.ns.empty();
    auto it = scoped ? m.lower_bound(r.filter.ns + "/") : m.begin();
    auto end = scoped ? m.lower_bound(r.filter.ns + "0") : m.end();
    for (; it != end; ++it) {
      if (r.filter.selectsAll() || r.filter.matches(it->second->object)) {
        w->push("ADDED", it->second);
      }
    }
    if (r.sendInitialEvents && r.allowBookmarks) {
      Json b = type.bookmarkObject(std::to_string(rv_));
      Json blueprint = {{"kind", type.listKind},
                        {"apiVersion", type.apiVersion()},
                        {"metadata", Json::object()},
                        {"items", nullptr}};
      b["metadata"]["annotations"] = {
          {"k8s.io/initial-events-end", "true"},
          {"kubernetes.io/initial-events-list-blueprint", base64Encode(blueprint.dump() + "\n")}};
      w->push("BOOKMARK", StoredObject::make(std::move(b)));
    }
  } else {
    auto it =
        std::upper_bound(history_.begin(), history_.end(), from,
                         [](std::uint64_t v, const EventPtr& e) { return v < e->resourceVersion; });
    for (; it != history_.end(); ++it) {
      if ((*it)->type != &type) continue;
      if (auto t = w->translate(**it)) w->push(*t, (*it)->object);
    }
  }
  watchers_[static_cast<std::size_t>(type.index)].push_back(w);
  return w;
}

void Store::unwatch(const std::shared_ptr<Watcher>& watcher) {
  std::lock_guard lock(mu_);
  auto& v = watchers_[static_cast<std::size_t>(watcher->type().index)];
  v.erase(std::remove(v.begin(), v.end(), watcher), v.end());
}

std::optional<std::uint64_t> Store::bookmarkVersion(Watcher& watcher) const {
  std::lock_guard lock(mu_);
  if (watcher.queued() != 0) return std::nullopt;
  return rv_;
}

std::size_t Store::closeWatches() {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& v : watchers_) n += v.size();
  closeWatchesLocked();
  return n;
}

void Store::closeWatchesLocked() {
  for (auto& v : watchers_) {
    for (const auto& w : v) w->close();
    v.clear();
  }
}

std::size_t Store::requestBookmarks() {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& v : watchers_) {
    for (const auto& w : v) {
      if (w->request().allowBookmarks) {
        w->requestBookmark();
        ++n;
      }
    }
  }
  return n;
}

std::size_t Store::watcherCount() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& v : watchers_) n += v.size();
  return n;
}

void Store::addSink(EventSink* sink) {
  std::lock_guard lock(mu_);
  sinks_.push_back(sink);
}

void Store::removeSink(EventSink* sink) {
  std::lock_guard lock(mu_);
  sinks_.erase(std::remove(sinks_.begin(), sinks_.end(), sink), sinks_.end());
}

// ---------------------------------------------------------------------------------------------
// Admin

std::uint64_t Store::compact() {
  std::lock_guard lock(mu_);
  history_.clear();
  compactedRv_ = rv_;
  return rv_;
}

Json Store::dumpState() const {
  std::lock_guard lock(mu_);
  Json objs = Json::array();
  for (const auto& m : objects_) {
    for (const auto& [key, obj] : m) objs.push_back(obj->object);
  }
  return {{"resourceVersion", std::to_string(rv_)}, {"objects", std::move(objs)}};
}

ApiStatus Store::loadState(const Json& state) {
  if (!state.is_object()) return badRequest("state must be a JSON object");
  const Json* list = nullptr;
  if (state.contains("objects"))
    list = &state["objects"];
  else if (state.contains("items"))
    list = &state["items"];
  if (!list || !list->is_array())
    return badRequest("state must have an \"objects\" (or \"items\") array");
  std::uint64_t stateRv = 0;
  if (state.contains("resourceVersion")) {
    const Json& r = state["resourceVersion"];
    auto n = r.is_string()            ? parseRv(r.get<std::string>())
             : r.is_number_unsigned() ? std::optional(r.get<std::uint64_t>())
                                      : std::nullopt;
    if (!n) return badRequest("state.resourceVersion must be an integer string");
    stateRv = *n;
  }
  struct Pending {
    const ResourceType* type;
    Json object;
  };
  std::vector<Pending> pending;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const Json& o = (*list)[i];
    const std::string where = "objects[" + std::to_string(i) + "]";
    if (!o.is_object()) return badRequest(where + " is not an object");
    const ResourceType* t = table_.findKind(strField(o, "apiVersion"), strField(o, "kind"));
    if (!t) {
      return badRequest(where + ": kind \"" + strField(o, "kind") + "\" of apiVersion \"" +
                        strField(o, "apiVersion") + "\" is not served by kube-sim");
    }
    if (!o.contains("metadata") || !o["metadata"].is_object() ||
        strField(o["metadata"], "name").empty()) {
      return badRequest(where + ": metadata.name is required");
    }
    if (t->namespaced && strField(o["metadata"], "namespace").empty()) {
      return badRequest(where + ": metadata.namespace is required for " + t->plural);
    }
    pending.push_back({t, o});
  }

  std::lock_guard lock(mu_);
  closeWatchesLocked();
  for (auto& m : objects_) m.clear();
  history_.clear();
  std::uint64_t maxRv = std::max(rv_, stateRv);
  const std::string ts = now();
  for (auto& p : pending) {
    Json& md = p.object["metadata"];
    if (!p.type->namespaced) md.erase("namespace");
    if (strField(md, "uid").empty()) md["uid"] = newUid();
    if (strField(md, "creationTimestamp").empty()) md["creationTimestamp"] = ts;
    auto rv = parseRv(strField(md, "resourceVersion"));
    if (!rv) {
      rv = ++maxRv;
      md["resourceVersion"] = std::to_string(*rv);
    }
    maxRv = std::max(maxRv, *rv);
    auto stored = StoredObject::make(std::move(p.object));
    objects_[static_cast<std::size_t>(p.type->index)][keyOf(stored->ns, stored->name)] = stored;
  }
  // Namespaced objects need their namespace, as they would on a real cluster.
  for (const auto& type : table_.all()) {
    if (!type.namespaced) continue;
    for (const auto& [key, obj] : objects_[static_cast<std::size_t>(type.index)]) {
      if (findLocked(*namespaces_, "", obj->ns)) continue;
      Json nsObj = {{"apiVersion", "v1"},
                    {"kind", "Namespace"},
                    {"metadata",
                     {{"name", obj->ns},
                      {"uid", newUid()},
                      {"creationTimestamp", ts},
                      {"resourceVersion", std::to_string(++maxRv)}}}};
      applyCreateDefaults(*namespaces_, nsObj, ts);
      auto stored = StoredObject::make(std::move(nsObj));
      objects_[static_cast<std::size_t>(namespaces_->index)][stored->name] = stored;
    }
  }
  rv_ = maxRv;
  compactedRv_ = rv_;
  return Done{};
}

void Store::reset() {
  std::lock_guard lock(mu_);
  closeWatchesLocked();
  for (auto& m : objects_) m.clear();
  history_.clear();
  compactedRv_ = rv_;
  if (options_.defaultNamespaces) createDefaultNamespacesLocked();
}

void Store::createDefaultNamespacesLocked() {
  for (const char* name : {"default", "kube-node-lease", "kube-public", "kube-system"}) {
    Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}};
    (void)createLocked(*namespaces_, "", std::move(ns), WriteOptions{"kube-apiserver", "", false},
                       nullptr);
  }
}

Json Store::stats() const {
  std::lock_guard lock(mu_);
  Json counts = Json::object();
  std::size_t watchers = 0;
  for (const auto& t : table_.all()) {
    counts[t.groupResource()] = objects_[static_cast<std::size_t>(t.index)].size();
    watchers += watchers_[static_cast<std::size_t>(t.index)].size();
  }
  return {{"resourceVersion", std::to_string(rv_)},
          {"compactedResourceVersion", std::to_string(compactedRv_)},
          {"historyEvents", history_.size()},
          {"watchers", watchers},
          {"objects", counts}};
}

}  // namespace kubesim
