// KubePrimary: PrimaryLister and replication::PrimaryObjects over the Kubernetes client (the
// product's only adapter of the primary API).
#include "engine/primary_api.h"

#include "kube/guest_freeze.h"
#include "kube/resource_type.h"

namespace ocpvdr::engine {

namespace {

Result<std::vector<Json>> listAll(kube::KubeClient& client, const kube::ResourceType& type,
                                  std::string_view ns, std::string labelSelector,
                                  std::stop_token stop) {
  kube::ListOptions opts;
  opts.labelSelector = std::move(labelSelector);
  opts.limit = 500;
  auto r = client.listAll(type, ns, opts, stop);
  if (!r.ok()) return r.error().wrap("listing " + type.plural + " on the primary");
  return std::move(r->items);
}

}  // namespace

Result<kube::KubeClient*> KubePrimary::client() {
  if (client_ != nullptr) return client_;
  std::lock_guard lock(mu_);
  if (!conn_) {
    Result<kube::KubeConnection> c =
        connect_ ? connect_() : Result<kube::KubeConnection>(invalidError("no connector given"));
    if (!c.ok())
      return c.error().wrap("connecting to the primary cluster's API (sites.primary.kubernetes)");
    conn_.emplace(std::move(c).value());
  }
  return conn_->client.get();
}

Result<std::vector<Json>> KubePrimary::listPersistentVolumes(std::string_view labelSelector,
                                                             std::stop_token stop) {
  OCPVDR_ASSIGN_OR_RETURN(kube::KubeClient * c, client());
  return listAll(*c, kube::resources::persistentVolumes(), "", std::string(labelSelector), stop);
}

Result<std::vector<Json>> KubePrimary::listVolumeSnapshots(std::string_view ns,
                                                           std::stop_token stop) {
  OCPVDR_ASSIGN_OR_RETURN(kube::KubeClient * c, client());
  return listAll(*c, kube::resources::volumeSnapshots(), ns, "", stop);
}

Result<Json> KubePrimary::getVolumeSnapshot(std::string_view ns, std::string_view name,
                                            std::stop_token stop) {
  OCPVDR_ASSIGN_OR_RETURN(kube::KubeClient * c, client());
  return c->get(kube::resources::volumeSnapshots(), ns, name, stop);
}

Result<Json> KubePrimary::getPersistentVolume(std::string_view name) {
  OCPVDR_ASSIGN_OR_RETURN(kube::KubeClient * c, client());
  return c->get(kube::resources::persistentVolumes(), "", name);
}

Result<Json> KubePrimary::getVolumeSnapshotContent(std::string_view name) {
  OCPVDR_ASSIGN_OR_RETURN(kube::KubeClient * c, client());
  return c->get(kube::resources::volumeSnapshotContents(), "", name);
}

Result<Json> KubePrimary::getPersistentVolumeClaim(std::string_view ns, std::string_view name) {
  OCPVDR_ASSIGN_OR_RETURN(kube::KubeClient * c, client());
  return c->get(kube::resources::persistentVolumeClaims(), ns, name);
}

Result<std::vector<Json>> KubePrimary::listVirtualMachines(std::string_view ns) {
  OCPVDR_ASSIGN_OR_RETURN(kube::KubeClient * c, client());
  return listAll(*c, kube::resources::virtualMachines(), ns, "", {});
}

Result<Json> KubePrimary::getVirtualMachineInstance(std::string_view ns, std::string_view name) {
  OCPVDR_ASSIGN_OR_RETURN(kube::KubeClient * c, client());
  return c->get(kube::resources::virtualMachineInstances(), ns, name);
}

Status KubePrimary::freezeGuest(std::string_view ns, std::string_view name,
                                std::chrono::seconds unfreezeTimeout) {
  OCPVDR_ASSIGN_OR_RETURN(kube::KubeClient * c, client());
  return kube::GuestFreeze(*c).freeze(ns, name, unfreezeTimeout);
}

Status KubePrimary::unfreezeGuest(std::string_view ns, std::string_view name) {
  OCPVDR_ASSIGN_OR_RETURN(kube::KubeClient * c, client());
  return kube::GuestFreeze(*c).unfreeze(ns, name);
}

}  // namespace ocpvdr::engine
