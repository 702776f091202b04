// Append-only dead-letter file (see dead_letter.h).
#include "forwarder/dead_letter.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/json_util.h"
#include "core/time.h"

namespace ocpvdr::forwarder {

Status DeadLetterFile::append(SystemTime at, int status, const std::string& response,
                              const std::string& body) {
  Json event = Json::parse(body, nullptr, false);
  if (event.is_discarded()) event = body;
  Json line = {
      {"at", formatTimeMillis(at)}, {"status", status}, {"response", response}, {"event", event}};
  std::string text = line.dump(-1, ' ', false, Json::error_handler_t::replace);
  text += '\n';
  std::lock_guard lock(mu_);
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return terminalError("cannot open dead-letter file " + path_ + ": " + std::strerror(errno));
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      return terminalError("cannot write dead-letter file " + path_ + ": " + std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return terminalError("cannot fsync dead-letter file " + path_);
  return Status::success();
}

}  // namespace ocpvdr::forwarder
