// The skip banner of the netns tests (the hosts themselves: tools/demo/netns_sites.cc).
#include "support/netns_hosts.h"

#include <iostream>

namespace ocpvdr::testing {

std::string netnsSkipBanner(const Error& why) {
  std::string msg =
      "\n"
      "************************************************************************\n"
      "*** SKIPPED: this test needs two network-namespace ssh hosts and     ***\n"
      "*** could not create them: " +
      why.message +
      "\n"
      "*** Run the netns-labelled tests as root (ctest -L netns).           ***\n"
      "************************************************************************\n";
  std::cerr << msg;
  return msg;
}

}  // namespace ocpvdr::testing
