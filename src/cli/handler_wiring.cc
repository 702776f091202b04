// Wiring of the replication commands' environment (see handler_wiring.h).
#include "cli/handler_wiring.h"

#include "core/curl_http.h"
#include "engine/primary_api.h"
#include "kube/connect.h"

namespace ocpvdr::cli {

Result<std::unique_ptr<HandlerEnv>> openHandlerEnv(const std::string& configPath,
                                                   const std::string& nowOverride) {
  return HandlerEnv::open(
      configPath, nowOverride,
      [](const config::Config& cfg, Clock& clock) -> std::unique_ptr<replication::PrimaryObjects> {
        return std::make_unique<engine::KubePrimary>(
            [access = cfg.primary.kubernetes, &clock]() -> Result<kube::KubeConnection> {
              return kube::connect(access, clock, curlHttpClients());
            });
      });
}

}  // namespace ocpvdr::cli
