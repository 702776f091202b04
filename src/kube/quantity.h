// Kubernetes resource quantities ("1Gi", "500M", "1.5Gi", "1e3", "100m"), the format of
// resources.requests.storage, capacity.storage and VolumeSnapshot status.restoreSize:
//   <sign?><digits>[.<digits>]<suffix>   suffix: "" | Ki Mi Gi Ti Pi Ei | n u m k M G T P E |
//                                         e<int> / E<int> (decimal exponent)
#pragma once

#include <cstdint>
#include <string_view>

#include "core/result.h"

namespace ocpvdr::kube {

// The quantity as a whole number of bytes (units), rounded up like the API server's Value().
// Invalid, naming the text, for garbage, an unknown suffix, a negative value or one beyond int64.
[[nodiscard]] Result<std::int64_t> parseQuantityBytes(std::string_view text);

}  // namespace ocpvdr::kube
