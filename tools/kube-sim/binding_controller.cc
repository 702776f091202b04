// PV/PVC binding for pre-bound claims (see binding_controller.h).
#include "binding_controller.h"

namespace kubesim {
namespace {

const ResourceType& pvType(const Store& store) {
  return *store.table().find("", "v1", "persistentvolumes");
}
const ResourceType& pvcType(const Store& store) {
  return *store.table().find("", "v1", "persistentvolumeclaims");
}

WriteOptions asBinder(const std::string& subresource = "") {
  WriteOptions o;
  o.fieldManager = "kube-controller-manager";
  o.subresource = subresource;
  return o;
}

void setClaimPhase(Store& store, const std::string& ns, const std::string& name,
                   const std::string& phase) {
  (void)store.modify(
      pvcType(store), ns, name, [&](Json& o) { o["status"]["phase"] = phase; }, asBinder("status"));
}

}  // namespace

void BindingController::reconcileClaim(Store& store, const std::string& ns,
                                       const std::string& name) {
  auto got = store.get(pvcType(store), ns, name);
  if (!got.ok()) return;
  const Json& pvc = got.value()->object;
  const Json& md = child(pvc, "metadata");
  if (md.contains("deletionTimestamp")) return;
  const std::string volumeName = str(child(pvc, "spec"), "volumeName");
  const std::string phase = str(child(pvc, "status"), "phase");
  const std::string uid = str(md, "uid");
  if (volumeName.empty()) {
    if (phase.empty()) setClaimPhase(store, ns, name, "Pending");
    return;
  }
  auto pvGot = store.get(pvType(store), "", volumeName);
  if (!pvGot.ok()) {
    setClaimPhase(store, ns, name, phase == "Bound" || phase == "Lost" ? "Lost" : "Pending");
    return;
  }
  const Json& pv = pvGot.value()->object;
  if (child(pv, "metadata").contains("deletionTimestamp")) return;
  const Json& ref = child(child(pv, "spec"), "claimRef");
  if (ref.is_object() && !ref.empty()) {
    const bool sameClaim = str(ref, "namespace") == ns && str(ref, "name") == name;
    const std::string refUid = str(ref, "uid");
    if (!sameClaim || (!refUid.empty() && refUid != uid)) {
      // The volume belongs to another claim (or another incarnation of this one).
      if (phase != "Pending") setClaimPhase(store, ns, name, "Pending");
      return;
    }
  }

  const std::string pvcRv = str(md, "resourceVersion");
  (void)store.modify(
      pvType(store), "", volumeName,
      [&](Json& o) {
        Json& cr = o["spec"]["claimRef"];
        if (!cr.is_object()) cr = Json::object();
        cr["kind"] = "PersistentVolumeClaim";
        cr["apiVersion"] = "v1";
        cr["namespace"] = ns;
        cr["name"] = name;
        cr["uid"] = uid;
        // The binder records the claim version it saw; refreshing it on every claim write
        // would make each binding write trigger the next.
        if (!cr.contains("resourceVersion")) cr["resourceVersion"] = pvcRv;
      },
      asBinder());
  (void)store.modify(
      pvType(store), "", volumeName, [](Json& o) { o["status"]["phase"] = "Bound"; },
      asBinder("status"));

  const Json accessModes = child(child(pv, "spec"), "accessModes");
  const Json capacity = child(child(pv, "spec"), "capacity");
  (void)store.modify(
      pvcType(store), ns, name,
      [](Json& o) { o["metadata"]["annotations"]["pv.kubernetes.io/bind-completed"] = "yes"; },
      asBinder());
  (void)store.modify(
      pvcType(store), ns, name,
      [&](Json& o) {
        Json& st = o["status"];
        st["phase"] = "Bound";
        if (!accessModes.is_null()) st["accessModes"] = accessModes;
        if (!capacity.is_null()) st["capacity"] = capacity;
      },
      asBinder("status"));
}

void BindingController::onEvent(const Event& event, Store& store) {
  const ResourceType& type = *event.type;
  if (&type == &pvcType(store)) {
    if (event.kind == EventType::Deleted) {
      // The claim is gone: a PV bound to it is Released (its data kept: reclaim is not modelled).
      const std::string vol = str(child(event.object->object, "spec"), "volumeName");
      if (vol.empty()) return;
      auto pv = store.get(pvType(store), "", vol);
      if (!pv.ok()) return;
      const Json& ref = child(child(pv.value()->object, "spec"), "claimRef");
      if (str(ref, "namespace") == event.object->ns && str(ref, "name") == event.object->name) {
        (void)store.modify(
            pvType(store), "", vol, [](Json& o) { o["status"]["phase"] = "Released"; },
            asBinder("status"));
      }
      return;
    }
    reconcileClaim(store, event.object->ns, event.object->name);
    return;
  }
  if (&type == &pvType(store)) {
    const Json& pv = event.object->object;
    if (event.kind == EventType::Deleted) {
      const Json& ref = child(child(pv, "spec"), "claimRef");
      if (!str(ref, "name").empty()) reconcileClaim(store, str(ref, "namespace"), str(ref, "name"));
      return;
    }
    if (event.kind == EventType::Added) {
      const std::string phase = str(child(pv, "status"), "phase");
      if (phase.empty() || phase == "Pending") {
        (void)store.modify(
            pvType(store), "", event.object->name,
            [](Json& o) {
              const std::string now = str(child(o, "status"), "phase");
              if (now.empty() || now == "Pending") o["status"]["phase"] = "Available";
            },
            asBinder("status"));
      }
      // A claim created before this PV names it: bind it now.
      ListRequest req;
      auto claims = store.list(pvcType(store), req);
      if (!claims.ok()) return;
      for (const auto& c : claims.value().items) {
        if (str(child(c->object, "spec"), "volumeName") == event.object->name &&
            str(child(c->object, "status"), "phase") != "Bound")
          reconcileClaim(store, c->ns, c->name);
      }
    }
  }
}

void BindingController::tick(Store& store, ocpvdr::SystemTime /*now*/) {
  ListRequest req;
  auto claims = store.list(pvcType(store), req);
  if (!claims.ok()) return;
  for (const auto& c : claims.value().items) {
    const Json& o = c->object;
    if (str(child(o, "status"), "phase") != "Bound" && !str(child(o, "spec"), "volumeName").empty())
      reconcileClaim(store, c->ns, c->name);
  }
}

}  // namespace kubesim
