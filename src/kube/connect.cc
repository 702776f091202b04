// ClusterConfig → HttpClient (from the factory) → KubeClient.
#include "kube/connect.h"

namespace ocpvdr::kube {

KubeConnection connect(ClusterConfig cfg, Clock& clock, const HttpClientFactory& http,
                       KubeClientOptions options) {
  KubeConnection c;
  c.config = std::move(cfg);
  c.http = http(tlsOptionsFor(c.config));
  c.client = std::make_unique<KubeClient>(*c.http, c.config, clock, std::move(options));
  return c;
}

Result<KubeConnection> connect(const config::KubeAccess& access, Clock& clock,
                               const HttpClientFactory& http, KubeClientOptions options,
                               const EnvLookup& env) {
  OCPVDR_ASSIGN_OR_RETURN(ClusterConfig cfg, resolveClusterConfig(access, env));
  return connect(std::move(cfg), clock, http, std::move(options));
}

}  // namespace ocpvdr::kube
