// `ocpv-dr-demo` stage by stage (see demo.h).
#include "demo/demo.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <vector>

#include "catalog/catalog.h"
#include "config/config.h"
#include "core/curl_http.h"
#include "core/json_util.h"
#include "demo/netns_sites.h"
#include "demo/peer_process.h"
#include "demo/scenario.h"
#include "demo/velero_writer.h"
#include "failover/preflight.h"
#include "kube/connect.h"
#include "kube/resource_type.h"
#include "replication/path_map.h"
#include "s3/s3_object_store.h"

namespace ocpvdr::demo {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr const char* kMarker = ".ocpv-dr-demo";
constexpr const char* kS3Key = "S3RVER";  // s3rver's built-in key pair
constexpr const char* kBucket = "oadp";
constexpr const char* kPrefix = "velero";
constexpr const char* kBackup = "demo-nightly";
constexpr const char* kOadp = "openshift-adp";
constexpr const char* kExportPath = "/exports/ocp";
constexpr std::int64_t kDiskBytes = 64LL << 20;  // apparent size of each sparse disk.img
constexpr std::size_t kBlock = 64 << 10;         // written blocks

std::string slurp(const fs::path& p) {
  return readFile(p.string()).valueOr("");
}

Status writeFile(const fs::path& p, const std::string& text, mode_t mode = 0644) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    f << text;
    if (!f) return terminalError("cannot write " + p.string());
  }
  ::chmod(p.c_str(), mode);
  return Status::success();
}

std::string randomHex(std::size_t bytes) {
  std::vector<unsigned char> b(bytes);
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) {
    std::random_device rd;  // OpenSSL's generator failing is not expected; do not stop the demo
    for (auto& c : b) c = static_cast<unsigned char>(rd());
  }
  std::ostringstream s;
  for (unsigned char c : b) s << std::hex << std::setw(2) << std::setfill('0') << int(c);
  return s.str();
}

Result<std::string> sha256File(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return notFoundError("cannot read " + p.string());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &n);
  std::ostringstream s;
  for (unsigned int i = 0; i < n; ++i)
    s << std::hex << std::setw(2) << std::setfill('0') << int(md[i]);
  return s.str();
}

// A sparse disk image: kDiskBytes apparent size, `blocks` blocks of data written at spread
// offsets (what a VM's first boot leaves behind, in miniature).
Status writeSparseDisk(const fs::path& p, unsigned seed, int blocks) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return terminalError("cannot create " + p.string());
  if (::ftruncate(fd, kDiskBytes) != 0) {
    ::close(fd);
    return terminalError("cannot size " + p.string());
  }
  std::mt19937 rng(seed);
  std::string block(kBlock, '\0');
  for (int k = 0; k < blocks; ++k) {
    for (auto& c : block) c = static_cast<char>(rng());
    const off_t at = static_cast<off_t>((kDiskBytes / blocks) * k + (seed % 16) * 4096);
    if (::pwrite(fd, block.data(), block.size(), at) != static_cast<ssize_t>(block.size())) {
      ::close(fd);
      return terminalError("cannot write " + p.string());
    }
  }
  ::close(fd);
  return Status::success();
}

std::string kubeconfigYaml(const std::string& name, const std::string& url,
                           const std::string& token) {
  // JSON is YAML: the product's kubeconfig reader takes it as it is.
  Json k = {
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"clusters", {{{"name", name}, {"cluster", {{"server", url}}}}}},
      {"users", {{{"name", "demo-admin"}, {"user", {{"token", token}}}}}},
      {"contexts", {{{"name", name}, {"context", {{"cluster", name}, {"user", "demo-admin"}}}}}},
      {"current-context", name}};
  return k.dump(2) + "\n";
}

std::string rel(const fs::path& p) {
  std::error_code ec;
  fs::path r = fs::relative(p, fs::current_path(ec), ec);
  if (ec || r.empty() || r.string().rfind("..", 0) == 0) return p.string();
  return r.string();
}

std::string fmtSeconds(const Json& v) {
  if (!v.is_number()) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(v.is_number_float() ? 1 : 0) << v.get<double>() << "s";
  return s.str();
}

std::string pad(std::string s, std::size_t w) {
  if (s.size() < w) s += std::string(w - s.size(), ' ');
  return s;
}

struct SimSite {
  std::string name;  // "primary" | "dr"
  std::unique_ptr<PeerProcess> proc;
  std::string url, token, kubeconfig;
  std::optional<kube::KubeConnection> conn;
  kube::KubeClient& api() { return *conn->client; }
};

class DemoRun {
 public:
  DemoRun(const DemoOptions& o, ProcessRunner& runner, HttpClient& http, Clock& clock,
          std::ostream& out, std::stop_token stop)
      : opt_(o), runner_(runner), http_(http), clock_(clock), out_(out), stop_(stop) {}

  int run();

 private:
  struct Stage {
    std::string title, what;
    Status (DemoRun::*fn)();
  };

  Status prepare();
  Status startSites();
  Status startEngine();
  Status createWorkloads();
  Status watchReplication();
  Status snapshotRoundTrip();
  Status reconcile();
  Status backup();
  Status failover();
  Status report();
  Status teardown();

  Result<std::unique_ptr<PeerProcess>> startKubeSim(SimSite& site,
                                                    const std::vector<std::string>& controllers);
  std::vector<std::string> onDrHost(std::vector<std::string> argv) const;
  Result<ProcessResult> cli(std::vector<std::string> args, std::chrono::seconds timeout);
  Result<Json> serveStatus();
  Status waitUntil(const std::string& what, const std::function<Result<bool>()>& pred,
                   std::chrono::milliseconds every = 250ms);
  Status checkDrCopies(const std::string& file);
  void look(const std::string& label, const fs::path& p) {
    out_ << "    " << pad(label, 22) << rel(p) << "\n";
  }
  void say(const std::string& line) { out_ << "  " << line << "\n"; }

  const DemoOptions& opt_;
  ProcessRunner& runner_;
  HttpClient& http_;
  Clock& clock_;
  std::ostream& out_;
  std::stop_token stop_;

  fs::path work_;
  bool netns_ = false;
  std::unique_ptr<NetnsHosts> hosts_;
  std::string listenHost_ = "127.0.0.1";
  SimSite primary_{"primary", {}, {}, {}, {}, {}}, dr_{"dr", {}, {}, {}, {}, {}};
  std::unique_ptr<PeerProcess> s3_, serve_, forward_;
  std::string s3Endpoint_;
  config::Config cfg_;
  fs::path configPath_, forwarderConfigPath_, fenceLog_, exportsFile_;
  std::string serveUrl_, eventsToken_;
  Scenario scenario_;
  std::vector<pid_t> pids_;  // every child started, for the final check
  std::string netnsPrefix_;  // "ocpvdr-<pid>-" in netns mode
  Json failoverDoc_;
  fs::path reconcileHtml_;
};

