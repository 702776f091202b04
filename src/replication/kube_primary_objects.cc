// PrimaryObjects backed by the Kubernetes REST client (see kube_primary_objects.h).
#include "replication/kube_primary_objects.h"

#include "core/curl_http.h"
#include "kube/resource_type.h"

namespace ocpvdr::replication {

Result<kube::KubeClient*> KubePrimaryObjects::client() {
  std::lock_guard lock(mu_);
  if (!conn_) {
    auto c = kube::connect(access_, clock_, curlHttpClients());
    if (!c.ok())
      return c.error().wrap("connecting to the primary cluster's API (sites.primary.kubernetes)");
    conn_.emplace(std::move(c).value());
  }
  return conn_->client.get();
}

Result<Json> KubePrimaryObjects::getPersistentVolume(std::string_view name) {
  OCPVDR_ASSIGN_OR_RETURN(kube::KubeClient * c, client());
  return c->get(kube::resources::persistentVolumes(), "", name);
}

Result<Json> KubePrimaryObjects::getVolumeSnapshotContent(std::string_view name) {
  OCPVDR_ASSIGN_OR_RETURN(kube::KubeClient * c, client());
  return c->get(kube::resources::volumeSnapshotContents(), "", name);
}

Result<Json> KubePrimaryObjects::getPersistentVolumeClaim(std::string_view ns,
                                                          std::string_view name) {
  OCPVDR_ASSIGN_OR_RETURN(kube::KubeClient * c, client());
  return c->get(kube::resources::persistentVolumeClaims(), ns, name);
}

Result<Json> KubePrimaryObjects::getVolumeSnapshot(std::string_view ns, std::string_view name,
                                                   std::stop_token stop) {
  OCPVDR_ASSIGN_OR_RETURN(kube::KubeClient * c, client());
  return c->get(kube::resources::volumeSnapshots(), ns, name, stop);
}

}  // namespace ocpvdr::replication
