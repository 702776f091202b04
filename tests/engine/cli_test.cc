// The engine's CLI verbs as processes: `ocpv-dr reconcile` (summary on stdout, three report files,
// exit codes 0 / 3 breaker / 4 list failure, notify POST), `ocpv-dr status` (table and --json,
// RPO over target), `ocpv-dr serve` (events accepted over HTTP and synced; SIGTERM → exit 0;
// invalid cron → exit 2 naming it). kube-sim is the primary API; rsync uses the local transport.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "config/config.h"
#include "core/curl_http.h"
#include "core/files.h"
#include "core/process.h"
#include "core/time.h"
#include "replication/test_util.h"
#include "support/cli_run.h"
#include "support/eventually.h"
#include "support/http_test_server.h"
#include "support/kube_sim_process.h"
#include "support/smtp_server_process.h"
#include "support/spawned.h"
#include "support/temp_dir.h"
#include "support/tls_material.h"
#include "support/webhook_receiver.h"

extern char** environ;

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// support/eventually.h with this suite's limit (30s) and poll interval (20ms).
template <class P>
bool waitFor(P pred, std::chrono::milliseconds limit = 30s) {
  return eventually(pred, limit, 20ms);
}

class EngineCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { initHttpGlobal(); }

  void SetUp() override {
    base = fs::canonical(tmp.path());
    cfg = localSitesConfig(base);
    primaryRoot = cfg.primary.exportRoots.front().hostPath;
    drRoot = cfg.dr.exportRoots.front().hostPath;
    cfg.primary.kubernetes.kubeconfig = sim.writeKubeconfig((base / "kubeconfig").string());
    cfg.replication.storageClasses = {"nfs-dynamic"};
    cfg.server.listen = "127.0.0.1:0";
    cfg.server.tokenFile = tmp.write("token", "cli-t0ken\n").string();
    cfg.server.settle = 100ms;
    cfg.schedule.enabled = false;
    bin = binaryPath("src/cli/ocpv-dr").string();
    writeConfig();
  }

  void writeConfig() {
    configPath = (base / "config.yaml").string();
    std::ofstream(configPath) << config::toJson(cfg).dump(2);
  }

  void makePv(const std::string& dir) {
    writeRandomFile(primaryRoot / dir / "disk.img", 30000, 7);
    Json pv = inTreePv("pvc-" + dir, "nfs-primary", "/exports/ocp/" + dir);
    pv.erase("status");
    pv["metadata"].erase("uid");
    Json created = sim.request("POST", "/api/v1/persistentvolumes", pv.dump());
    ASSERT_EQ(created["metadata"]["name"], "pvc-" + dir) << created.dump();
  }

  CliRun cli(std::vector<std::string> args) {
    ProcessSpec spec;
    spec.argv = {bin, "-c", configPath, "--log-format", "json"};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.timeout = 120s;
    return runCliProcess(spec);
  }

  TempDir tmp;
  KubeSimProcess sim;
  fs::path base, primaryRoot, drRoot;
  config::Config cfg;
  std::string bin, configPath;
};