Result<std::unique_ptr<PeerProcess>> DemoRun::startKubeSim(
    SimSite& site, const std::vector<std::string>& controllers) {
  site.token = randomHex(16);
  const fs::path dir = work_ / site.name;
  OCPVDR_TRY(writeFile(dir / "kube-api.token", site.token + "\n", 0600));
  std::vector<std::string> argv = {opt_.kubeSim,
                                   "--listen",
                                   listenHost_ + ":0",
                                   "--token-file",
                                   (dir / "kube-api.token").string(),
                                   "--compaction-window",
                                   "20000",
                                   "--controller-tick-ms",
                                   "100",
                                   "--controller-option",
                                   "kubevirt.start-delay-ms=500",
                                   "--controller-option",
                                   "kubevirt.stop-delay-ms=200",
                                   "--controller-option",
                                   "velero.sync-interval-ms=500"};
  for (const auto& c : controllers) argv.insert(argv.end(), {"--controller", c});
  if (std::find(controllers.begin(), controllers.end(), "cdi") != controllers.end()) {
    // CDI's importer rewrites disk.img of a claim it would import into: kube-sim does that on
    // the DR export, so the byte-for-byte check after the failover would catch it.
    const auto& root = cfg_.dr.exportRoots.front();
    argv.insert(argv.end(), {"--controller-option", "cdi.nfs-exports=" + cfg_.dr.nfsServer + ":" +
                                                        root.exportPath + "=" + root.hostPath});
  }
  // Options of controllers that are not running are accepted and unused.
  PeerSpec spec{"kube-sim (" + site.name + ")",
                argv,
                {},
                work_ / "logs" / ("kube-sim-" + site.name + ".log")};
  OCPVDR_ASSIGN_OR_RETURN(auto proc, PeerProcess::start(spec));
  pids_.push_back(proc->pid());
  auto url = proc->waitForLog(std::regex(R"(kube-sim listening on (\S+))"), 20s, stop_);
  if (!url.ok()) return url.error();
  site.url = *url;
  site.kubeconfig = (dir / "kubeconfig").string();
  OCPVDR_TRY(writeFile(site.kubeconfig, kubeconfigYaml(site.name, site.url, site.token), 0600));
  config::KubeAccess access;
  access.kubeconfig = site.kubeconfig;
  OCPVDR_ASSIGN_OR_RETURN(auto conn, kube::connect(access, clock_, curlHttpClients()));
  site.conn = std::move(conn);
  return proc;
}

std::vector<std::string> DemoRun::onDrHost(std::vector<std::string> argv) const {
  if (!netns_) return argv;
  return hosts_->onHost(hosts_->dr(), std::move(argv));
}

Result<ProcessResult> DemoRun::cli(std::vector<std::string> args, std::chrono::seconds timeout) {
  ProcessSpec spec;
  spec.argv = {opt_.self, "-c", configPath_.string(), "--log-format", "json"};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.argv = onDrHost(spec.argv);
  spec.timeout = timeout;
  spec.maxCapture = 16 << 20;
  return runner_.run(spec, stop_);
}

