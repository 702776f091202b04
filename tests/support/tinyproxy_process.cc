// See tinyproxy_process.h.
#include "support/tinyproxy_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace ocpvdr::testing {
namespace {

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

}  // namespace

int unusedLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(0);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TinyproxyProcess::TinyproxyProcess(const TempDir& dir, int connectPort) {
  if (demo::findProgram("tinyproxy").empty())
    throw std::runtime_error("tinyproxy is not installed (make deps installs it)");
  port_ = unusedLoopbackPort();
  const auto conf = dir.path() / "tinyproxy.conf";
  {
    std::ofstream out(conf);
    out << "Port " << port_ << "\nListen 127.0.0.1\nTimeout 600\nLogLevel Connect\n"
        << "MaxClients 50\nAllow 127.0.0.1\n";
    if (connectPort > 0) out << "ConnectPort " << connectPort << "\n";
  }
  demo::PeerSpec spec{
      "tinyproxy", {"tinyproxy", "-d", "-c", conf.string()}, {}, dir.path() / "tinyproxy.log"};
  auto p = demo::PeerProcess::start(spec);
  if (!p) throw std::runtime_error(p.error().message);
  proc_ = std::move(p).value();
  // LogLevel Connect prints nothing at start: wait until the port accepts.
  for (int i = 0; i < 300 && !accepting(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!accepting()) throw std::runtime_error("tinyproxy did not listen: " + proc_->logTail());
}

std::string TinyproxyProcess::url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::string TinyproxyProcess::log() const {
  return proc_->logTail(1 << 20);
}

void TinyproxyProcess::stop() {
  proc_->stop();
}

bool TinyproxyProcess::accepting() const {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = loopback(port_);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace ocpvdr::testing
