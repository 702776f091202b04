// Network-namespace ssh hosts (see netns_sites.h).
#include "demo/netns_sites.h"

#include "core/json_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

extern char** environ;

namespace ocpvdr::demo {
namespace fs = std::filesystem;
namespace {

using namespace std::chrono_literals;

Result<ProcessResult> runArgv(std::vector<std::string> argv,
                              std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  RealProcessRunner runner;
  ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.timeout = timeout;
  return runner.run(spec);
}

// Runs a setup command; any failure is an error quoting the command and its stderr.
Status must(std::vector<std::string> argv) {
  std::string shown;
  for (const auto& a : argv) shown += (shown.empty() ? "" : " ") + a;
  auto r = runArgv(argv);
  if (!r.ok()) return r.error().wrap(shown);
  if (!r->success())
    return terminalError(shown + " failed (exit " + std::to_string(r->exitCode) + "): " + r->err);
  return Status::success();
}

std::string readText(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void writeText(const fs::path& p, const std::string& s, mode_t mode = 0644) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << s;
  ::chmod(p.c_str(), mode);
}

bool pidAlive(long pid) {
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

// Machine-wide lock around subnet choice + bridge address assignment.
class SubnetLock {
 public:
  SubnetLock() {
    fd_ = ::open("/tmp/ocpvdr-netns.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~SubnetLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_ = -1;
};

std::vector<pid_t> pidsInNamespace(const std::string& ns) {
  std::vector<pid_t> out;
  auto r = runArgv({"ip", "netns", "pids", ns}, 10s);
  if (!r.ok() || !r->success()) return out;
  std::istringstream in(r->out);
  long pid;
  while (in >> pid)
    if (pid > 1 && pid != ::getpid()) out.push_back(static_cast<pid_t>(pid));
  return out;
}

// SIGTERM, a short grace, then SIGKILL, for every process inside the namespace.
void killNamespaceProcesses(const std::string& ns) {
  for (int round = 0; round < 2; ++round) {
    auto pids = pidsInNamespace(ns);
    if (pids.empty()) return;
    for (pid_t p : pids) ::kill(p, round == 0 ? SIGTERM : SIGKILL);
    for (int i = 0; i < 30 && !pidsInNamespace(ns).empty(); ++i) std::this_thread::sleep_for(100ms);
  }
}

std::string yamlString(const std::string& s) {
  return Json(s).dump();
}  // JSON strings are YAML

std::string yamlList(const std::vector<std::string>& v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + yamlString(v[i]);
  return out + "]";
}

std::string secs(std::chrono::seconds s) {
  return std::to_string(s.count()) + "s";
}

void siteYaml(std::ostringstream& y, const char* key, const config::Site& s) {
  y << "  " << key << ":\n"
    << "    name: " << yamlString(s.name) << "\n"
    << "    kubernetes:\n"
    << "      in_cluster: " << (s.kubernetes.inCluster ? "true" : "false") << "\n"
    << "      kubeconfig: " << yamlString(s.kubernetes.kubeconfig) << "\n"
    << "      context: " << yamlString(s.kubernetes.context) << "\n"
    << "    nfs:\n"
    << "      server: " << yamlString(s.nfsServer) << "\n"
    << "      aliases: " << yamlList(s.nfsAliases) << "\n"
    << "      export_roots:\n";
  for (const auto& r : s.exportRoots)
    y << "        - export: " << yamlString(r.exportPath) << "\n"
      << "          path: " << yamlString(r.hostPath) << "\n";
  y << "    ssh:\n"
    << "      host: " << yamlString(s.ssh.host) << "\n"
    << "      user: " << yamlString(s.ssh.user) << "\n"
    << "      port: " << s.ssh.port << "\n"
    << "      key_file: " << yamlString(s.ssh.keyFile) << "\n"
    << "      known_hosts_file: " << yamlString(s.ssh.knownHostsFile) << "\n"
    << "      strict_host_key_checking: " << (s.ssh.strictHostKeyChecking ? "true" : "false")
    << "\n"
    << "      control_persist: " << secs(s.ssh.controlPersist) << "\n"
    << "      connect_timeout: " << secs(s.ssh.connectTimeout) << "\n";
}

}  // namespace

Result<std::unique_ptr<NetnsHosts>> NetnsHosts::create(NetnsOptions opts) {
  if (::geteuid() != 0)
    return refusedError("not running as root: network namespaces and sshd need root");
  if (::access("/usr/sbin/sshd", X_OK) != 0)
    return refusedError("/usr/sbin/sshd is not installed (openssh-server)");
  cleanupStale();
  std::unique_ptr<NetnsHosts> h(new NetnsHosts(std::move(opts)));
  if (h->opts_.dir.empty()) {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ocpvdr-netns-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      return terminalError("mkdtemp " + tmpl + ": " + std::strerror(errno));
    h->dir_ = tmpl;
    h->ownDir_ = true;
  } else {
    std::error_code ec;
    fs::create_directories(h->opts_.dir, ec);
    if (ec) return terminalError("cannot create " + h->opts_.dir + ": " + ec.message());
    h->dir_ = h->opts_.dir;
  }
  Status s = h->setUp();
  if (!s.ok()) return s.error();  // destructor tears down whatever was created
  return h;
}

Status NetnsHosts::setUp() {
  static std::atomic<int> counter{0};
  serial_ = counter++;
  const long pid = ::getpid();
  const std::string id = std::to_string(pid) + "x" + std::to_string(serial_);
  primary_.role = "primary-nfs";
  dr_.role = "dr-nfs";
  primary_.ns = "ocpvdr-" + std::to_string(pid) + "-" + std::to_string(serial_) + "-primary";
  dr_.ns = "ocpvdr-" + std::to_string(pid) + "-" + std::to_string(serial_) + "-dr";
  bridge_ = "ovb" + id;
  primary_.hostVeth = "ovp" + id;
  dr_.hostVeth = "ovd" + id;
  primary_.root = dir_ / "primary";
  dr_.root = dir_ / "dr";
  primary_.exportDir = primary_.root / "srv/nfs/ocp";
  dr_.exportDir = dr_.root / "srv/nfs/ocp";
  fs::create_directories(primary_.exportDir);
  fs::create_directories(dr_.exportDir);
  std::error_code ec;
  fs::create_directories("/run/sshd", ec);  // sshd's privilege-separation directory

  if (Status s = must({"ip", "netns", "add", primary_.ns}); !s.ok())
    return refusedError("`ip netns add` failed (no network namespace support here?): " +
                        s.error().message);
  OCPVDR_TRY(must({"ip", "netns", "add", dr_.ns}));
  {
    SubnetLock lock;
    auto used = runArgv({"ip", "-4", "-o", "addr", "show"});
    std::string addrs = used.ok() ? used->out : "";
    std::size_t k = static_cast<std::size_t>(pid * 7 + serial_ * 13) % (50 * 256);
    for (std::size_t tries = 0; tries < 50 * 256; ++tries, k = (k + 1) % (50 * 256)) {
      std::string cand =
          "10." + std::to_string(201 + k / 256) + "." + std::to_string(k % 256) + ".";
      if (addrs.find(" " + cand) == std::string::npos) {
        subnet_ = cand;
        break;
      }
    }
    if (subnet_.empty())
      return terminalError("no free 10.201-250.x.0/24 subnet for the test bridge");
    bridgeIp_ = subnet_ + "1";
    OCPVDR_TRY(must({"ip", "link", "add", bridge_, "type", "bridge"}));
    bridgeCreated_ = true;
    OCPVDR_TRY(must({"ip", "addr", "add", bridgeIp_ + "/24", "dev", bridge_}));
    OCPVDR_TRY(must({"ip", "link", "set", bridge_, "up"}));
  }
  OCPVDR_TRY(setUpHost(primary_, "ovq" + id, subnet_ + "2"));
  OCPVDR_TRY(setUpHost(dr_, "ove" + id, subnet_ + "3"));

  // Keys: one client key (authorized on both hosts), one host key per host, known_hosts for both.
  OCPVDR_TRY(must({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ocpvdr-test-client", "-f",
                   clientKey()}));
  std::string known;
  for (NetnsHost* h : {&primary_, &dr_}) {
    fs::path key = h->root / "etc/ssh_host_ed25519_key";
    fs::create_directories(key.parent_path());
    OCPVDR_TRY(
        must({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", h->role, "-f", key.string()}));
    std::string pub = readText(key.string() + ".pub");
    auto sp = pub.find(' ', pub.find(' ') + 1);  // "type key comment" → "type key"
    known += h->ip + " " + pub.substr(0, sp) + "\n";
  }
  writeText(knownHosts(), known);
  writeText(dir_ / "authorized_keys", readText(clientKey() + ".pub"), 0600);
  if (opts_.startSshd) {
    OCPVDR_TRY(startSshd(primary_));
    OCPVDR_TRY(startSshd(dr_));
  }
  return Status::success();
}

Status NetnsHosts::setUpHost(NetnsHost& h, const std::string& peer, const std::string& ip) {
  h.ip = ip;
  OCPVDR_TRY(must({"ip", "link", "add", h.hostVeth, "type", "veth", "peer", "name", peer}));
  OCPVDR_TRY(must({"ip", "link", "set", peer, "netns", h.ns}));
  OCPVDR_TRY(must({"ip", "link", "set", h.hostVeth, "master", bridge_}));
  OCPVDR_TRY(must({"ip", "link", "set", h.hostVeth, "up"}));
  OCPVDR_TRY(must({"ip", "-n", h.ns, "link", "set", peer, "name", "eth0"}));
  OCPVDR_TRY(must({"ip", "-n", h.ns, "addr", "add", ip + "/24", "dev", "eth0"}));
  OCPVDR_TRY(must({"ip", "-n", h.ns, "link", "set", "eth0", "up"}));
  OCPVDR_TRY(must({"ip", "-n", h.ns, "link", "set", "lo", "up"}));
  return Status::success();
}

Status NetnsHosts::startSshd(NetnsHost& h) {
  fs::path cfg = h.root / "etc/sshd_config";
  h.sshdLog = h.root / "sshd.log";
  std::ostringstream c;
  c << "ListenAddress " << h.ip << "\n"
    << "Port 22\n"
    << "HostKey " << (h.root / "etc/ssh_host_ed25519_key").string() << "\n"
    << "PidFile " << (h.root / "sshd.pid").string() << "\n"
    << "AuthorizedKeysFile " << (dir_ / "authorized_keys").string() << "\n"
    << "PermitRootLogin prohibit-password\n"
    << "PubkeyAuthentication yes\n"
    << "PasswordAuthentication no\n"
    << "KbdInteractiveAuthentication no\n"
    << "StrictModes no\n"
    << "UsePAM no\n"
    << "LogLevel VERBOSE\n"
    // Parallel syncs (reconcile, benchmarks) open many sessions at once.
    << "MaxStartups 200:30:400\n"
    << "MaxSessions 200\n"
    << "Subsystem sftp internal-sftp\n";
  for (const auto& line : opts_.sshdExtraConfig) c << line << "\n";
  writeText(cfg, c.str());

  int logFd = ::open(h.sshdLog.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (logFd < 0) return terminalError("cannot create " + h.sshdLog.string());
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, logFd, 1);
  posix_spawn_file_actions_adddup2(&fa, logFd, 2);
  std::vector<std::string> argv{"ip", "netns", "exec", h.ns,        "/usr/sbin/sshd",
                                "-D", "-e",    "-f",   cfg.string()};
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, "ip", &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(logFd);
  if (rc != 0) return terminalError(std::string("cannot start sshd: ") + std::strerror(rc));
  h.sshdPid = pid;

  // Ready when its port accepts a connection (the bridge routes root-ns → namespace).
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      h.sshdPid = -1;
      return terminalError("sshd in " + h.ns + " exited at start: " + readText(h.sshdLog));
    }
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(22);
    ::inet_pton(AF_INET, h.ip.c_str(), &sa.sin_addr);
    bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    ::close(fd);
    if (up) return Status::success();
    std::this_thread::sleep_for(50ms);
  }
  return terminalError("sshd in " + h.ns + " did not listen on " + h.ip +
                       ":22 within 15s: " + readText(h.sshdLog));
}

NetnsHosts::~NetnsHosts() {
  tearDown();
}

void NetnsHosts::tearDown() {
  // Shared ssh masters started from the root namespace (in-process Replicators) live outside the
  // namespaces: ask each control socket of this instance to exit.
  std::error_code ec;
  fs::path ctl = dr_.root / "locks/ssh";
  if (fs::is_directory(ctl, ec)) {
    for (const auto& e : fs::directory_iterator(ctl, ec))
      if (e.is_socket(ec)) (void)runArgv({"ssh", "-S", e.path().string(), "-O", "exit", "x"}, 10s);
  }
  for (NetnsHost* h : {&primary_, &dr_}) {
    if (h->sshdPid > 0) {
      ::kill(h->sshdPid, SIGTERM);
      int status = 0;
      for (int i = 0; i < 50; ++i) {
        if (::waitpid(h->sshdPid, &status, WNOHANG) == h->sshdPid) {
          h->sshdPid = -1;
          break;
        }
        std::this_thread::sleep_for(20ms);
      }
      if (h->sshdPid > 0) {
        ::kill(h->sshdPid, SIGKILL);
        ::waitpid(h->sshdPid, &status, 0);
        h->sshdPid = -1;
      }
    }
    if (!h->ns.empty()) {
      killNamespaceProcesses(h->ns);
      (void)runArgv({"ip", "netns", "del", h->ns}, 10s);
    }
    if (!h->hostVeth.empty()) (void)runArgv({"ip", "link", "del", h->hostVeth}, 10s);
  }
  if (bridgeCreated_) (void)runArgv({"ip", "link", "del", bridge_}, 10s);
  if (ownDir_) fs::remove_all(dir_, ec);
}

config::Config NetnsHosts::config() const {
  config::Config c;
  auto site = [&](const NetnsHost& h, const std::string& name, const std::string& server) {
    config::Site s;
    s.name = name;
    s.nfsServer = server;
    s.nfsAliases = {h.ip};
    s.ssh.host = h.ip;
    s.ssh.user = "root";
    s.ssh.port = 22;
    s.ssh.keyFile = clientKey();
    s.ssh.knownHostsFile = knownHosts();
    s.ssh.strictHostKeyChecking = true;
    s.ssh.controlPersist = std::chrono::seconds(60);
    s.ssh.connectTimeout = std::chrono::seconds(5);
    s.exportRoots = {{opts_.exportPath, h.exportDir.string()}};
    return s;
  };
  c.primary = site(primary_, "primary", opts_.primaryServer);
  c.dr = site(dr_, "dr", opts_.drServer);
  c.replication.transport = config::Transport::Ssh;
  c.replication.pathMappings = {{opts_.exportPath, opts_.exportPath}};
  c.replication.storageClasses = {"nfs-dynamic", "nfs-csi"};
  c.replication.lockDir = (dr_.root / "locks").string();
  c.catalog.path = (dr_.root / "catalog.db").string();
  c.failover.workDir = (dr_.root / "failover").string();
  c.forwarder.spoolDir = (dir_ / "forwarder").string();
  return c;
}

std::string NetnsHosts::toYaml(const config::Config& c) {
  std::ostringstream y;
  y << "# written by ocpv-dr (demo/netns_sites)\nsites:\n";
  siteYaml(y, "primary", c.primary);
  siteYaml(y, "dr", c.dr);
  const auto& r = c.replication;
  std::string policy = r.deletePolicy == config::DeletePolicy::Keep     ? "keep"
                       : r.deletePolicy == config::DeletePolicy::Delete ? "delete"
                                                                        : "quarantine";
  y << "replication:\n"
    << "  transport: " << (r.transport == config::Transport::Local ? "local" : "ssh") << "\n"
    << "  storage_classes: " << yamlList(r.storageClasses) << "\n"
    << "  path_mappings:\n";
  for (const auto& m : r.pathMappings)
    y << "    - primary: " << yamlString(m.primary) << "\n"
      << "      dr: " << yamlString(m.dr) << "\n";
  y << "  rsync:\n"
    << "    binary: " << yamlString(r.rsync.binary) << "\n"
    << "    inplace: " << (r.rsync.inplace ? "true" : "false") << "\n"
    << "    bwlimit_kibps: " << r.rsync.bwlimitKiBps << "\n"
    << "    io_timeout: " << secs(r.rsync.ioTimeout) << "\n"
    << "    max_duration: " << secs(r.rsync.maxDuration) << "\n"
    << "    partial_dir: " << yamlString(r.rsync.partialDir) << "\n"
    << "    extra_args: " << yamlList(r.rsync.extraArgs) << "\n"
    << "  mover: " << config::toString(r.mover) << "\n"
    << "  mover_path: " << yamlString(r.moverPath) << "\n"
    << "  mover_local_path: " << yamlString(r.moverLocalPath) << "\n"
    << "  parallelism: " << r.parallelism << "\n"
    << "  delete_policy: " << policy << "\n"
    << "  trash_retention: " << secs(r.trashRetention) << "\n"
    << "  snapshot_data: " << (r.snapshotData ? "true" : "false") << "\n"
    << "  lock_dir: " << yamlString(r.lockDir) << "\n"
    << "catalog:\n"
    << "  path: " << yamlString(c.catalog.path) << "\n"
    << "failover:\n"
    << "  work_dir: " << yamlString(c.failover.workDir) << "\n"
    << "forwarder:\n"
    << "  spool_dir: " << yamlString(c.forwarder.spoolDir) << "\n";
  return y.str();
}

fs::path NetnsHosts::writeConfig(const config::Config& cfg, const std::string& name) const {
  fs::path p = dir_ / name;
  writeText(p, toYaml(cfg));
  return p;
}

std::vector<std::string> NetnsHosts::onHost(const NetnsHost& h,
                                            std::vector<std::string> argv) const {
  std::vector<std::string> out{"ip", "netns", "exec", h.ns};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

Result<ProcessResult> NetnsHosts::runOn(const NetnsHost& h, std::vector<std::string> argv,
                                        std::chrono::milliseconds timeout) const {
  return runArgv(onHost(h, std::move(argv)), timeout);
}

Status NetnsHosts::setLink(const NetnsHost& h, bool up) const {
  return must({"ip", "link", "set", h.hostVeth, up ? "up" : "down"});
}

std::string NetnsHosts::sshdLogText(const NetnsHost& h) const {
  return readText(h.sshdLog);
}

int NetnsHosts::cleanupStale() {
  int removed = 0;
  static const std::regex kNs(R"(^ocpvdr-([0-9]+)-([0-9]+)-(primary|dr)$)");
  static const std::regex kLink(R"(^ov[bpdqe]([0-9]+)x([0-9]+)$)");
  auto list = runArgv({"ip", "netns", "list"}, 10s);
  if (list.ok() && list->success()) {
    std::istringstream in(list->out);
    std::string line;
    while (std::getline(in, line)) {
      std::string name = line.substr(0, line.find(' '));
      std::smatch m;
      if (std::regex_match(name, m, kNs) && !pidAlive(std::stol(m[1]))) {
        killNamespaceProcesses(name);
        if (runArgv({"ip", "netns", "del", name}, 10s).ok()) ++removed;
      }
    }
  }
  auto links = runArgv({"ip", "-o", "link", "show"}, 10s);
  if (links.ok() && links->success()) {
    std::istringstream in(links->out);
    std::string line;
    while (std::getline(in, line)) {
      // "12: ovb123x0: <...>" or "13: ovp123x0@if12: <...>"
      auto a = line.find(": ");
      if (a == std::string::npos) continue;
      auto b = line.find_first_of(":@", a + 2);
      std::string name = line.substr(a + 2, b - a - 2);
      std::smatch m;
      if (std::regex_match(name, m, kLink) && !pidAlive(std::stol(m[1])))
        if (runArgv({"ip", "link", "del", name}, 10s).ok()) ++removed;
    }
  }
  return removed;
}

Result<ProcessResult> NetnsProcessRunner::run(const ProcessSpec& spec, std::stop_token stop) {
  ProcessSpec s = spec;
  s.argv.insert(s.argv.begin(), {"ip", "netns", "exec", ns_});
  return inner_.run(s, stop);
}

}  // namespace ocpvdr::demo