// notify.email: the reconcile report reaches people by mail through a real SMTP server (STARTTLS,
// AUTH from a file); --no-notify sends nothing (checked by the next run's mail being message 1).
TEST_F(EngineCliTest, ReconcileMailsTheReportOverStarttls) {
  for (const char* d : {"a", "b"}) makePv(d);
  const TlsMaterial tls = TlsMaterial::generate({"127.0.0.1"});
  SmtpServerProcess smtp(tmp, tls, {true, true, "dr-bot", "pa55"});
  auto& mail = cfg.notify.email;
  mail.smtpUrl = smtp.url();
  mail.authFile = tmp.write("smtp-auth", "dr-bot\npa55\n").string();
  mail.caFile = tmp.write("smtp-ca.crt", tls.caCert).string();
  mail.from = "ocpv-dr@dr.example.com";
  mail.to = {"dr-team@example.com"};
  writeConfig();
  const std::string reports = (base / "reports").string();

  auto quiet = cli({"reconcile", "--report-dir", reports, "--no-progress", "--no-notify"});
  ASSERT_EQ(quiet.code, 0) << quiet.out << quiet.err;
  auto run = cli({"reconcile", "--report-dir", reports, "--no-progress"});
  ASSERT_EQ(run.code, 0) << run.out << run.err;
  ASSERT_TRUE(smtp.waitForLog("MESSAGE 1 [^\n]*tls=yes", 30s)) << smtp.log();
  const std::string msg = smtp.message(1).value_or("");
  const std::string runId = run.doc["run_id"].dump();
  EXPECT_NE(msg.find("Subject: [ocpv-dr] reconcile run " + runId + ": ok\r\n"), std::string::npos)
      << "the mail is the second run's (the --no-notify run sent none): " << msg;
  EXPECT_NE(msg.find("To: <dr-team@example.com>"), std::string::npos);
  EXPECT_NE(msg.find("pvc-b"), std::string::npos) << "the report lists the PVs: " << msg;
  Json full = Json::parse(readFile(run.doc["reports"]["json"]).valueOr("null"));
  ASSERT_TRUE(full["notify"].is_array()) << full.dump();
  EXPECT_EQ(full["notify"].back()["status"], "sent") << full["notify"].dump();
  EXPECT_EQ(full["notify"].back()["email"], "dr-team@example.com");
}

TEST_F(EngineCliTest, ReconcilePrintsTheSummaryWritesReportsAndExitsWithItsCode) {
  for (const char* d : {"a", "b", "c"}) makePv(d);
  HttpTestServer notify;
  Json notified;
  std::mutex mu;
  notify.server().Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard l(mu);
    notified = Json::parse(req.body, nullptr, false);
    notified["_auth"] = req.get_header_value("Authorization");
    res.status = 204;
  });
  notify.start();
  cfg.notify.urls = {notify.url("/hook")};
  cfg.notify.tokenFile = tmp.write("notify-token", "n0tify\n").string();
  writeConfig();
  const std::string reports = (base / "reports").string();

  auto ok = cli({"reconcile", "--report-dir", reports, "--no-progress"});
  ASSERT_EQ(ok.code, 0) << ok.out << ok.err;
  ASSERT_TRUE(ok.doc.is_object()) << ok.out;
  EXPECT_EQ(ok.doc["action"], "reconcile");
  EXPECT_EQ(ok.doc["result"], "ok");
  EXPECT_TRUE(ok.doc["error"].is_null());
  EXPECT_EQ(ok.doc["totals"]["synced"], 3);
  for (const char* k : {"json", "markdown", "html"}) {
    std::string f = ok.doc["reports"][k];
    EXPECT_TRUE(fs::exists(f)) << f;
    EXPECT_EQ(f.rfind(reports, 0), 0u) << f;
  }
  EXPECT_EQ(treeDigest(primaryRoot / "b"), treeDigest(drRoot / "b"));
  {
    std::lock_guard l(mu);
    EXPECT_EQ(notified["action"], "reconcile");
    EXPECT_EQ(notified["totals"]["synced"], 3);
    EXPECT_EQ(notified["_auth"], "Bearer n0tify");
  }
  Json full = Json::parse(readFile(ok.doc["reports"]["json"]).valueOr("null"));
  EXPECT_EQ(full["notify"][0]["status"], 204);

  // status: the table, and --json with a clock two hours ahead: over the 1h target.
  auto table = cli({"status"});
  ASSERT_EQ(table.code, 0) << table.err;
  EXPECT_NE(table.out.find("pvc-a"), std::string::npos);
  EXPECT_NE(table.out.find("3 replica(s), 0 over the RPO target of 1h 0m"), std::string::npos)
      << table.out;
  const std::string later = formatTime(std::chrono::system_clock::now() + 2h);
  auto later_ = cli({"status", "--json", "--now", later});
  ASSERT_EQ(later_.code, 0) << later_.err;
  EXPECT_EQ(later_.doc["totals"]["rpo_exceeded"], 3);
  EXPECT_GE(later_.doc["replicas"][0]["rpo_seconds"].get<int>(), 7190);

  // Every PV gone from the API: the breaker holds, exit 3, DR untouched.
  for (const char* d : {"a", "b", "c"})
    sim.request("DELETE", std::string("/api/v1/persistentvolumes/pvc-") + d);
  auto before = treeDigest(drRoot);
  auto held = cli({"reconcile", "--report-dir", reports, "--no-progress", "--no-notify"});
  EXPECT_EQ(held.code, 3) << held.out;
  EXPECT_EQ(held.doc["result"], "breaker");
  EXPECT_EQ(held.doc["breaker"]["tripped"], true);
  EXPECT_EQ(held.doc["error"]["kind"], "refused");
  EXPECT_EQ(treeDigest(drRoot), before);

  // The API is down: exit 4, no orphans.
  sim.stop();
  auto down = cli({"reconcile", "--report-dir", reports, "--no-progress", "--no-notify"});
  EXPECT_EQ(down.code, 4) << down.out;
  EXPECT_EQ(down.doc["result"], "list-failed");
  EXPECT_EQ(down.doc["orphans"].size(), 0u);
  EXPECT_EQ(treeDigest(drRoot), before);
}

