// Consistency groups: VM → PVs and application groups (see consistency_group.h).
#include "replication/consistency_group.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace ocpvdr::replication {

namespace {

const Json* child(const Json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(std::string(key));
  return it == j.end() ? nullptr : &*it;
}

std::string textAt(const Json& j, std::initializer_list<std::string_view> path) {
  const Json* cur = &j;
  for (auto k : path) {
    cur = child(*cur, k);
    if (cur == nullptr) return {};
  }
  return cur->is_string() ? cur->get<std::string>() : std::string();
}

std::string label(const Json& vm, std::string_view key) {
  const Json* labels = child(vm, "metadata");
  labels = labels ? child(*labels, "labels") : nullptr;
  const Json* v = labels ? child(*labels, key) : nullptr;
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

}  // namespace

std::vector<std::string> ConsistencyGroup::pvs() const {
  std::set<std::string> all;
  for (const auto& vm : vms) all.insert(vm.pvs.begin(), vm.pvs.end());
  return {all.begin(), all.end()};
}

std::vector<std::string> vmClaims(const Json& vm) {
  std::set<std::string> claims;
  const Json* spec = child(vm, "spec");
  const Json* tmpl = spec ? child(*spec, "template") : nullptr;
  const Json* tspec = tmpl ? child(*tmpl, "spec") : nullptr;
  const Json* vols = tspec ? child(*tspec, "volumes") : nullptr;
  if (vols == nullptr || !vols->is_array()) return {};
  for (const auto& v : *vols) {
    // A DataVolume's PVC carries the DataVolume's name (CDI).
    std::string c = textAt(v, {"persistentVolumeClaim", "claimName"});
    if (c.empty()) c = textAt(v, {"dataVolume", "name"});
    if (!c.empty()) claims.insert(c);
  }
  return {claims.begin(), claims.end()};
}

std::string vmGroupLabel(const Json& vm) {
  return label(vm, kConsistencyGroupLabel);
}

bool vmFreezeOptOut(const Json& vm) {
  std::string v = label(vm, kFreezeLabel);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return v == "false";
}

Result<ConsistencyGroup> groupOfVm(const Json& vm, const std::vector<Json>& all,
                                   const PvOfClaim& pvOfClaim) {
  const std::string ns = textAt(vm, {"metadata", "namespace"});
  const std::string name = textAt(vm, {"metadata", "name"});
  if (name.empty()) return invalidError("a VirtualMachine without metadata.name");
  const std::string groupName = vmGroupLabel(vm);
  std::vector<const Json*> members;
  ConsistencyGroup g;
  if (groupName.empty()) {
    g.id = "vm/" + ns + "/" + name;
    members.push_back(&vm);
  } else {
    g.id = "group/" + ns + "/" + groupName;
    for (const auto& other : all)
      if (textAt(other, {"metadata", "namespace"}) == ns && vmGroupLabel(other) == groupName)
        members.push_back(&other);
    if (std::none_of(members.begin(), members.end(), [&](const Json* m) {
          return textAt(*m, {"metadata", "name"}) == name;
        }))
      members.push_back(&vm);
  }
  for (const Json* m : members) {
    GroupVm gv;
    gv.ns = ns;
    gv.name = textAt(*m, {"metadata", "name"});
    gv.freezeOptOut = vmFreezeOptOut(*m);
    std::set<std::string> pvs;
    for (const auto& claim : vmClaims(*m)) {
      auto pv = pvOfClaim(ns, claim);
      if (pv.ok()) {
        pvs.insert(*pv);
      } else if (pv.error().kind == ErrorKind::NotFound) {
        gv.unresolved.push_back("claim " + claim + ": " + pv.error().message);
      } else {
        return pv.error().wrap("resolving claim " + ns + "/" + claim + " of VM " + gv.name);
      }
    }
    gv.pvs.assign(pvs.begin(), pvs.end());
    g.vms.push_back(std::move(gv));
  }
  std::sort(g.vms.begin(), g.vms.end(),
            [](const GroupVm& a, const GroupVm& b) { return a.name < b.name; });
  return g;
}

Result<std::optional<ConsistencyGroup>> findGroupOfClaim(ConsistencyApi& api,
                                                         std::string_view claimNs,
                                                         std::string_view claimName) {
  if (claimNs.empty() || claimName.empty()) return std::optional<ConsistencyGroup>();
  OCPVDR_ASSIGN_OR_RETURN(auto vms, api.listVirtualMachines(claimNs));
  for (const auto& vm : vms) {
    auto claims = vmClaims(vm);
    if (!std::binary_search(claims.begin(), claims.end(), std::string(claimName))) continue;
    PvOfClaim lookup = [&api](std::string_view ns, std::string_view claim) -> Result<std::string> {
      OCPVDR_ASSIGN_OR_RETURN(Json pvc, api.getPersistentVolumeClaim(ns, claim));
      std::string pv = textAt(pvc, {"spec", "volumeName"});
      if (pv.empty()) return notFoundError("not bound to a PV yet");
      return pv;
    };
    OCPVDR_ASSIGN_OR_RETURN(auto g, groupOfVm(vm, vms, lookup));
    return std::optional<ConsistencyGroup>(std::move(g));
  }
  return std::optional<ConsistencyGroup>();
}

}  // namespace ocpvdr::replication