Result<Json> DemoRun::serveStatus() {
  HttpRequest req;
  req.url = serveUrl_ + "/v1/status";
  req.headers = {{"Authorization", "Bearer " + eventsToken_}};
  req.timeout = 10s;
  OCPVDR_ASSIGN_OR_RETURN(auto resp, http_.send(req, stop_));
  if (resp.status != 200)
    return terminalError("GET " + req.url + ": HTTP " + std::to_string(resp.status) + " " +
                         resp.body);
  Json j = Json::parse(resp.body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return terminalError("GET " + req.url + ": not a JSON object");
  return j;
}

Status DemoRun::waitUntil(const std::string& what, const std::function<Result<bool>()>& pred,
                          std::chrono::milliseconds every) {
  const auto deadline = clock_.monotonic() + opt_.stageTimeout;
  std::string last;
  while (true) {
    auto r = pred();
    if (r.ok() && *r) return Status::success();
    if (!r.ok()) last = r.error().message;
    if (clock_.monotonic() > deadline)
      return retryableError("timed out after " + std::to_string(opt_.stageTimeout.count()) +
                            " s waiting for " + what +
                            (last.empty() ? "" : " (last error: " + last + ")"));
    if (!clock_.sleepFor(every, stop_)) return terminalError("interrupted");
  }
}

// ---- stage 1 -------------------------------------------------------------------------------

Status DemoRun::prepare() {
  std::error_code ec;
  work_ = fs::absolute(opt_.workdir, ec);
  if (fs::exists(work_, ec)) {
    if (!fs::is_directory(work_, ec))
      return invalidError("--workdir " + work_.string() + " exists and is not a directory");
    const bool empty = fs::directory_iterator(work_, ec) == fs::directory_iterator();
    if (!empty && !fs::exists(work_ / kMarker))
      return refusedError("--workdir " + work_.string() +
                          " is not empty and was not made by the demo (no " + kMarker +
                          " file): refusing to empty it; choose another --workdir");
    for (const auto& e : fs::directory_iterator(work_, ec)) fs::remove_all(e.path(), ec);
  }
  fs::create_directories(work_ / "logs", ec);
  if (ec) return terminalError("cannot create " + work_.string() + ": " + ec.message());
  OCPVDR_TRY(writeFile(work_ / kMarker, "made by ocpv-dr demo; emptied by the next run\n"));

  if (opt_.mode == Mode::Netns) {
    netns_ = true;
  } else if (opt_.mode == Mode::Auto) {
    netns_ =
        ::geteuid() == 0 && ::access("/usr/sbin/sshd", X_OK) == 0 && !findProgram("ip").empty();
  }
  say("work directory   " + work_.string() + "   (configs, logs, reports; " +
      (opt_.keep ? "kept at the end: --keep" : "removed after a successful run unless --keep") +
      ")");
  say("ocpv-dr          " + opt_.self);
  say("kube-sim         " + opt_.kubeSim);
  say("s3rver           " + opt_.s3rver + " (node " + opt_.node + ")");
  if (netns_)
    say("mode             netns: the two NFS hosts are network namespaces with their own sshd;\n"
        "                   serve, reconcile and failover run on the DR host and pull over ssh");
  else
    say(std::string("mode             local: the two NFS export trees are plain directories and "
                    "rsync copies locally") +
        (::geteuid() == 0 ? "" : "\n                   (run as root for the two-host netns mode)"));
  return Status::success();
}

// ---- stage 2 -------------------------------------------------------------------------------

Status DemoRun::startSites() {
  if (netns_) {
    // Fencing at failover edits the primary's exports file over ssh and runs `exportfs -ra`
    // there; without a kernel NFS server, a recording stand-in takes exportfs's place on the
    // primary host's PATH.
    const fs::path bin = work_ / "bin";
    OCPVDR_TRY(writeFile(
        bin / "exportfs",
        "#!/bin/sh\n# demo stand-in: no kernel NFS server here\necho \"exportfs $*\" >> " +
            (work_ / "primary" / "exportfs.log").string() + "\n",
        0755));
    NetnsOptions no;
    no.dir = (work_ / "hosts").string();
    no.sshdExtraConfig = {"SetEnv PATH=" + bin.string() + ":/usr/sbin:/usr/bin:/sbin:/bin"};
    OCPVDR_ASSIGN_OR_RETURN(auto hosts, NetnsHosts::create(no));
    hosts_ = std::move(hosts);
    listenHost_ = hosts_->bridgeIp();
    netnsPrefix_ = "ocpvdr-" + std::to_string(::getpid()) + "-";
    for (const NetnsHost* h : {&hosts_->primary(), &hosts_->dr()})
      if (h->sshdPid > 0) pids_.push_back(h->sshdPid);
    say("NFS host primary-nfs  namespace " + hosts_->primary().ns + ", " + hosts_->primary().ip +
        ", sshd pid " + std::to_string(hosts_->primary().sshdPid));
    say("NFS host dr-nfs       namespace " + hosts_->dr().ns + ", " + hosts_->dr().ip +
        ", sshd pid " + std::to_string(hosts_->dr().sshdPid));
    cfg_ = hosts_->config();
    exportsFile_ = hosts_->primary().root / "etc/exports";
    OCPVDR_TRY(writeFile(exportsFile_, "# primary NFS exports (demo)\n" +
                                           hosts_->primary().exportDir.string() +
                                           " *(rw,sync,no_root_squash)\n"));
    cfg_.failover.fencing.method = config::FencingMethod::Exportfs;
    cfg_.failover.fencing.exportsFile = exportsFile_.string();
  } else {
    auto site = [&](const std::string& name, const std::string& server) {
      config::Site s;
      s.name = name;
      s.nfsServer = server;
      s.exportRoots = {{kExportPath, (work_ / name / "srv/nfs/ocp").string()}};
      std::error_code ec;
      fs::create_directories(s.exportRoots.front().hostPath, ec);
      return s;
    };
    cfg_.primary = site("primary", "nfs-primary.example.com");
    cfg_.dr = site("dr", "nfs-dr.example.com");
    cfg_.replication.transport = config::Transport::Local;
    cfg_.replication.pathMappings = {{kExportPath, kExportPath}};
    cfg_.replication.lockDir = (work_ / "dr/locks").string();
    cfg_.catalog.path = (work_ / "dr/catalog.db").string();
    cfg_.failover.workDir = (work_ / "dr/failover").string();
    // No NFS server to fence here: the fencing command records what it would have fenced.
    fenceLog_ = work_ / "primary" / "fence.log";
    cfg_.failover.fencing.method = config::FencingMethod::Command;
    cfg_.failover.fencing.command = {
        "/bin/sh", "-c", "echo \"fenced $OCPVDR_FENCE_ROOTS\" >> " + fenceLog_.string()};
  }
  say("NFS export primary    " + cfg_.primary.nfsServer + ":" + kExportPath + "  =  " +
      rel(cfg_.primary.exportRoots.front().hostPath));
  say("NFS export DR         " + cfg_.dr.nfsServer + ":" + kExportPath + "  =  " +
      rel(cfg_.dr.exportRoots.front().hostPath));

  OCPVDR_ASSIGN_OR_RETURN(primary_.proc, startKubeSim(primary_, {"binding", "kubevirt"}));
  say("cluster primary       kube-sim " + primary_.url + " (pid " +
      std::to_string(primary_.proc->pid()) + "; controllers: PV binding, KubeVirt)");
  OCPVDR_ASSIGN_OR_RETURN(dr_.proc, startKubeSim(dr_, {"binding", "kubevirt", "velero", "cdi"}));
  say("cluster DR            kube-sim " + dr_.url + " (pid " + std::to_string(dr_.proc->pid()) +
      "; controllers: PV binding, KubeVirt, Velero, CDI import/upload)");

  const fs::path data = work_ / "s3" / "data";
  std::error_code ec;
  fs::create_directories(data, ec);
  PeerSpec s3{"s3rver",
              {opt_.node, opt_.s3rver, "-d", data.string(), "-a", listenHost_, "-p", "0",
               "--silent", "--configure-bucket", kBucket},
              {{"NODE_OPTIONS", "--openssl-legacy-provider"}},
              work_ / "logs" / "s3rver.log"};
  OCPVDR_ASSIGN_OR_RETURN(s3_, PeerProcess::start(s3));
  pids_.push_back(s3_->pid());
  std::string hostRe = std::regex_replace(listenHost_, std::regex(R"(\.)"), R"(\.)");
  OCPVDR_ASSIGN_OR_RETURN(
      auto port, s3_->waitForLog(std::regex("listening on " + hostRe + R"(:(\d+))"), 30s, stop_));
  s3Endpoint_ = "http://" + listenHost_ + ":" + port;
  say("object store          s3rver " + s3Endpoint_ + " (pid " + std::to_string(s3_->pid()) +
      "), bucket \"" + kBucket + "\" = the OADP BackupStorageLocation");
  out_ << "  look at:\n";
  look("kubeconfigs", work_ / "primary/kubeconfig");
  look("", work_ / "dr/kubeconfig");
  look("logs", work_ / "logs");
  return Status::success();
}

// ---- stage 3 -------------------------------------------------------------------------------

Status DemoRun::startEngine() {
  eventsToken_ = randomHex(24);
  const fs::path tokenFile = work_ / "dr" / "events.token";
  OCPVDR_TRY(writeFile(tokenFile, eventsToken_ + "\n", 0600));
  OCPVDR_TRY(writeFile(work_ / "s3" / "cloud-credentials",
                       std::string("[default]\naws_access_key_id = ") + kS3Key +
                           "\naws_secret_access_key = " + kS3Key + "\n",
                       0600));

  config::Config& c = cfg_;
  c.primary.kubernetes.kubeconfig = primary_.kubeconfig;
  c.dr.kubernetes.kubeconfig = dr_.kubeconfig;
  c.replication.storageClasses = {"nfs-dynamic", "nfs-csi"};
  c.replication.rpoTarget = 300s;
  c.schedule.enabled = false;  // the demo runs the reconcile itself (stage 7)
  c.server.listen = (netns_ ? hosts_->dr().ip : std::string("127.0.0.1")) + ":0";
  c.server.tokenFile = tokenFile.string();
  c.server.settle = 500ms;
  c.server.shutdownGrace = 20s;
  c.backupStore.endpoint = s3Endpoint_;
  c.backupStore.bucket = kBucket;
  c.backupStore.prefix = kPrefix;
  c.backupStore.region = "us-east-1";
  c.backupStore.credentialsFile = (work_ / "s3" / "cloud-credentials").string();
  c.backupStore.pathStyle = true;
  c.failover.oadpNamespace = kOadp;
  c.failover.protectedNamespaces = {"demo-web", "demo-db"};
  c.failover.timeouts.backupSync = 60s;
  c.failover.timeouts.vmStop = 60s;
  c.failover.timeouts.pvcBind = 60s;
  c.failover.timeouts.restore = 90s;
  c.failover.timeouts.vmReady = 90s;
  c.forwarder.tokenFile = tokenFile.string();
  c.forwarder.spoolDir = (work_ / "primary" / "forwarder-spool").string();
  c.forwarder.listen = "127.0.0.1:0";
  configPath_ = work_ / "dr" / "config.yaml";
  OCPVDR_TRY(writeFile(configPath_, config::toJson(c).dump(2) + "\n", 0600));
  auto check = config::loadConfig(configPath_.string());
  if (!check.ok()) return check.error().wrap("the generated " + configPath_.string());

  const fs::path serveReady = work_ / "dr" / "serve.url";
  PeerSpec serve{"ocpv-dr serve",
                 onDrHost({opt_.self, "-c", configPath_.string(), "--log-format", "human", "serve",
                           "--no-schedule", "--ready-file", serveReady.string(), "--report-dir",
                           (work_ / "reports" / "scheduled").string()}),
                 {},
                 work_ / "logs" / "serve.log"};
  OCPVDR_ASSIGN_OR_RETURN(serve_, PeerProcess::start(serve));
  pids_.push_back(serve_->pid());
  OCPVDR_ASSIGN_OR_RETURN(serveUrl_, serve_->waitForFile(serveReady, 30s, stop_));
  say("ocpv-dr serve         " + serveUrl_ + " (pid " + std::to_string(serve_->pid()) +
      (netns_ ? ", on the DR NFS host" : "") + "): POST /v1/events, GET /v1/status, /metrics");

  config::Config fc = c;
  fc.forwarder.webhookUrl = serveUrl_ + "/v1/events";
  forwarderConfigPath_ = work_ / "primary" / "forwarder.yaml";
  OCPVDR_TRY(writeFile(forwarderConfigPath_, config::toJson(fc).dump(2) + "\n", 0600));
  const fs::path fwdReady = work_ / "primary" / "forward.url";
  PeerSpec fwd{"ocpv-dr forward",
               {opt_.self, "-c", forwarderConfigPath_.string(), "--log-format", "human", "forward",
                "--ready-file", fwdReady.string()},
               {},
               work_ / "logs" / "forward.log"};
  OCPVDR_ASSIGN_OR_RETURN(forward_, PeerProcess::start(fwd));
  pids_.push_back(forward_->pid());
  OCPVDR_ASSIGN_OR_RETURN(auto fwdUrl, forward_->waitForFile(fwdReady, 30s, stop_));
  say("ocpv-dr forward       watching the primary's PVs and VolumeSnapshots (pid " +
      std::to_string(forward_->pid()) + ", health " + fwdUrl + ") -> " + fc.forwarder.webhookUrl);
  say("both authenticate with the bearer token in " + rel(tokenFile) + " (mode 0600)");
  out_ << "  look at:\n";
  look("DR host config", configPath_);
  look("forwarder config", forwarderConfigPath_);
  look("serve log", serve_->logFile());
  look("forward log", forward_->logFile());
  return Status::success();
}

// ---- stage 4 -------------------------------------------------------------------------------

Status DemoRun::createWorkloads() {
  // DataVolume claims as OADP backs them up: legacy imports, populator imports, and one
  // DataVolume still waiting for its volume when the backup is taken.
  ScenarioOptions so;
  so.unfinishedDataVolumes = 1;
  so.unfinishedBound = false;
  scenario_ =
      buildScenario(opt_.vms, {"demo-web", "demo-db"}, cfg_.primary.nfsServer, kExportPath, so);
  const fs::path root = cfg_.primary.exportRoots.front().hostPath;
  // The provisioner creates the directory and the VM writes its disk before anyone looks: data
  // first, then the objects whose events start replication.
  for (std::size_t i = 0; i < scenario_.volumes.size(); ++i) {
    const auto& v = scenario_.volumes[i];
    OCPVDR_TRY(writeSparseDisk(root / v.dir / "disk.img", 100 + static_cast<unsigned>(i), 8));
    OCPVDR_TRY(writeFile(root / v.dir / "owner.txt", v.ns + "/" + v.pvc + "\n"));
  }
  for (const auto& o : scenario_.objects) {
    OCPVDR_ASSIGN_OR_RETURN(auto type, kube::findResourceType(o.value("kind", "")));
    auto r = primary_.api().create(type, o, {}, stop_);
    if (!r.ok())
      return r.error().wrap("create " + o.value("kind", "") + " " +
                            o["metadata"].value("name", ""));
  }
  OCPVDR_TRY(waitUntil("every VM Running at the primary", [&]() -> Result<bool> {
    OCPVDR_ASSIGN_OR_RETURN(
        auto vms, primary_.api().listAll(kube::resources::virtualMachines(), "", {}, stop_));
    if (vms.items.size() != scenario_.vms.size()) return false;
    for (const auto& vm : vms.items)
      if (!vm.contains("status") || vm["status"].value("printableStatus", "") != "Running")
        return false;
    return true;
  }));
  out_ << "  " << pad("VM", 20) << pad("PVC", 22) << pad("PV type", 10) << "primary directory\n";
  for (std::size_t i = 0; i < scenario_.volumes.size(); ++i) {
    const auto& v = scenario_.volumes[i];
    out_ << "  " << pad(v.ns + "/" + scenario_.vms[i].second, 20) << pad(v.pvc, 22)
         << pad(v.csi ? "CSI" : "in-tree", 10) << rel(root / v.dir) << "\n";
  }
  say(std::to_string(scenario_.vms.size()) + " VMs Running at the primary; each disk.img is " +
      std::to_string(kDiskBytes >> 20) + " MiB sparse with 8 written blocks of 64 KiB");
  return Status::success();
}

// ---- stage 5 -------------------------------------------------------------------------------

Status DemoRun::checkDrCopies(const std::string& file) {
  for (const auto& v : scenario_.volumes) {
    OCPVDR_ASSIGN_OR_RETURN(auto paths,
                            replication::mapVolume(cfg_, cfg_.primary.nfsServer, v.exportPath));
    OCPVDR_ASSIGN_OR_RETURN(auto a, sha256File(fs::path(paths.primaryHostPath) / file));
    auto b = sha256File(fs::path(paths.drHostPath) / file);
    if (!b.ok()) return terminalError(v.pv + ": no DR copy: " + b.error().message);
    if (a != *b)
      return terminalError(v.pv + ": DR " + file + " differs from the primary (sha256 " +
                           b->substr(0, 12) + " vs " + a.substr(0, 12) + ")");
    out_ << "    " << pad(v.pv, 44) << file << " sha256 " << a.substr(0, 16) << "  primary == DR\n";
  }
  return Status::success();
}

Status DemoRun::watchReplication() {
  say("each PV creation above was an event: forward -> POST /v1/events -> serve's queue -> rsync");
  say("polling " + serveUrl_ + "/v1/status:");
  std::string lastLine;
  Json status;
  const std::size_t want = scenario_.volumes.size();
  OCPVDR_TRY(waitUntil(
      "every PV replicated (serve /v1/status)",
      [&]() -> Result<bool> {
        OCPVDR_ASSIGN_OR_RETURN(status, serveStatus());
        std::size_t synced = 0, syncing = 0;
        for (const auto& r : status["replicas"]) {
          if (!r.value("last_success", Json()).is_null()) ++synced;
          if (r.value("syncing", false)) ++syncing;
        }
        std::ostringstream line;
        line << synced << "/" << want << " volumes at DR, " << syncing << " syncing, queue "
             << status["queue"].value("depth", 0) + status["queue"].value("waiting", 0);
        if (line.str() != lastLine) {
          say("  " + line.str());
          lastLine = line.str();
        }
        return status["replicas"].size() == want && synced == want;
      },
      500ms));
  out_ << "  " << pad("PV", 44) << pad("RESULT", 10) << pad("RPO", 8) << "BYTES\n";
  for (const auto& r : status["replicas"])
    out_ << "  " << pad(r.value("pv", ""), 44) << pad(r.value("result", ""), 10)
         << pad(fmtSeconds(r.value("rpo_seconds", Json())), 8) << r.value("bytes", Json(0)).dump()
         << "\n";
  // The RPO is live: it grows from the last successful sync until the next one.
  for (int i = 0; i < 2; ++i) {
    if (!clock_.sleepFor(1500ms, stop_)) return terminalError("interrupted");
    OCPVDR_ASSIGN_OR_RETURN(status, serveStatus());
    std::string rpos;
    for (const auto& r : status["replicas"])
      rpos += " " + fmtSeconds(r.value("rpo_seconds", Json()));
    say(std::string("  ") + (i == 0 ? "1.5" : "3.0") + " s later, RPO per PV:" + rpos);
  }
  say("RPO = now - end of the last successful sync (target " +
      std::to_string(cfg_.replication.rpoTarget.count()) + " s; over it, status flags the PV)");
  say("checking the DR copies byte for byte:");
  return checkDrCopies("disk.img");
}

// ---- stage 6 -------------------------------------------------------------------------------

Status DemoRun::snapshotRoundTrip() {
  const ScenarioVolume* vol = nullptr;
  for (const auto& v : scenario_.volumes)
    if (v.csi) vol = &v;
  if (!vol) return invalidError("the scenario has no csi-driver-nfs volume to snapshot");
  const std::string name = "demo-snap-1";
  Json vs = {{"apiVersion", "snapshot.storage.k8s.io/v1"},
             {"kind", "VolumeSnapshot"},
             {"metadata", {{"name", name}, {"namespace", vol->ns}}},
             {"spec",
              {{"volumeSnapshotClassName", "csi-nfs-snapclass"},
               {"source", {{"persistentVolumeClaimName", vol->pvc}}}}}};
  OCPVDR_ASSIGN_OR_RETURN(vs,
                          primary_.api().create(kube::resources::volumeSnapshots(), vs, {}, stop_));
  const std::string uid = vs["metadata"].value("uid", "");
  // What csi-driver-nfs does: a tar.gz of the volume under <share>/<snapshot name>/.
  const std::string snapName = "snapshot-" + uid;
  const fs::path root = cfg_.primary.exportRoots.front().hostPath;
  const fs::path archiveDir = root / snapName;
  std::error_code ec;
  fs::create_directories(archiveDir, ec);
  ProcessSpec tar;
  tar.argv = {"tar",
              "-czSf",
              (archiveDir / (vol->pv + ".tar.gz")).string(),
              "-C",
              (root / vol->dir).string(),
              "."};
  tar.timeout = 60s;
  OCPVDR_ASSIGN_OR_RETURN(auto t, runner_.run(tar, stop_));
  if (!t.success()) return terminalError("tar of the snapshot archive failed: " + t.err);
  std::string share = kExportPath;
  share.erase(0, 1);
  const std::string contentName = "snapcontent-" + uid;
  Json vsc = {{"apiVersion", "snapshot.storage.k8s.io/v1"},
              {"kind", "VolumeSnapshotContent"},
              {"metadata", {{"name", contentName}}},
              {"spec",
               {{"driver", "nfs.csi.k8s.io"},
                {"deletionPolicy", "Delete"},
                {"volumeSnapshotClassName", "csi-nfs-snapclass"},
                {"source",
                 {{"volumeHandle",
                   cfg_.primary.nfsServer + "#" + share + "#" + vol->pv + "#" + vol->pv + "#"}}},
                {"volumeSnapshotRef", {{"namespace", vol->ns}, {"name", name}, {"uid", uid}}}}}};
  OCPVDR_ASSIGN_OR_RETURN(
      vsc, primary_.api().create(kube::resources::volumeSnapshotContents(), vsc, {}, stop_));
  const std::string handle =
      cfg_.primary.nfsServer + "#" + share + "#" + snapName + "#" + snapName + "#" + vol->pv;
  vsc["status"] = {{"readyToUse", true},
                   {"snapshotHandle", handle},
                   {"restoreSize", kDiskBytes},
                   {"creationTime", std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        clock_.now().time_since_epoch())
                                        .count()}};
  OCPVDR_TRY(primary_.api().updateStatus(kube::resources::volumeSnapshotContents(), vsc, stop_));
  vs["status"] = {{"boundVolumeSnapshotContentName", contentName},
                  {"readyToUse", true},
                  {"restoreSize", "64Mi"}};
  OCPVDR_TRY(primary_.api().updateStatus(kube::resources::volumeSnapshots(), vs, stop_));
  say("VolumeSnapshot " + vol->ns + "/" + name + " of " + vol->pvc +
      " is readyToUse; its archive: " + rel(archiveDir / (vol->pv + ".tar.gz")));

  OCPVDR_ASSIGN_OR_RETURN(auto cat, catalog::Catalog::open(cfg_.catalog.path));
  std::string state;
  std::string drPath;
  OCPVDR_TRY(waitUntil("the snapshot recorded as ready in the DR catalog", [&]() -> Result<bool> {
    OCPVDR_ASSIGN_OR_RETURN(auto rec, cat->snapshotByName(vol->ns, name));
    if (!rec) return false;
    state = rec->state;
    drPath = rec->dataDrPath;
    return rec->state == "ready" && !drPath.empty() &&
           fs::exists(fs::path(drPath) / (vol->pv + ".tar.gz"));
  }));
  say("recorded at DR: state ready, archive at " + rel(fs::path(drPath) / (vol->pv + ".tar.gz")));

  OCPVDR_TRY(primary_.api().remove(kube::resources::volumeSnapshots(), vol->ns, name, {}, stop_));
  OCPVDR_TRY(
      primary_.api().remove(kube::resources::volumeSnapshotContents(), "", contentName, {}, stop_));
  OCPVDR_TRY(waitUntil("the snapshot marked deleted in the DR catalog", [&]() -> Result<bool> {
    OCPVDR_ASSIGN_OR_RETURN(auto rec, cat->snapshotByName(vol->ns, name));
    return rec && rec->state == "deleted";
  }));
  if (fs::exists(fs::path(drPath) / (vol->pv + ".tar.gz")))
    return terminalError("the snapshot is marked deleted but its archive is still at " + drPath);
  say("deleted at the primary -> marked deleted at DR; its archive went to the DR trash (delete "
      "policy: " +
      config::toString(cfg_.replication.deletePolicy) + ")");
  return Status::success();
}

