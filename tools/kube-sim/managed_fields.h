// metadata.managedFields bookkeeping and the server-side apply merge, approximated.
//
// Ownership is tracked per manager entry (manager, operation Apply|Update, subresource) as a set of
// leaf paths rendered as FieldsV1 ("f:spec": {"f:replicas": {}}). Approximations (documented in
// docs/kube-sim.md): lists are atomic leaves (no listType=map/set merging, no "k:"/"v:" keys), and
// a map node gets "." when it is below the top level.
#pragma once

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "api_error.h"

namespace kubesim {

using Json = nlohmann::json;
using FieldPath = std::vector<std::string>;
using FieldSet = std::set<FieldPath>;

// Which part of an object a write covers.
enum class FieldScope {
  All,        // every user field (kinds without a status subresource)
  NoStatus,   // main resource of a kind with a status subresource
  StatusOnly  // the /status subresource
};

// Leaf paths of the user-settable fields: kind, apiVersion and server-managed metadata (name,
// namespace, uid, resourceVersion, generation, timestamps, managedFields) are never owned.
FieldSet leafPaths(const Json& object, FieldScope scope);
Json toFieldsV1(const FieldSet& fields);
FieldSet fromFieldsV1(const Json& fieldsV1);
const Json* valueAt(const Json& object, const FieldPath& path);
void setAt(Json& object, const FieldPath& path, const Json& value);
// Removes the leaf and any maps left empty by the removal (below the top level).
void eraseAt(Json& object, const FieldPath& path);
// ".spec.replicas" as conflict messages print paths.
std::string pathString(const FieldPath& path);

struct ManagerEntry {
  std::string manager;
  std::string operation;  // "Apply" | "Update"
  std::string apiVersion;
  std::string time;
  std::string subresource;  // "" | "status"
  FieldSet fields;
};

class ManagedFields {
 public:
  // Reads metadata.managedFields; malformed entries are dropped.
  static ManagedFields fromObject(const Json& object);
  // Writes metadata.managedFields (removes the key when there are no entries).
  void writeTo(Json& object) const;

  // A non-apply write by `manager`: fields whose values it changed or added become its own and
  // leave every other entry; removed fields leave every entry.
  void recordUpdate(const std::string& manager, const std::string& subresource, const Json& before,
                    const Json& after, FieldScope scope, const std::string& apiVersion,
                    const std::string& now);

  // Server-side apply of `config` onto `live` (modified in place). Fails with 409 when a field
  // owned by another manager would change value and !force; with force the other managers lose
  // those fields. Fields this manager applied before but omits now are removed from the object
  // unless another manager still owns them.
  [[nodiscard]] ApiStatus apply(Json& live, const Json& config, const std::string& manager,
                                const std::string& subresource, FieldScope scope, bool force,
                                const std::string& apiVersion, const std::string& now);

  const std::vector<ManagerEntry>& entries() const { return entries_; }

 private:
  ManagerEntry* find(const std::string& manager, const std::string& operation,
                     const std::string& subresource);
  void dropEmpty();

  std::vector<ManagerEntry> entries_;
};

}  // namespace kubesim
