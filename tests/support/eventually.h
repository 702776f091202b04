// Bounded real-time polling for tests whose subject runs on its own threads: wait until a
// condition holds or a limit passes, without a fixed sleep.
#pragma once

#include <chrono>
#include <thread>

namespace ocpvdr::testing {

// Polls `pred` every `poll` until it holds (true) or `limit` has passed (false).
template <class P>
bool eventually(P pred, std::chrono::milliseconds limit = std::chrono::seconds(5),
                std::chrono::milliseconds poll = std::chrono::milliseconds(1)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

}  // namespace ocpvdr::testing