// ---- stage 7 -------------------------------------------------------------------------------

Status DemoRun::reconcile() {
  // Writes inside a disk do not change the PV object, so no event: the scheduled reconcile is
  // what carries them over. Change one disk now and let the reconcile find it.
  const auto& v = scenario_.volumes.front();
  const fs::path disk = fs::path(cfg_.primary.exportRoots.front().hostPath) / v.dir / "disk.img";
  OCPVDR_TRY(writeSparseDisk(disk, 999, 12));
  say("wrote 4 more blocks into " + rel(disk) + " (no Kubernetes event for that)");
  const fs::path reports = work_ / "reports" / "reconcile";
  OCPVDR_ASSIGN_OR_RETURN(
      auto r, cli({"reconcile", "--report-dir", reports.string(), "--no-progress", "--no-notify"},
                  std::chrono::duration_cast<std::chrono::seconds>(opt_.stageTimeout)));
  Json doc = Json::parse(r.out, nullptr, false);
  if (!doc.is_object())
    return terminalError("reconcile (exit " + std::to_string(r.exitCode) +
                         ") printed no JSON: " + r.err.substr(0, 2000));
  if (!r.success() || doc.value("result", "") != "ok")
    return terminalError("reconcile exit " + std::to_string(r.exitCode) + ", result " +
                         doc.value("result", "?") + ": " + doc["error"].dump());
  const Json& t = doc["totals"];
  say("reconcile: " + t["selected"].dump() + " PVs selected, " + t["synced"].dump() + " synced, " +
      t["unchanged"].dump() + " unchanged, " + t["failed"].dump() + " failed, " +
      t["orphans"].dump() + " orphans");
  if (t.value("selected", 0) != static_cast<int>(scenario_.volumes.size()) ||
      t.value("failed", 1) != 0)
    return terminalError("reconcile did not cover every PV: " + t.dump());
  const Json& files = doc["reports"];
  reconcileHtml_ = files.value("html", "");
  Json full = Json::parse(slurp(files.value("json", "")), nullptr, false);
  if (!full.is_object() || !full["pvs"].is_array())
    return terminalError("cannot read the reconcile report " + files.value("json", ""));
  if (full["pvs"].size() != scenario_.volumes.size())
    return terminalError("the reconcile report lists " + std::to_string(full["pvs"].size()) +
                         " PVs, expected " + std::to_string(scenario_.volumes.size()));
  for (const auto& p : full["pvs"])
    if (p.value("failed", true) || p.value("rpo_exceeded", true) || p.value("never_synced", true))
      return terminalError("reconcile report: PV " + p.value("pv", "?") +
                           " is not ok: " + p.dump());
  say("every PV in the report is ok; the changed disk was synced:");
  OCPVDR_TRY(checkDrCopies("disk.img"));
  out_ << "  look at:\n";
  look("HTML report", reconcileHtml_);
  look("Markdown / JSON", files.value("markdown", ""));
  look("", files.value("json", ""));
  return Status::success();
}

