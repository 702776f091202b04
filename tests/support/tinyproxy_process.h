// TinyproxyProcess: Debian's tinyproxy as a real forward proxy on a loopback port, for the
// forwarder transport's proxy support. Started in the foreground with its log captured; stopped
// by its PID (demo::PeerProcess).
#pragma once

#include <memory>
#include <string>

#include "demo/peer_process.h"
#include "support/temp_dir.h"

namespace ocpvdr::testing {

class TinyproxyProcess {
 public:
  // Allows CONNECT to `connectPort` (tinyproxy's default is 443/563 only; 0: none). Throws
  // std::runtime_error when tinyproxy is missing (`make deps` installs it) or does not listen.
  TinyproxyProcess(const TempDir& dir, int connectPort = 0);
  std::string url() const;  // http://127.0.0.1:<port>
  std::string log() const;  // every request it handled (LogLevel Connect)
  void stop();

 private:
  bool accepting() const;
  int port_ = 0;
  std::unique_ptr<demo::PeerProcess> proc_;
};

// A loopback TCP port nothing listens on right now (bound and released).
int unusedLoopbackPort();

}  // namespace ocpvdr::testing
