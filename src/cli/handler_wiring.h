// The CLI's wiring of a HandlerEnv: the primary cluster's API is the engine's
// KubePrimary (engine/primary_api.h) over a libcurl transport, connected on first use.
#pragma once

#include <memory>
#include <string>

#include "cli/handler_env.h"
#include "core/result.h"

namespace ocpvdr::cli {

// HandlerEnv::open with the primary API wired in.
[[nodiscard]] Result<std::unique_ptr<HandlerEnv>> openHandlerEnv(const std::string& configPath,
                                                                 const std::string& nowOverride);

}  // namespace ocpvdr::cli