// ---- stage 8 -------------------------------------------------------------------------------

Status DemoRun::backup() {
  std::set<std::string> nss(cfg_.failover.protectedNamespaces.begin(),
                            cfg_.failover.protectedNamespaces.end());
  std::vector<Json> objects;
  auto add = [&](const kube::ResourceType& type,
                 const std::function<bool(const Json&)>& keep) -> Status {
    OCPVDR_ASSIGN_OR_RETURN(auto l, primary_.api().listAll(type, "", {}, stop_));
    for (auto& o : l.items)
      if (keep(o)) objects.push_back(std::move(o));
    return Status::success();
  };
  auto inNs = [&](const Json& o) { return nss.count(o["metadata"].value("namespace", "")) > 0; };
  OCPVDR_TRY(add(kube::resources::namespaces(),
                 [&](const Json& o) { return nss.count(o["metadata"].value("name", "")) > 0; }));
  OCPVDR_TRY(add(kube::resources::persistentVolumes(), [&](const Json& o) {
    return nss.count(o["spec"]["claimRef"].value("namespace", "")) > 0;
  }));
  OCPVDR_TRY(add(kube::resources::persistentVolumeClaims(), inNs));
  OCPVDR_TRY(add(kube::resources::dataVolumes(), inNs));
  OCPVDR_TRY(add(kube::resources::virtualMachines(), inNs));
  OCPVDR_TRY(add(kube::resources::virtualMachineInstances(), inNs));
  VeleroBackupSpec spec;
  spec.name = kBackup;
  const auto now = clock_.now();
  spec.started = now - 1min;
  spec.completed = now;
  spec.includedNamespaces = cfg_.failover.protectedNamespaces;
  spec.objects = std::move(objects);
  std::map<std::string, std::string> keys;
  try {
    keys = veleroBackupObjects(kPrefix, spec);
  } catch (const std::exception& e) {
    return terminalError(std::string("writing the backup tarball: ") + e.what());
  }
  s3::S3Options so;
  so.endpoint = s3Endpoint_;
  so.bucket = kBucket;
  so.maxAttempts = 3;
  OCPVDR_ASSIGN_OR_RETURN(
      auto store,
      s3::S3ObjectStore::create(so, s3::AwsCredentials{kS3Key, kS3Key, "", "demo"}, http_, clock_));
  for (const auto& [key, data] : keys) {
    OCPVDR_TRY(store->put(key, data, "application/octet-stream", stop_));
    say("s3://" + std::string(kBucket) + "/" + key + "  (" + std::to_string(data.size()) +
        " bytes)");
  }
  say(std::to_string(spec.objects.size()) +
      " objects of namespaces demo-web, demo-db in the Velero layout "
      "(what OADP writes at the primary)");

  Json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", kOadp}}}};
  OCPVDR_TRY(dr_.api().create(kube::resources::namespaces(), ns, {}, stop_));
  // What failover preflight checks at DR (docs/failover.md, DR prerequisites): CSIDriver,
  // StorageClasses, the DPA with the kubevirt plugin and its ReadOnly backup location.
  DrSite site;
  site.oadpNamespace = kOadp;
  site.bucket = kBucket;
  site.prefix = kPrefix;
  site.s3Url = s3Endpoint_;
  site.nfsServer = cfg_.dr.nfsServer;
  site.exportPath = kExportPath;
  namespace pr = failover::preflight_resources;
  const std::map<std::string, const kube::ResourceType*> types = {
      {"CSIDriver", &pr::csiDrivers()},
      {"StorageClass", &pr::storageClasses()},
      {"DataProtectionApplication", &pr::dataProtectionApplications()},
      {"BackupStorageLocation", &kube::resources::backupStorageLocations()}};
  std::string bslName;
  for (const auto& o : drPrerequisites(site)) {
    OCPVDR_TRY(dr_.api().create(*types.at(o["kind"].get<std::string>()), o, {}, stop_));
    if (o["kind"] == "BackupStorageLocation") bslName = o["metadata"]["name"];
  }
  OCPVDR_TRY(waitUntil("Velero at DR to sync the backup from the bucket", [&]() -> Result<bool> {
    auto b = dr_.api().get(kube::resources::backups(), kOadp, kBackup, stop_);
    if (!b.ok() && b.error().kind == ErrorKind::NotFound) return false;
    if (!b.ok()) return b.error();
    return true;
  }));
  say("DR's Velero sees Backup " + std::string(kOadp) + "/" + kBackup +
      " (BackupStorageLocation \"" + bslName + "\", ReadOnly)");
  return Status::success();
}

