// Starting and stopping kube-sim for tests; REST helpers over cpp-httplib; a self-signed
// certificate for TLS runs.
#include "support/kube_sim_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/files.h"

namespace ocpvdr::testing {

namespace {

std::string base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

int decodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

nlohmann::json KubeSimResponse::json() const {
  auto j = nlohmann::json::parse(body, nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}

std::string KubeSimResponse::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(a) == std::tolower(b);
        })) {
      return v;
    }
  }
  return "";
}

void generateSelfSignedCert(const std::string& certPath, const std::string& keyPath,
                            const std::string& extraIp) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (!key) throw std::runtime_error("EVP_EC_gen failed");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), static_cast<long>(std::time(nullptr)));
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 7L * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("kube-sim"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  std::string sans = "IP:127.0.0.1,DNS:localhost";
  if (!extraIp.empty() && extraIp != "127.0.0.1") sans += ",IP:" + extraIp;
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, sans.c_str()},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                            std::pair{NID_key_usage, "critical,digitalSignature,keyCertSign"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (!ext) throw std::runtime_error("X509V3_EXT_conf_nid failed");
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert, key, EVP_sha256()) == 0) throw std::runtime_error("X509_sign failed");
  FILE* cf = std::fopen(certPath.c_str(), "w");
  FILE* kf = std::fopen(keyPath.c_str(), "w");
  const bool ok = cf && kf && PEM_write_X509(cf, cert) == 1 &&
                  PEM_write_PrivateKey(kf, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  if (cf) std::fclose(cf);
  if (kf) std::fclose(kf);
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) throw std::runtime_error("cannot write " + certPath + " / " + keyPath);
}

KubeSimProcess::KubeSimProcess(KubeSimOptions options)
    : options_(std::move(options)), dir_("kube-sim") {
  std::string binary = binaryPath("tools/kube-sim/kube-sim").string();
  if (const char* env = std::getenv("OCPVDR_KUBE_SIM"); env && *env) binary = env;
  if (::access(binary.c_str(), X_OK) != 0) {
    throw std::runtime_error("kube-sim binary not found at " + binary +
                             " (does the test target depend on kube-sim?)");
  }
  std::vector<std::string> args = {binary,
                                   "--listen",
                                   options_.listen,
                                   "--token",
                                   options_.token,
                                   "--compaction-window",
                                   std::to_string(options_.compactionWindow)};
  if (options_.tls) {
    caFile_ = (dir_ / "tls.crt").string();
    const std::string keyFile = (dir_ / "tls.key").string();
    // The certificate must name the address the clients will dial (--listen host).
    const std::string host = options_.listen.substr(0, options_.listen.rfind(':'));
    generateSelfSignedCert(caFile_, keyFile, host == "0.0.0.0" ? "" : host);
    args.insert(args.end(), {"--tls-cert", caFile_, "--tls-key", keyFile});
  }
  if (!options_.loadFile.empty()) args.insert(args.end(), {"--load", options_.loadFile});
  args.insert(args.end(), options_.extraArgs.begin(), options_.extraArgs.end());

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  const std::string errPath = (dir_ / "stderr.log").string();
  // Everything the child needs is prepared before fork(): after it, only async-signal-safe calls.
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int errFd = ::open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // If the test process dies without running destructors (a ctest timeout), take kube-sim
    // down with it instead of leaving it listening. (Tied to the forking thread: create
    // KubeSimProcess on a thread that outlives it, such as the test's own.)
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(126);
    ::dup2(out[1], STDOUT_FILENO);
    if (errFd >= 0) ::dup2(errFd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (errFd >= 0) ::close(errFd);
  ::close(out[1]);

  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool gotLine = false;
  while (!gotLine) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{out[0], POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r <= 0) continue;
    char buf[256];
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;  // EOF: the process closed stdout (most likely it died)
    line.append(buf, static_cast<std::size_t>(n));
    gotLine = line.find('\n') != std::string::npos;
  }
  ::close(out[0]);
  static const std::string kPrefix = "kube-sim listening on ";
  if (!gotLine || line.compare(0, kPrefix.size(), kPrefix) != 0) {
    const int status = stop(std::chrono::milliseconds(500));
    // Thrown out of the test body, this fails the test with kube-sim's own complaint.
    throw std::runtime_error("kube-sim did not start (exit status " + std::to_string(status) +
                             ", stdout \"" + line + "\"): " + stderrText());
  }
  url_ = line.substr(kPrefix.size(), line.find('\n') - kPrefix.size());
  auto hostStart = url_.find("://") + 3;
  auto colon = url_.rfind(':');
  host_ = url_.substr(hostStart, colon - hostStart);
  port_ = std::stoi(url_.substr(colon + 1));
}

