// KubePrimary: PrimaryLister and replication::PrimaryObjects over the Kubernetes client.
#include "engine/primary_api.h"

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

Result<std::vector<Json>> KubePrimary::listPersistentVolumes(std::string_view labelSelector,
                                                             std::stop_token stop) {
  return listAll(client_, kube::resources::persistentVolumes(), "", std::string(labelSelector),
                 stop);
}

Result<std::vector<Json>> KubePrimary::listVolumeSnapshots(std::string_view ns,
                                                           std::stop_token stop) {
  return listAll(client_, kube::resources::volumeSnapshots(), ns, "", stop);
}

Result<Json> KubePrimary::getVolumeSnapshot(std::string_view ns, std::string_view name,
                                            std::stop_token stop) {
  return client_.get(kube::resources::volumeSnapshots(), ns, name, stop);
}

Result<Json> KubePrimary::getPersistentVolume(std::string_view name) {
  return client_.get(kube::resources::persistentVolumes(), "", name);
}

Result<Json> KubePrimary::getVolumeSnapshotContent(std::string_view name) {
  return client_.get(kube::resources::volumeSnapshotContents(), "", name);
}

Result<Json> KubePrimary::getPersistentVolumeClaim(std::string_view ns, std::string_view name) {
  return client_.get(kube::resources::persistentVolumeClaims(), ns, name);
}

}  // namespace ocpvdr::engine