TEST_F(EngineCliTest, ReconcileDrawsProgressOnATerminalOnly) {
  for (const char* d : {"t1", "t2", "t3"}) makePv(d);
  if (!fs::exists("/usr/bin/script")) GTEST_SKIP() << "util-linux script(1) is not installed";
  // script(1) gives the command a pseudo-terminal: stderr is a TTY there.
  std::string cmd;
  for (const auto& a :
       std::vector<std::string>{bin, "-c", configPath, "--log-level", "error", "reconcile",
                                "--report-dir", (base / "reports").string()})
    cmd += shellQuote(a) + " ";
  ProcessSpec spec;
  spec.argv = {"/usr/bin/script", "-qfec", cmd, "/dev/null"};
  spec.timeout = 120s;
  RealProcessRunner runner;
  auto r = runner.run(spec);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->exitCode, 0) << r->out;
  EXPECT_NE(r->out.find("reconcile: 3/3 done"), std::string::npos) << r->out;
  EXPECT_NE(r->out.find("ETA 0:00:00"), std::string::npos) << r->out;
  // Not a terminal: no progress line, stdout is exactly one JSON document.
  auto plain = cli({"reconcile", "--report-dir", (base / "reports").string()});
  EXPECT_EQ(plain.code, 0);
  EXPECT_EQ(plain.err.find("done  "), std::string::npos) << plain.err;
  EXPECT_TRUE(plain.doc.is_object()) << plain.out;
}

TEST_F(EngineCliTest, ReconcileSetupErrorsAreJsonWithTheirExitCode) {
  auto bad = cli({"reconcile", "--lock-wait", "soon"});
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(bad.doc["error"]["kind"], "invalid");
  EXPECT_NE(bad.doc["error"]["message"].get<std::string>().find("--lock-wait"), std::string::npos);
  configPath = (base / "nope.yaml").string();
  auto missing = cli({"reconcile"});
  EXPECT_NE(missing.code, 0);
  EXPECT_EQ(missing.doc["result"], "failed");
}

// `ocpv-dr serve` as a process: spawned, events POSTed, SIGTERM.
class ServeProcess : public ocpvdr::testing::Spawned {
 public:
  ServeProcess(const std::string& bin, const std::string& config, const fs::path& dir)
      : Spawned({bin, "-c", config, "--log-format", "json", "serve", "--ready-file",
                 (dir / "serve.url").string()},
                (dir / "serve.log").string()),
        ready_((dir / "serve.url").string()) {}
  std::string url() const { return readFile(ready_).valueOr(""); }
  void signal(int sig) { ::kill(pid(), sig); }

 private:
  std::string ready_;
};