// ---- stage 9 -------------------------------------------------------------------------------

Status DemoRun::failover() {
  say("ocpv-dr failover run --planned: stop VMs at the primary, fence the export, final sync, "
      "restore at DR");
  OCPVDR_ASSIGN_OR_RETURN(
      auto r,
      cli({"failover", "run", "--planned", "--backup", kBackup, "--json", "--poll-interval-ms",
           "200", "--report-dir", (work_ / "reports" / "failover").string()},
          std::chrono::duration_cast<std::chrono::seconds>(opt_.stageTimeout) * 2));
  failoverDoc_ = Json::parse(r.out, nullptr, false);
  if (!failoverDoc_.is_object())
    return terminalError("failover (exit " + std::to_string(r.exitCode) + ") printed no JSON: " +
                         r.err.substr(r.err.size() > 3000 ? r.err.size() - 3000 : 0));
  if (!r.success() || failoverDoc_.value("result", "") != "done")
    return terminalError("failover exit " + std::to_string(r.exitCode) + ", result " +
                         failoverDoc_.value("result", "?") + ": " +
                         failoverDoc_["report"].value("error", Json()).dump());
  for (const auto& s : failoverDoc_["report"]["steps"])
    say("  step " + pad(s.value("step", ""), 22) + s.value("state", "") + "  " +
        std::to_string(s.value("durationMs", 0)) + " ms");

  // Check the outcome against the clusters and the data, not only the report.
  for (const auto& [ns, name] : scenario_.vms) {
    OCPVDR_ASSIGN_OR_RETURN(auto vm,
                            dr_.api().get(kube::resources::virtualMachines(), ns, name, stop_));
    if (vm["status"].value("printableStatus", "") != "Running" ||
        !vm["status"].value("ready", false))
      return terminalError("VM " + ns + "/" + name +
                           " is not Running and ready at DR: " + vm["status"].dump());
    OCPVDR_ASSIGN_OR_RETURN(
        auto pvm, primary_.api().get(kube::resources::virtualMachines(), ns, name, stop_));
    if (pvm["spec"].value("runStrategy", "") != "Halted")
      return terminalError("VM " + ns + "/" + name + " at the primary is not Halted");
  }
  for (const auto& v : scenario_.volumes) {
    OCPVDR_ASSIGN_OR_RETURN(auto pv,
                            dr_.api().get(kube::resources::persistentVolumes(), "", v.pv, stop_));
    const Json& spec = pv["spec"];
    const std::string server = v.csi ? spec["csi"]["volumeAttributes"].value("server", "")
                                     : spec["nfs"].value("server", "");
    if (server != cfg_.dr.nfsServer)
      return terminalError("DR PV " + v.pv + " points at " + server + ", not the DR server " +
                           cfg_.dr.nfsServer);
    if (pv["status"].value("phase", "") != "Bound")
      return terminalError("DR PV " + v.pv + " is " + pv["status"].value("phase", "?") +
                           ", not Bound");
    // kube-sim's CDI marks a volume it started an importer or upload pod on.
    const std::string overwritten = pv["metadata"]
                                        .value("annotations", Json::object())
                                        .value("kube-sim.ocpv-dr.io/data-overwritten-by", "");
    if (!overwritten.empty())
      return terminalError("CDI started pod " + overwritten + " on DR PV " + v.pv +
                           " and overwrote its disk: the DR claim " + v.ns + "/" + v.pvc +
                           " still asks CDI for an import");
  }
  int dvClaims = 0;
  for (const auto& v : scenario_.volumes) dvClaims += v.fromDataVolume ? 1 : 0;
  for (const auto& v : scenario_.unfinished) {
    // Not pre-created (kvp.kubevirt.io/storage.inprogress); Velero restored the DataVolume and
    // CDI's admission let it in, so CDI imports it afresh at DR.
    auto claim = dr_.api().get(kube::resources::persistentVolumeClaims(), v.ns, v.pvc, stop_);
    if (claim.ok())
      return terminalError("the claim " + v.ns + "/" + v.pvc +
                           " of an unfinished DataVolume was pre-created at DR");
    auto dv = dr_.api().get(kube::resources::dataVolumes(), v.ns, v.pvc, stop_);
    if (!dv.ok()) return dv.error().wrap("the unfinished DataVolume was not restored at DR");
  }
  say(std::to_string(dvClaims) +
      " DataVolume claims pre-created with CDI's completion state and without its import "
      "request: no importer pod at DR; " +
      std::to_string(scenario_.unfinished.size()) +
      " unfinished DataVolume left to CDI (claim not pre-created, DataVolume restored)");
  if (netns_) {
    const std::string log = slurp(work_ / "primary" / "exportfs.log");
    if (log.find("exportfs -ra") == std::string::npos)
      return terminalError(
          "the primary export was not fenced (no exportfs -ra on the primary host)");
    say("fenced: " + rel(exportsFile_) +
        " edited over ssh (read-only), exportfs -ra ran on the primary host");
  } else {
    const std::string log = slurp(fenceLog_);
    if (log.find(cfg_.primary.exportRoots.front().hostPath) == std::string::npos)
      return terminalError("the fencing command did not run for the primary export root");
    say("fenced: the fencing command ran (" + rel(fenceLog_) + ")");
  }
  say("every VM Running at DR, every PV Bound and pointing at " + cfg_.dr.nfsServer +
      ", primary VMs Halted");
  return checkDrCopies("disk.img");
}

