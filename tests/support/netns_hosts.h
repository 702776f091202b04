// Two network-namespace ssh hosts for tests: the implementation lives in tools/demo/netns_sites.h
// (the demo runs the same two hosts); this header keeps the tests' names in ocpvdr::testing and
// adds the loud skip for runs without root.
#pragma once

#include "demo/netns_sites.h"
#include "support/temp_dir.h"  // tests that include this header have always had TempDir

namespace ocpvdr::testing {

using demo::NetnsHost;
using demo::NetnsHosts;
using demo::NetnsOptions;
using demo::NetnsProcessRunner;

// The banner a skipped netns test prints (to stderr and as the skip message).
std::string netnsSkipBanner(const Error& why);

}  // namespace ocpvdr::testing

// In a TEST body: `OCPVDR_NETNS_HOSTS_OR_SKIP(hosts);` declares `hosts` (unique_ptr<NetnsHosts>)
// or skips the test loudly.
#define OCPVDR_NETNS_HOSTS_OR_SKIP(var)                                         \
  auto var##_created_ = ::ocpvdr::testing::NetnsHosts::create();                \
  if (!var##_created_.ok())                                                     \
    GTEST_SKIP() << ::ocpvdr::testing::netnsSkipBanner(var##_created_.error()); \
  auto var = std::move(var##_created_).value()
