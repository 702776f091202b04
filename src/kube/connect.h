// One call from a site's `kubernetes:` configuration to a ready KubeClient: resolve the cluster
// configuration (kubeconfig / in-cluster / $KUBECONFIG / ~/.kube/config), build an HttpClient
// with that cluster's TLS material (from the factory the binary chose), and the client on top.
#pragma once

#include <memory>

#include "config/config.h"
#include "core/clock.h"
#include "core/http.h"
#include "core/result.h"
#include "kube/cluster_config.h"
#include "kube/kube_client.h"

namespace ocpvdr::kube {

// Owns the transport and the client (the client refers to the transport, so they travel
// together). Move-only.
struct KubeConnection {
  ClusterConfig config;
  std::unique_ptr<HttpClient> http;
  std::unique_ptr<KubeClient> client;
};

[[nodiscard]] Result<KubeConnection> connect(const config::KubeAccess& access, Clock& clock,
                                             const HttpClientFactory& http,
                                             KubeClientOptions options = {},
                                             const EnvLookup& env = processEnv());

// The same from an already resolved configuration.
KubeConnection connect(ClusterConfig cfg, Clock& clock, const HttpClientFactory& http,
                       KubeClientOptions options = {});

}  // namespace ocpvdr::kube