// ---- stage 10 ------------------------------------------------------------------------------

Status DemoRun::report() {
  const Json& rep = failoverDoc_["report"];
  if (!rep.is_object() || !rep["rto"].is_object())
    return terminalError("the failover report has no RTO: " + rep.dump().substr(0, 500));
  say("RTO  " + fmtSeconds(rep["rto"]["seconds"]) + "  (first step start -> last VM ready at DR)");
  say("RPO  worst data age " + fmtSeconds(rep["rpo"].value("worstDataAgeSeconds", Json())) +
      " over " + rep["rpo"].value("volumes", Json(0)).dump() +
      " volumes (planned: the final sync ran after the VMs stopped)");
  out_ << "  " << pad("PV", 44) << pad("DATA AGE", 10) << "basis\n";
  for (const auto& v : rep["volumes"])
    out_ << "  " << pad(v.value("pv", ""), 44)
         << pad(fmtSeconds(v.value("dataAgeSeconds", Json())), 10) << v.value("basis", "") << "\n";
  out_ << "  look at:\n";
  for (const auto& f : failoverDoc_.value("reportFiles", Json::array()))
    look("failover report", f.get<std::string>());
  return Status::success();
}

// ---- teardown ------------------------------------------------------------------------------

Status DemoRun::teardown() {
  std::vector<std::string> problems;
  auto stopPeer = [&](std::unique_ptr<PeerProcess>& p, bool mustExitZero) {
    if (!p) return;
    const bool wasRunning = p->running();
    const pid_t pid = p->pid();
    const int status = p->stop(std::chrono::seconds(25));
    say("stopped " + pad(p->name(), 22) +
        (wasRunning ? "pid " + std::to_string(pid) : "(had exited)") + ", exit status " +
        std::to_string(status));
    if (mustExitZero && wasRunning && status != 0)
      problems.push_back(p->name() + " exited with status " + std::to_string(status) + " (see " +
                         rel(p->logFile()) + ")");
    if (!wasRunning && mustExitZero)
      problems.push_back(p->name() + " had already exited (status " + std::to_string(status) + ")");
  };
  // Upstream first: the forwarder, then the engine it feeds, then the peers.
  stopPeer(forward_, true);
  stopPeer(serve_, true);
  stopPeer(s3_, false);
  stopPeer(primary_.proc, false);
  stopPeer(dr_.proc, false);
  primary_.conn.reset();
  dr_.conn.reset();
  if (hosts_) {
    hosts_.reset();  // sshd and every process in the namespaces by PID, then namespaces and links
    say("removed the network namespaces " + netnsPrefix_ + "*, their veths and bridge");
  }
  for (pid_t p : pids_)
    if (::kill(p, 0) == 0) problems.push_back("process " + std::to_string(p) + " is still alive");
  if (!netnsPrefix_.empty()) {
    ProcessSpec list;
    list.argv = {"ip", "netns", "list"};
    list.timeout = 10s;
    auto r = runner_.run(list);
    if (r.ok() && r->out.find(netnsPrefix_) != std::string::npos)
      problems.push_back("network namespaces left behind: " + r->out);
  }
  if (!problems.empty()) {
    std::string msg;
    for (const auto& p : problems) msg += (msg.empty() ? "" : "; ") + p;
    return terminalError(msg);
  }
  say("nothing left running (" + std::to_string(pids_.size()) + " processes checked by PID)");
  return Status::success();
}

// ---- driver --------------------------------------------------------------------------------

