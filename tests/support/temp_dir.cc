// Temporary directories and repository paths for tests.
#include "support/temp_dir.h"

#include <unistd.h>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace ocpvdr::testing {

TempDir::TempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + tmpl);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path TempDir::write(const std::string& rel, const std::string& content) const {
  auto p = path_ / rel;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f << content;
  if (!f) throw std::runtime_error("cannot write " + p.string());
  return p;
}

std::filesystem::path sourcePath(const std::string& rel) {
  return std::filesystem::path(OCPVDR_SOURCE_DIR) / rel;
}

std::filesystem::path fixturePath(const std::string& rel) {
  return std::filesystem::path(OCPVDR_SOURCE_DIR) / "tests" / "fixtures" / rel;
}

std::filesystem::path binaryPath(const std::string& rel) {
  return std::filesystem::path(OCPVDR_BINARY_DIR) / rel;
}

}  // namespace ocpvdr::testing