TEST_F(EngineCliTest, ServeAcceptsEventsAndExitsZeroOnSigterm) {
  makePv("served");
  ServeProcess serve(bin, configPath, base);
  ASSERT_TRUE(waitFor([&] { return !serve.url().empty(); })) << serve.log();
  std::string url = serve.url();
  url.erase(url.find_last_not_of("\n") + 1);
  Json pv = sim.request("GET", "/api/v1/persistentvolumes/pvc-served");
  Json ev{{"kind", "PersistentVolume"}, {"type", "ADDED"}, {"resource", pv}, {"id", "cli:1:ADDED"}};
  CurlHttpClient http;
  HttpRequest req;
  req.method = "POST";
  req.url = url + "/v1/events";
  req.body = ev.dump();
  req.headers = {{"Authorization", "Bearer cli-t0ken"}};
  auto r = http.send(req);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->status, 202) << r->body;
  ASSERT_TRUE(waitFor([&] { return fs::exists(drRoot / "served/disk.img"); })) << serve.log();

  HttpRequest st;
  st.url = url + "/v1/status";
  st.headers = {{"Authorization", "Bearer cli-t0ken"}};
  ASSERT_TRUE(waitFor([&] {
    auto s = http.send(st);
    if (!s.ok() || s->status != 200) return false;
    auto doc = Json::parse(s->body, nullptr, false);
    return doc.is_object() && !doc["replicas"].empty() &&
           doc["replicas"][0]["last_success"].is_string();
  }));
  HttpRequest metrics;
  metrics.url = url + "/metrics";
  auto m = http.send(metrics);
  ASSERT_TRUE(m.ok());
  EXPECT_NE(
      m->body.find("ocpvdr_engine_syncs_total{action=\"sync\",kind=\"pv\",result=\"synced\"} 1"),
      std::string::npos)
      << m->body;

  serve.signal(SIGTERM);
  EXPECT_EQ(serve.wait(20s), 0) << serve.log();
  EXPECT_NE(serve.log().find("serve: stopped"), std::string::npos);
}

// `ocpv-dr relay` (issue 16, the AAP shape): the change feed over the local transport (the mover's
// watch on this machine's file system) turned into signed DataChange events for the EDA webhook:
// the watcher's start is a rescan (an event for every replica), a write at the primary is one
// more event after the window, SIGTERM ends it with 0.
TEST_F(EngineCliTest, RelayPostsSignedDataChangeEventsForWritesAtThePrimary) {
  makePv("a");
  auto first = cli({"pv", "sync", "--pv", "pvc-a", "--no-progress"});
  ASSERT_EQ(first.code, 0) << first.out << first.err;
  WebhookReceiver::Options ro;
  ro.token = "relay-t0ken";
  ro.hmacSecret = "relay-hm4c";
  WebhookReceiver eda(ro);
  eda.start();
  cfg.forwarder.webhookUrl = eda.url();
  cfg.forwarder.tokenFile = tmp.write("eda-token", "relay-t0ken\n").string();
  cfg.forwarder.hmacSecretFile = tmp.write("eda-hmac", "relay-hm4c\n").string();
  cfg.replication.moverLocalPath = binaryPath("src/extent/ocpv-dr-mover").string();
  cfg.replication.watch.settle = 200ms;
  writeConfig();
  Spawned relay({bin, "-c", configPath, "--log-format", "json", "relay", "--window", "2s"},
                (base / "relay.log").string());
  auto events = [&] {
    std::vector<Json> out;
    for (const auto& r : eda.accepted())
      if (r.json.value("kind", "") == "DataChange") out.push_back(r.json);
    return out;
  };
  ASSERT_TRUE(waitFor([&] { return !events().empty(); })) << relay.log();
  EXPECT_EQ(events()[0]["resource"]["metadata"]["name"], "pvc-a");
  EXPECT_EQ(events()[0]["reason"], "rescan-start") << "the watcher's start is a rescan";
  writeRandomFile(primaryRoot / "a" / "disk.img", 30000, 8);
  ASSERT_TRUE(waitFor([&] {
    for (const auto& e : events())
      if (e["reason"] == "changed") return true;
    return false;
  })) << relay.log();
  const auto all = events();
  EXPECT_EQ(all.back()["resource"]["spec"]["storageClassName"], "nfs-dynamic")
      << "the PV object, for the rulebook's condition and the sync job";
  EXPECT_EQ(eda.answers()[401], 0u) << "every event carried the token and a valid signature";
  ::kill(relay.pid(), SIGTERM);
  EXPECT_EQ(relay.wait(30s), 0) << relay.log();
}

