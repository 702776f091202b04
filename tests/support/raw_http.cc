// Raw HTTP/1.1 requests from tests (see raw_http.h).
#include "support/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

namespace ocpvdr::testing {

RawAnswer rawRequest(int port, const RawRequest& r) {
  RawAnswer a;
  const auto start = std::chrono::steady_clock::now();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return a;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return a;
  }
  // Blocking sends wake up every 100ms so the sender notices the answer has come.
  timeval tv{0, 100'000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

  std::atomic<bool> stop{false};
  std::atomic<std::size_t> sent{0};
  std::atomic<bool> finished{false};
  std::thread sender([&] {
    auto sendAll = [&](const std::string& data) {
      std::size_t off = 0;
      while (off < data.size()) {
        if (stop) return false;
        ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
          return false;
        }
        off += static_cast<std::size_t>(n);
      }
      return true;
    };
    if (!sendAll(r.endHeaders ? r.head + "\r\n\r\n" : r.head)) return;
    char size[32];
    while (sent < r.bodyBytes && !r.unit.empty()) {
      std::string piece = r.unit.substr(0, std::min(r.unit.size(), r.bodyBytes - sent));
      if (r.chunked) {
        std::snprintf(size, sizeof(size), "%zx\r\n", piece.size());
        piece = size + piece + "\r\n";
      }
      if (!sendAll(piece)) return;
      sent += std::min(r.unit.size(), r.bodyBytes - sent);
    }
    if (r.chunked && !sendAll("0\r\n\r\n")) return;
    finished = true;
    if (r.closeAfterBody) ::shutdown(fd, SHUT_WR);
  });

  std::string in;
  std::size_t headEnd = std::string::npos;
  std::size_t want = std::string::npos;
  const auto deadline = start + r.timeout;
  char buf[16384];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
    if (headEnd == std::string::npos && (headEnd = in.find("\r\n\r\n")) != std::string::npos) {
      a.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
      a.sentBeforeAnswer = sent;
      a.senderFinished = finished;
      a.head = in.substr(0, headEnd);
      std::sscanf(a.head.c_str(), "HTTP/1.%*d %d", &a.status);
      auto cl = a.head.find("Content-Length: ");
      if (cl != std::string::npos) want = std::stoul(a.head.substr(cl + 16));
    }
    if (headEnd != std::string::npos && want != std::string::npos &&
        in.size() >= headEnd + 4 + want)
      break;
  }
  if (headEnd != std::string::npos) a.body = in.substr(headEnd + 4);
  stop = true;
  ::shutdown(fd, SHUT_RDWR);
  sender.join();
  ::close(fd);
  return a;
}

}  // namespace ocpvdr::testing
