// S3rverProcess: a real s3rver (npm, installed by `make deps` under node_modules/) on 127.0.0.1
// with an OS-chosen port and a private data directory, for object-store behaviour tests and the
// failover end-to-end tests. RAII: the destructor stops it by PID (SIGTERM, then SIGKILL).
// Launching and stopping is demo::PeerProcess's (the demo runs s3rver the same way).
//
// s3rver accepts any well-formed SigV4 signature for its built-in key pair S3RVER/S3RVER (it
// checks that the access key exists, not the signature), so signing is proven elsewhere
// (tests/s3/sigv4_*). It needs NODE_OPTIONS=--openssl-legacy-provider on Node 17+.
//
// Usage:
//   auto s3 = S3rverProcess::start({"backups"});
//   if (!s3.ok() && s3.error().kind == ErrorKind::NotFound) GTEST_SKIP() << s3.error().message;
//   ASSERT_TRUE(s3.ok()) << s3.error().describe();
#pragma once

#include <sys/types.h>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "demo/peer_process.h"
#include "support/temp_dir.h"

namespace ocpvdr::testing {

class S3rverProcess {
 public:
  static constexpr const char* kAccessKey = "S3RVER";
  static constexpr const char* kSecretKey = "S3RVER";

  // Starts s3rver with the given buckets created. NotFound when node or node_modules/s3rver is
  // missing (the caller skips, loudly); any other error means s3rver itself failed.
  static Result<std::unique_ptr<S3rverProcess>> start(const std::vector<std::string>& buckets);
  // The same, listening on `host` (an IPv4 address: the netns test bridge, so that processes in
  // the namespace hosts can reach it) instead of 127.0.0.1.
  static Result<std::unique_ptr<S3rverProcess>> start(const std::vector<std::string>& buckets,
                                                      const std::string& host);

  ~S3rverProcess();
  S3rverProcess(const S3rverProcess&) = delete;
  S3rverProcess& operator=(const S3rverProcess&) = delete;

  int port() const { return port_; }
  std::string endpoint() const { return "http://" + host_ + ":" + std::to_string(port_); }
  pid_t pid() const { return proc_ ? proc_->pid() : -1; }
  // s3rver's own output (stdout and stderr), for diagnostics.
  std::string log() const;
  // Writes dir/cloud-credentials (this server's keys) and dir/<file>: an ocpv-dr configuration
  // with two example sites (no data paths of this host) whose backup_store is `bucket` (prefix
  // velero, path-style) on this server. Returns the configuration's path.
  std::filesystem::path writeBackupStoreConfig(const TempDir& dir, const std::string& file,
                                               const std::string& bucket) const;

 private:
  S3rverProcess() = default;
  void stop();

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<demo::PeerProcess> proc_;
  int port_ = 0;
  std::string host_ = "127.0.0.1";
};

}  // namespace ocpvdr::testing
