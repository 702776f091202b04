// SecretSource: a credential the forwarder sends (the webhook Bearer token, the HMAC key), read
// from a file — a mounted Secret, re-read when it changes so a fixed token is picked up without a
// restart — or from an environment variable (read once). Surrounding whitespace (the trailing
// newline `echo` and most editors add) is not part of the secret.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/clock.h"
#include "core/result.h"
#include "core/secret_file.h"

namespace ocpvdr::forwarder {

class SecretSource {
 public:
  // Nothing configured: value() is always empty.
  SecretSource() = default;
  static SecretSource fromValue(std::string value);
  // The file is checked (stat: mtime, size, inode) at most once per `recheck` (core/secret_file.h).
  static SecretSource fromFile(std::string path, Clock& clock,
                               std::chrono::milliseconds recheck = std::chrono::seconds(1));

  // The current value. A file that cannot be read keeps the last value read and returns the
  // error only when nothing was ever read (NotFound / Terminal naming the file).
  [[nodiscard]] Result<std::string> value();
  // Re-checks the file now (ignoring the recheck interval).
  [[nodiscard]] Result<std::string> reload();
  // Bumped every time the value read changes; lets waiters notice a new token.
  std::uint64_t generation();
  bool configured() const { return file_ != nullptr || hasValue_; }
  const std::string& path() const;

 private:
  Result<std::string> read(bool force);

  std::unique_ptr<SecretFile> file_;  // from a file
  std::string value_;                 // from a value
  bool hasValue_ = false;
};

}  // namespace ocpvdr::forwarder
