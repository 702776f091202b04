// File/env credentials with change detection (see secret_source.h).
#include "forwarder/secret_source.h"

#include "core/log.h"
#include "core/text.h"

namespace ocpvdr::forwarder {

SecretSource SecretSource::fromValue(std::string value) {
  SecretSource s;
  s.value_ = std::string(trim(value));
  s.hasValue_ = true;
  log::addSecret(s.value_);
  return s;
}

SecretSource SecretSource::fromFile(std::string path, Clock& clock,
                                    std::chrono::milliseconds recheck) {
  SecretSource s;
  s.file_ = std::make_unique<SecretFile>(std::move(path), clock, recheck);
  return s;
}

const std::string& SecretSource::path() const {
  static const std::string kNone;
  return file_ ? file_->path() : kNone;
}

Result<std::string> SecretSource::read(bool force) {
  if (!file_) return value_;
  Status st = file_->refresh(force);
  if (!st.ok() && !file_->hasValue()) return st.error();
  return file_->value();
}

Result<std::string> SecretSource::value() {
  return read(false);
}

Result<std::string> SecretSource::reload() {
  return read(true);
}

std::uint64_t SecretSource::generation() {
  if (!file_) return hasValue_ ? 1 : 0;
  (void)file_->refresh(false);
  return file_->generation();
}

}  // namespace ocpvdr::forwarder