int DemoRun::run() {
  const std::vector<Stage> stages = {
      {"Prepare", "Where everything goes, and which tools run it.", &DemoRun::prepare},
      {"Start two sites",
       "Each site is a Kubernetes API (kube-sim) and an NFS server (an export tree); the bucket is "
       "where OADP keeps backups.",
       &DemoRun::startSites},
      {"Start the replication engine",
       "serve runs on the DR NFS host and does the work; forward runs in the primary cluster and "
       "POSTs every PV/VolumeSnapshot change to serve (in production it can POST to AAP's EDA "
       "instead).",
       &DemoRun::startEngine},
      {"Create VMs with NFS disks at the primary",
       "Namespaces, PVs (in-tree NFS and csi-driver-nfs), PVCs, DataVolumes and KubeVirt VMs; "
       "each PV directory gets a sparse disk.img.",
       &DemoRun::createWorkloads},
      {"Events replicate the disks to DR (live RPO)",
       "Every PV event becomes a queued key in serve; rsync pulls the PV directory to the DR "
       "export.",
       &DemoRun::watchReplication},
      {"Snapshot: record at DR, then delete",
       "A csi-driver-nfs VolumeSnapshot: the catalog records it and its archive is replicated; "
       "deleting it marks the record deleted.",
       &DemoRun::snapshotRoundTrip},
      {"Reconcile (the scheduled full pass, run once now)",
       "Checks and syncs every PV and snapshot, looks for orphans, writes JSON/Markdown/HTML "
       "reports.",
       &DemoRun::reconcile},
      {"Back up the VM namespaces to S3 (what OADP does)",
       "A Velero-layout backup in the bucket; Velero at DR syncs it as a Backup object.",
       &DemoRun::backup},
      {"Planned failover to DR",
       "Halt the VMs at the primary, fence its export, final sync, DR PVs/PVCs pointing at the DR "
       "NFS server, Velero restore of the rest, start and verify the VMs.",
       &DemoRun::failover},
      {"RPO / RTO report", "What the failover cost in data and in time.", &DemoRun::report},
  };
  const int total = static_cast<int>(stages.size()) + 1;
  const auto started = clock_.monotonic();
  int n = 0;
  std::optional<Error> failure;
  std::string failedStage;
  for (const auto& s : stages) {
    ++n;
    out_ << "\n== [" << n << "/" << total << "] " << s.title << " ==\n  " << s.what << "\n";
    out_.flush();
    const auto t0 = clock_.monotonic();
    Status st = stop_.stop_requested() ? Status(terminalError("interrupted")) : (this->*s.fn)();
    if (!st.ok()) {
      failure = st.error();
      failedStage = "[" + std::to_string(n) + "/" + std::to_string(total) + "] " + s.title;
      break;
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(clock_.monotonic() - t0);
    out_ << "  ok (" << std::fixed << std::setprecision(1) << ms.count() / 1000.0 << " s)\n";
    out_.flush();
  }
  out_ << "\n== [" << total << "/" << total << "] Stop everything ==\n"
       << "  Every process the demo started is stopped by its PID; nothing is left behind.\n";
  Status down = teardown();
  if (!down.ok()) {
    out_ << "  teardown problem: " << down.error().message << "\n";
    if (!failure) {
      failure = down.error();
      failedStage = "[" + std::to_string(total) + "/" + std::to_string(total) + "] Stop everything";
    }
  }
  const bool interrupted = stop_.stop_requested();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(clock_.monotonic() - started);
  if (failure) {
    out_ << "\nDEMO FAILED at stage " << failedStage << ": " << failure->message << "\n";
    if (!work_.empty())
      out_ << "Configs and logs are kept in " << work_.string()
           << " (logs/ has every process's output).\n";
    out_.flush();
    return interrupted ? 130 : exitCodeFor(failure->kind);
  }
  out_ << "\nDemo finished: every stage checked its outcome (" << secs.count() << " s).\n";
  if (opt_.keep) {
    out_ << "Everything it wrote is in " << work_.string() << ".\n";
  } else {
    std::error_code ec;
    fs::remove_all(work_, ec);
    out_ << "Removed " << work_.string()
         << " (run with --keep to look at configs, logs and reports).\n";
  }
  out_
      << "Next: `make test` runs every test suite; docs/README.md says how to deploy each shape.\n";
  out_.flush();
  return 0;
}

}  // namespace

Result<Mode> parseMode(const std::string& text) {
  if (text == "auto") return Mode::Auto;
  if (text == "local") return Mode::Local;
  if (text == "netns") return Mode::Netns;
  return invalidError("--mode: expected auto, local or netns, got \"" + text + "\"");
}

EnvGet processEnvGet() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v || !*v) return std::nullopt;
    return std::string(v);
  };
}

Result<std::string> locateOcpvDr(const std::string& flag, const EnvGet& env,
                                 const fs::path& demoExe) {
  std::vector<std::string> tried;
  auto usable = [&](const std::string& p, const std::string& from) {
    tried.push_back(from + " " + p);
    return ::access(p.c_str(), X_OK) == 0 && !fs::is_directory(p);
  };
  if (!flag.empty()) {
    if (usable(flag, "--ocpv-dr")) return flag;
    return notFoundError("--ocpv-dr " + flag + ": not an executable file");
  }
  if (auto e = env("OCPVDR_BIN")) {
    if (usable(*e, "$OCPVDR_BIN")) return *e;
    return notFoundError("$OCPVDR_BIN=" + *e + ": not an executable file");
  }
  const fs::path built = (demoExe.parent_path() / ".." / ".." / "src" / "cli" / "ocpv-dr");
  if (usable(built.lexically_normal().string(), "build tree"))
    return built.lexically_normal().string();
  const fs::path sibling = demoExe.parent_path() / "ocpv-dr";
  if (usable(sibling.string(), "next to ocpv-dr-demo")) return sibling.string();
  if (auto p = findProgram("ocpv-dr"); !p.empty()) return p;
  tried.push_back("PATH");
  std::string msg = "ocpv-dr not found (tried";
  for (const auto& t : tried) msg += " " + t + ";";
  msg += "): build it (cmake --build <build dir> --target ocpv-dr) or pass --ocpv-dr PATH";
  return notFoundError(msg);
}

Result<std::string> locateKubeSim(const std::string& flag, const EnvGet& env,
                                  const fs::path& selfExe) {
  std::vector<std::string> tried;
  auto usable = [&](const std::string& p, const std::string& from) {
    tried.push_back(from + " " + p);
    return ::access(p.c_str(), X_OK) == 0 && !fs::is_directory(p);
  };
  if (!flag.empty()) {
    if (usable(flag, "--kube-sim")) return flag;
    return notFoundError("--kube-sim " + flag + ": not an executable file");
  }
  if (auto e = env("OCPVDR_KUBE_SIM")) {
    if (usable(*e, "$OCPVDR_KUBE_SIM")) return *e;
    return notFoundError("$OCPVDR_KUBE_SIM=" + *e + ": not an executable file");
  }
  const fs::path built = selfExe.parent_path() / ".." / ".." / "tools" / "kube-sim" / "kube-sim";
  if (usable(built.lexically_normal().string(), "build tree"))
    return built.lexically_normal().string();
  if (auto p = findProgram("kube-sim"); !p.empty()) return p;
  tried.push_back("PATH");
  std::string msg = "kube-sim not found (tried";
  for (const auto& t : tried) msg += " " + t + ";";
  msg += "): build it (cmake --build <build dir> --target kube-sim) or pass --kube-sim PATH";
  return notFoundError(msg);
}

Result<std::string> locateS3rver(const std::string& flag, const EnvGet& env, const fs::path& cwd) {
  auto script = [](const fs::path& p) -> std::optional<std::string> {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      const fs::path s = p / "bin" / "s3rver.js";
      if (fs::is_regular_file(s, ec)) return s.string();
      return std::nullopt;
    }
    if (fs::is_regular_file(p, ec)) return p.string();
    return std::nullopt;
  };
  if (!flag.empty()) {
    if (auto s = script(flag)) return *s;
    return notFoundError("--s3rver " + flag +
                         ": neither the s3rver package directory nor its bin/s3rver.js");
  }
  if (auto e = env("OCPVDR_S3RVER")) {
    if (auto s = script(*e)) return *s;
    return notFoundError("$OCPVDR_S3RVER=" + *e +
                         ": neither the s3rver package directory nor its bin/s3rver.js");
  }
  if (auto s = script(cwd / "node_modules" / "s3rver")) return *s;
  return notFoundError("s3rver not found (tried --s3rver, $OCPVDR_S3RVER, " +
                       (cwd / "node_modules" / "s3rver").string() +
                       "): run `make deps` (npm ci) in the source tree, or pass --s3rver PATH");
}

int runDemo(const DemoOptions& options, ProcessRunner& runner, HttpClient& http, Clock& clock,
            std::ostream& out, std::stop_token stop) {
  DemoRun run(options, runner, http, clock, out, stop);
  return run.run();
}

}  // namespace ocpvdr::demo
