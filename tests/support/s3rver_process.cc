// Launching and stopping s3rver for tests (see s3rver_process.h).
#include "support/s3rver_process.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

namespace ocpvdr::testing {

Result<std::unique_ptr<S3rverProcess>> S3rverProcess::start(
    const std::vector<std::string>& buckets) {
  return start(buckets, "127.0.0.1");
}

Result<std::unique_ptr<S3rverProcess>> S3rverProcess::start(const std::vector<std::string>& buckets,
                                                            const std::string& host) {
  const std::filesystem::path script = sourcePath("node_modules/s3rver/bin/s3rver.js");
  if (!std::filesystem::exists(script)) {
    std::cerr << "\n*** s3rver is not installed (" << script.string()
              << " missing): run `make deps` (npm ci). Skipping. ***\n\n";
    return notFoundError("s3rver not installed: " + script.string() + " missing (run make deps)");
  }
  const std::string node = demo::findProgram("node");
  if (node.empty()) {
    std::cerr << "\n*** node is not on PATH: s3rver cannot run. Skipping. ***\n\n";
    return notFoundError("node not found on PATH");
  }

  std::unique_ptr<S3rverProcess> p(new S3rverProcess());
  p->host_ = host;
  p->dir_ = std::make_unique<TempDir>("ocpvdr-s3rver");
  const std::string data = (p->dir_->path() / "data").string();
  std::filesystem::create_directories(data);

  demo::PeerSpec spec;
  spec.name = "s3rver";
  spec.argv = {node, script.string(), "-d", data, "-a", host, "-p", "0", "--silent"};
  for (const auto& b : buckets) {
    spec.argv.push_back("--configure-bucket");
    spec.argv.push_back(b);
  }
  spec.env = {{"NODE_OPTIONS", "--openssl-legacy-provider"}};
  spec.logFile = p->dir_->path() / "s3rver.log";
  auto proc = demo::PeerProcess::start(spec);
  if (!proc.ok()) return proc.error();
  p->proc_ = std::move(proc).value();

  // s3rver prints "S3rver listening on 127.0.0.1:<port>" once it accepts connections.
  const std::regex listening("listening on " +
                             std::regex_replace(host, std::regex(R"(\.)"), R"(\.)") + R"(:(\d+))");
  auto port = p->proc_->waitForLog(listening, std::chrono::seconds(30));
  if (!port.ok()) return port.error();
  p->port_ = std::stoi(*port);
  return p;
}

std::string S3rverProcess::log() const {
  if (!dir_) return {};
  std::ifstream in(dir_->path() / "s3rver.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void S3rverProcess::stop() {
  if (proc_) proc_->stop(std::chrono::seconds(5));
}

S3rverProcess::~S3rverProcess() {
  stop();
}

std::filesystem::path S3rverProcess::writeBackupStoreConfig(const TempDir& dir,
                                                            const std::string& file,
                                                            const std::string& bucket) const {
  auto creds =
      dir.write("cloud-credentials", std::string("[default]\naws_access_key_id = ") + kAccessKey +
                                         "\naws_secret_access_key = " + kSecretKey + "\n");
  return dir.write(file, R"(sites:
  primary:
    nfs:
      server: nfs-primary.example.com
      export_roots: [{export: /exports/ocp, path: /srv/nfs/ocp}]
  dr:
    nfs:
      server: nfs-dr.example.com
      export_roots: [{export: /exports/ocp-dr, path: /srv/nfs/ocp-dr}]
replication:
  path_mappings: [{primary: /exports/ocp, dr: /exports/ocp-dr}]
backup_store:
  endpoint: )" + endpoint() + R"(
  region: us-east-1
  bucket: )" + bucket + R"(
  prefix: velero
  credentials_file: )" + creds.string() +
                             R"(
  path_style: true
)");
}

}  // namespace ocpvdr::testing