KubeSimProcess::~KubeSimProcess() {
  if (pid_ <= 0) return;  // already stopped (and its status seen) by the test
  const int status = stop();
  // A crash (or a sanitizer abort) inside kube-sim would otherwise pass unnoticed.
  if (status != 0) {
    ADD_FAILURE() << "kube-sim (" << url_ << ") exited with status " << status << ": "
                  << stderrText();
  }
}

int KubeSimProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return exitStatus_;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (r < 0) {
      status = -1;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  exitStatus_ = status == -1 ? -1 : decodeWaitStatus(status);
  pid_ = -1;
  return exitStatus_;
}

std::string KubeSimProcess::stderrText() const {
  return slurp((dir_ / "stderr.log").string());
}

std::string KubeSimProcess::writeKubeconfig(const std::string& path, const std::string& context,
                                            const std::string& token) const {
  std::ostringstream y;
  y << "apiVersion: v1\nkind: Config\nclusters:\n- name: " << context << "\n  cluster:\n"
    << "    server: " << url_ << "\n";
  if (options_.tls) {
    y << "    certificate-authority-data: " << base64(slurp(caFile_)) << "\n";
  }
  y << "users:\n- name: " << context
    << "\n  user:\n    token: " << (token.empty() ? options_.token : token) << "\n"
    << "contexts:\n- name: " << context << "\n  context:\n    cluster: " << context
    << "\n    user: " << context << "\n    namespace: default\n"
    << "current-context: " << context << "\n";
  std::ofstream f(path, std::ios::binary);
  f << y.str();
  if (!f) throw std::runtime_error("cannot write kubeconfig " + path);
  return path;
}

KubeSimResponse KubeSimProcess::send(const std::string& method, const std::string& path,
                                     const std::string& body, const std::string& contentType,
                                     const std::map<std::string, std::string>& extraHeaders) const {
  httplib::Client cli(url_);
  if (options_.tls) {
    cli.set_ca_cert_path(caFile_.c_str());
    cli.enable_server_certificate_verification(true);
  }
  cli.set_connection_timeout(5);
  cli.set_read_timeout(60);
  httplib::Headers headers = {{"Authorization", "Bearer " + options_.token}};
  for (const auto& [k, v] : extraHeaders) {
    if (k == "Authorization") headers.erase(k);
    if (!v.empty()) headers.emplace(k, v);
  }
  auto call = [&]() -> httplib::Result {
    if (method == "GET") return cli.Get(path, headers);
    if (method == "POST") return cli.Post(path, headers, body, contentType);
    if (method == "PUT") return cli.Put(path, headers, body, contentType);
    if (method == "PATCH") return cli.Patch(path, headers, body, contentType);
    if (body.empty()) return cli.Delete(path, headers);
    return cli.Delete(path, headers, body, contentType);
  };
  if (method != "GET" && method != "POST" && method != "PUT" && method != "PATCH" &&
      method != "DELETE") {
    KubeSimResponse bad;
    bad.error = "unsupported method " + method;
    return bad;
  }
  httplib::Result r = call();
  KubeSimResponse out;
  if (!r) {
    out.error = httplib::to_string(r.error());
    return out;
  }
  out.status = r->status;
  out.body = r->body;
  for (const auto& [k, v] : r->headers) out.headers.emplace(k, v);
  return out;
}

nlohmann::json KubeSimProcess::request(const std::string& method, const std::string& path,
                                       const std::string& body, const std::string& contentType) {
  auto r = send(method, path, body, contentType);
  if (r.status == 0) ADD_FAILURE() << method << " " << path << ": " << r.error;
  return r.json();
}

nlohmann::json KubeSimProcess::admin(const std::string& method, const std::string& path,
                                     const nlohmann::json& body) {
  const std::string full = path.rfind("/admin/", 0) == 0 ? path : "/admin/" + path;
  auto r = send(method, full, body.is_null() ? "" : body.dump(), "application/json");
  if (r.status < 200 || r.status >= 300) {
    ADD_FAILURE() << "kube-sim admin " << method << " " << full << " -> " << r.status << " "
                  << r.body << r.error;
  }
  return r.json();
}

void KubeSimProcess::compact() {
  (void)admin("POST", "/admin/compact");
}

void KubeSimProcess::closeWatches() {
  (void)admin("POST", "/admin/close-watches");
}

void KubeSimProcess::setFaults(const nlohmann::json& faults) {
  (void)admin("POST", "/admin/faults", faults);
}

}  // namespace ocpvdr::testing
