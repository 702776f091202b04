// TempDir: a fresh directory under $TMPDIR for one test, removed (recursively) on destruction.
#pragma once

#include <filesystem>
#include <string>

namespace ocpvdr::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "ocpvdr-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }
  // Writes a file (creating parent directories) and returns its path.
  std::filesystem::path write(const std::string& rel, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

// Path of a file under the repository (OCPVDR_SOURCE_DIR), and under tests/fixtures/.
std::filesystem::path sourcePath(const std::string& rel);
std::filesystem::path fixturePath(const std::string& rel);
// Path of a built binary (e.g. "src/cli/ocpv-dr", "tools/kube-sim/kube-sim").
std::filesystem::path binaryPath(const std::string& rel);

}  // namespace ocpvdr::testing
