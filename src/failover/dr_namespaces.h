// The protected namespaces at DR, created before anything is created in them (FACTS §13).
//
// Velero creates a namespace with the backup's labels and annotations only when it does not
// exist yet, and uses an existing one as it is. The failover creates PVCs (apply-volumes) before
// the Restore, so a namespace it created bare would lose the backup's metadata for good — its
// pod-security.kubernetes.io/* labels among them. So a namespace missing at DR is created from
// the backup's Namespace object: its labels and annotations, minus the openshift.io/sa.scc.*
// annotations (the UID range, MCS labels and supplemental groups the DR cluster's namespace
// controller allocates for itself; the primary's values would clash with DR's allocations).
// A namespace that exists at DR is left exactly as it is. A namespace the backup does not hold
// is created bare, with a warning.
#pragma once

#include <map>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/result.h"
#include "kube/kube_client.h"

namespace ocpvdr::failover {

// The Namespace to create at DR from the backup's object `backup` (null: a bare one).
Json drNamespace(const std::string& name, const Json& backup);

// The backup's Namespace objects (name -> object), read from the tarball at `tarballPath`.
[[nodiscard]] Result<std::map<std::string, Json>> backupNamespaces(const std::string& tarballPath);

// Creates each of `names` missing at DR (see above). Returns {"created": [...], "existing":
// [...]}; a name the backup does not hold is added to `warnings`.
[[nodiscard]] Result<Json> ensureDrNamespaces(kube::KubeClient& dr,
                                              const std::set<std::string>& names,
                                              const std::map<std::string, Json>& fromBackup,
                                              std::vector<std::string>& warnings,
                                              std::stop_token stop = {});

}  // namespace ocpvdr::failover