TEST_F(EngineCliTest, ServeRefusesAnInvalidScheduleAtStartup) {
  cfg.schedule.enabled = true;
  cfg.schedule.cron = "0 0 30 feb *";
  writeConfig();
  ServeProcess serve(bin, configPath, base);
  EXPECT_EQ(serve.wait(20s), 2) << serve.log();
  EXPECT_NE(serve.log().find("never runs"), std::string::npos) << serve.log();
}

// `systemd-analyze verify` of a shipped unit, with the built binary in place of /usr/bin/ocpv-dr
// (systemd checks it exists).
void verifyUnit(const std::string& text, const std::string& name) {
  TempDir dir;
  std::string unit = text;
  for (auto p = unit.find("/usr/bin/ocpv-dr"); p != std::string::npos;
       p = unit.find("/usr/bin/ocpv-dr", p + 1))
    unit.replace(p, 16, binaryPath("src/cli/ocpv-dr").string());
  auto path = dir.write(name, unit);
  ProcessSpec spec;
  spec.argv = {"/usr/bin/systemd-analyze", "verify", path.string()};
  spec.timeout = 60s;
  RealProcessRunner runner;
  auto r = runner.run(spec);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->exitCode, 0) << r->out << r->err;
  EXPECT_EQ(r->err.find(name), std::string::npos) << r->err;
}

TEST(SystemdUnitTest, TheShippedUnitVerifiesAndOutwaitsTheShutdownGrace) {
  const std::string text =
      readFile(sourcePath("deploy/systemd/ocpv-dr-serve.service").string()).valueOr("");
  ASSERT_FALSE(text.empty());
  EXPECT_NE(text.find("ExecStart=/usr/bin/ocpv-dr -c /etc/ocpv-dr/config.yaml --log-format json "
                      "serve\n"),
            std::string::npos);
  EXPECT_NE(text.find("KillSignal=SIGTERM"), std::string::npos);
  EXPECT_NE(text.find("RestartPreventExitStatus=2"), std::string::npos);
  // systemd must wait longer than serve's default grace (60s) before it SIGKILLs.
  auto pos = text.find("TimeoutStopSec=");
  ASSERT_NE(pos, std::string::npos);
  auto timeout = config::parseDuration(text.substr(pos + 15, text.find('\n', pos) - pos - 15));
  ASSERT_TRUE(timeout.ok());
  EXPECT_GT(*timeout, config::Server{}.shutdownGrace + std::chrono::seconds(10));
  if (!fs::exists("/usr/bin/systemd-analyze")) GTEST_SKIP() << "systemd-analyze is not installed";
  verifyUnit(text, "ocpv-dr-serve.service");
}

TEST(SystemdUnitTest, TheRelayUnitVerifiesAndRunsTheRelay) {
  const std::string text =
      readFile(sourcePath("deploy/systemd/ocpv-dr-relay.service").string()).valueOr("");
  ASSERT_FALSE(text.empty());
  EXPECT_NE(text.find("ExecStart=/usr/bin/ocpv-dr -c /etc/ocpv-dr/config.yaml --log-format json "
                      "relay --window 60s\n"),
            std::string::npos);
  EXPECT_NE(text.find("RestartPreventExitStatus=2"), std::string::npos);
  if (!fs::exists("/usr/bin/systemd-analyze")) GTEST_SKIP() << "systemd-analyze is not installed";
  verifyUnit(text, "ocpv-dr-relay.service");
}

}  // namespace
}  // namespace ocpvdr::testing
