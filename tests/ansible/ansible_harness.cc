// AnsibleProject (see ansible_harness.h).
#include "ansible/ansible_harness.h"

#include <unistd.h>

#include "core/process.h"
#include "support/files.h"
#include "support/temp_dir.h"

namespace ocpvdr::testing {
namespace fs = std::filesystem;

namespace {

constexpr const char* kAnsiblePlaybook = "/usr/bin/ansible-playbook";

}  // namespace

Json PlaybookRun::customStats() const {
  if (!doc.is_object() || !doc.contains("global_custom_stats")) return Json::object();
  return doc.at("global_custom_stats");
}

int PlaybookRun::stat(const std::string& host, const std::string& counter) const {
  if (!doc.is_object() || !doc.contains("stats")) return -1;
  const Json& s = doc.at("stats");
  if (!s.contains(host) || !s.at(host).contains(counter)) return -1;
  return s.at(host).at(counter).get<int>();
}

std::string PlaybookRun::failures() const {
  std::string out;
  if (!doc.is_object() || !doc.contains("plays")) return out;
  static const Json kNone = Json::object();
  for (const auto& play : doc.at("plays")) {
    if (!play.contains("tasks")) continue;
    for (const auto& task : play.at("tasks")) {
      const Json& hosts = task.contains("hosts") ? task.at("hosts") : kNone;
      for (auto it = hosts.begin(); it != hosts.end(); ++it) {
        const std::string& host = it.key();
        const Json& r = it.value();
        if (!r.value("failed", false) && !r.value("unreachable", false)) continue;
        std::string name = task.contains("task") ? task.at("task").value("name", "") : "";
        std::string msg = r.contains("msg") && r.at("msg").is_string()
                              ? r.at("msg").get<std::string>()
                              : (r.contains("msg") ? r.at("msg").dump() : "");
        out += host + " | " + name + ": " + msg + "\n";
      }
    }
  }
  return out;
}

std::vector<Json> PlaybookRun::taskResults(const std::string& suffix,
                                           const std::string& host) const {
  std::vector<Json> out;
  if (!doc.is_object() || !doc.contains("plays")) return out;
  for (const auto& play : doc.at("plays")) {
    if (!play.contains("tasks")) continue;
    for (const auto& task : play.at("tasks")) {
      std::string name = task.contains("task") ? task.at("task").value("name", "") : "";
      if (name.size() < suffix.size() ||
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
        continue;
      if (task.contains("hosts") && task.at("hosts").contains(host))
        out.push_back(task.at("hosts").at(host));
    }
  }
  return out;
}

std::string PlaybookRun::describe() const {
  std::string s = "ansible-playbook exit " + std::to_string(exitCode) + "\n";
  std::string f = failures();
  if (!f.empty()) s += "failed tasks:\n" + f;
  if (doc.is_null()) s += "stdout (not JSON):\n" + out.substr(0, 4000) + "\n";
  s += "stderr:\n" + err.substr(0, 4000);
  return s;
}

std::string AnsibleProject::unavailableReason() {
  if (::access(kAnsiblePlaybook, X_OK) != 0)
    return std::string(kAnsiblePlaybook) + " is not installed (Debian package ansible; make deps)";
  return "";
}

AnsibleProject::AnsibleProject(fs::path workDir) : dir_(std::move(workDir)) {
  fs::create_directories(dir_ / "ansible-home");
  fs::create_directories(dir_ / "local-tmp");
  fs::create_directories(dir_ / "cp");
}

fs::path AnsibleProject::writeInventory(const std::string& drHostLine) const {
  fs::path inv = dir_ / "inventory";
  fs::create_directories(inv);
  std::error_code ec;
  fs::remove(inv / "group_vars", ec);
  fs::create_directory_symlink(sourcePath("group_vars"), inv / "group_vars");
  putFile(inv / "hosts.ini",
          "# written by tests/ansible (mirrors inventory/hosts.ini)\n"
          "[dr_nfs]\n" +
              drHostLine +
              "\n\n[all:vars]\n"
              "ansible_python_interpreter=/usr/bin/python3\n");
  return inv / "hosts.ini";
}

fs::path AnsibleProject::writeNetnsInventory(const NetnsHosts& hosts) const {
  fs::create_directories(dir_ / "remote-tmp");
  return writeInventory("dr-nfs ansible_host=" + hosts.dr().ip +
                        " ansible_user=root ansible_ssh_private_key_file=" + hosts.clientKey() +
                        " ansible_ssh_common_args='-o UserKnownHostsFile=" + hosts.knownHosts() +
                        " -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=10'" +
                        " ansible_remote_tmp=" + (dir_ / "remote-tmp").string());
}

fs::path AnsibleProject::writeLocalInventory() const {
  return writeInventory("dr-nfs ansible_connection=local");
}

PlaybookRun AnsibleProject::run(const std::string& playbook, const fs::path& inventory,
                                const Json& extraVars, std::chrono::seconds timeout) const {
  fs::path vars = dir_ / ("extra-vars-" + std::to_string(++runs_) + ".json");
  putFile(vars, extraVars.dump(2));
  RealProcessRunner runner;
  ProcessSpec spec;
  spec.argv = {kAnsiblePlaybook,    "-i",
               inventory.string(),  "-e",
               "@" + vars.string(), sourcePath(playbook).string()};
  spec.cwd = sourcePath("").string();
  spec.env = {
      {"ANSIBLE_CONFIG", sourcePath("ansible.cfg").string()},
      {"ANSIBLE_HOME", (dir_ / "ansible-home").string()},
      {"ANSIBLE_LOCAL_TEMP", (dir_ / "local-tmp").string()},
      {"ANSIBLE_SSH_CONTROL_PATH_DIR", (dir_ / "cp").string()},
      // No ControlPersist: nothing of ours may outlive the run.
      {"ANSIBLE_SSH_ARGS", "-o ControlMaster=no"},
      {"ANSIBLE_STDOUT_CALLBACK", "ansible.posix.json"},
      {"ANSIBLE_SHOW_CUSTOM_STATS", "true"},
      {"ANSIBLE_NOCOLOR", "1"},
      {"ANSIBLE_FORCE_COLOR", "0"},
      {"ANSIBLE_RETRY_FILES_ENABLED", "false"},
  };
  spec.timeout = timeout;
  spec.maxCapture = 32u << 20;
  PlaybookRun r;
  auto res = runner.run(spec);
  if (!res.ok()) {
    r.err = res.error().describe();
    return r;
  }
  r.exitCode = res->signaled ? 128 + res->termSignal : res->exitCode;
  if (res->timedOut) r.err = "TIMED OUT after " + std::to_string(timeout.count()) + "s\n";
  r.out = res->out;
  r.err += res->err;
  r.doc = Json::parse(r.out, nullptr, /*allow_exceptions=*/false);
  if (r.doc.is_discarded()) r.doc = nullptr;
  return r;
}

Json edaEvent(const std::string& id, const std::string& kind, const std::string& type,
              const Json& resource) {
  // The forwarder's body (src/events/payload.h): id, kind, apiVersion, type, cluster,
  // observedAt, initial, resource.
  const std::string apiVersion = resource.value(
      "apiVersion", kind == "PersistentVolume" ? "v1" : "snapshot.storage.k8s.io/v1");
  return Json{
      {"payload",
       {{"id", id},
        {"kind", kind},
        {"apiVersion", apiVersion},
        {"type", type},
        {"cluster", "primary"},
        {"observedAt", "2026-11-24T01:00:00.000Z"},
        {"initial", false},
        {"resource", resource}}},
      {"meta",
       {{"endpoint", ""},
        {"headers",
         {{"Content-Type", "application/json"},
          {"User-Agent", "ocpv-dr-forwarder"},
          {"X-Hub-Signature-256", "sha256=0000"}}},
        {"source", {{"name", "ocpv-dr forwarder webhook"}, {"type", "ansible.eda.webhook"}}},
        {"received_at", "2026-11-24T01:00:00.000000Z"},
        {"uuid", "5b0e2f58-3d6c-4f0e-9a51-2c1f0d7e6a10"}}}};
}

Json edaJobVars(const std::string& rule, const Json& event, const Json& jobArgsExtraVars) {
  Json vars = jobArgsExtraVars.is_object() ? jobArgsExtraVars : Json::object();
  vars["ansible_eda"] = {
      {"ruleset", "ocpv-dr replication events"}, {"rule", rule}, {"event", event}};
  return vars;
}

}  // namespace ocpvdr::testing
