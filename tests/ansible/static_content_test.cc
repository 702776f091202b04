// The Ansible/AAP content checked without hosts: ansible-lint (production profile, offline) over
// the project, the rulebooks against ansible-rulebook's JSON schema and the domain rules, the AAP
// configuration's cross-references and the execution environment definition, playbook syntax,
// the inventory's group_vars link, and a role preflight failing with a useful message. Each
// checker is also shown to reject broken input, so a pass means something.
#include <gtest/gtest.h>

#include <regex>

#include "ansible/ansible_harness.h"
#include "core/process.h"
#include "support/files.h"
#include "support/temp_dir.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;

struct Ran {
  int exitCode = -1;
  std::string out, err;
  std::string all() const { return out + err; }
};

Ran runTool(std::vector<std::string> argv, const fs::path& cwd = sourcePath(""),
            std::map<std::string, std::string> env = {}) {
  RealProcessRunner runner;
  ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.cwd = cwd.string();
  env.emplace("ANSIBLE_NOCOLOR", "1");
  env.emplace("NO_COLOR", "1");
  spec.env = std::move(env);
  spec.timeout = std::chrono::seconds(300);
  auto r = runner.run(spec);
  Ran out;
  if (!r.ok()) {
    out.err = r.error().describe();
    return out;
  }
  out.exitCode = r->signaled ? 128 + r->termSignal : r->exitCode;
  out.out = r->out;
  out.err = r->err;
  return out;
}

void replaceIn(const fs::path& p, const std::string& from, const std::string& to) {
  std::string s = slurp(p);
  auto pos = s.find(from);
  ASSERT_NE(pos, std::string::npos) << from << " not in " << p;
  s.replace(pos, from.size(), to);
  putFile(p, s);
}

bool have(const char* path) {
  return ::access(path, X_OK) == 0;
}

#define SKIP_WITHOUT(path, pkg)                                                                \
  if (!have(path))                                                                             \
  GTEST_SKIP() << "SKIPPED (ansible): " << path << " is not installed (Debian package " << pkg \
               << "; make deps)"

// Python checkers run with Debian's interpreter (python3-yaml, python3-jsonschema), never the
// python3 that happens to be first on PATH.
Ran checkRulebooks(const std::vector<std::string>& rulebooks,
                   const fs::path& templates = sourcePath("aap/controller_templates.yml")) {
  std::vector<std::string> argv = {
      "/usr/bin/python3", sourcePath("tests/ansible/check_rulebooks.py").string(),
      "--schema",         fixturePath("ruleset_schema.json").string(),
      "--templates",      templates.string(),
      "--project-root",   sourcePath("").string()};
  argv.insert(argv.end(), rulebooks.begin(), rulebooks.end());
  return runTool(argv);
}

Ran checkAap(const fs::path& aapDir, const fs::path& ee) {
  return runTool({"/usr/bin/python3", sourcePath("tests/ansible/check_aap.py").string(),
                  "--project-root", sourcePath("").string(), "--aap-dir", aapDir.string(), "--ee",
                  ee.string()});
}

TEST(AnsibleLint, ProjectPassesTheProductionProfileOffline) {
  SKIP_WITHOUT("/usr/bin/ansible-lint", "ansible-lint");
  TempDir home("ansible-lint-home");
  std::string cfg = slurp(sourcePath(".ansible-lint"));
  EXPECT_NE(cfg.find("profile: production"), std::string::npos);
  Ran r = runTool({"/usr/bin/ansible-lint", "--offline", "-p"}, sourcePath(""),
                  {{"XDG_CACHE_HOME", home.str()}, {"ANSIBLE_HOME", home.str()}});
  EXPECT_EQ(r.exitCode, 0) << r.all();
  // It really looked at the roles and playbooks (not an empty file list).
  EXPECT_NE(r.all().find("Passed"), std::string::npos) << r.all();
  std::smatch m;
  std::string all = r.all();
  ASSERT_TRUE(std::regex_search(all, m, std::regex("on (\\d+) files"))) << all;
  EXPECT_GE(std::stoi(m[1]), 40) << all;
}

TEST(AnsibleLint, TheSameConfigurationRejectsABadPlaybook) {
  SKIP_WITHOUT("/usr/bin/ansible-lint", "ansible-lint");
  TempDir dir("ansible-lint-bad");
  putFile(dir / "bad.yml", "---\n- hosts: all\n  tasks:\n    - command: echo {{ something }}\n");
  Ran r = runTool({"/usr/bin/ansible-lint", "--offline", "-p", "-c",
                   sourcePath(".ansible-lint").string(), "bad.yml"},
                  dir.path(), {{"XDG_CACHE_HOME", dir.str()}, {"ANSIBLE_HOME", dir.str()}});
  EXPECT_NE(r.exitCode, 0) << r.all();
  EXPECT_NE(r.all().find("fqcn"), std::string::npos) << r.all();
  EXPECT_NE(r.all().find("name[play]"), std::string::npos) << r.all();
}

TEST(Rulebooks, ValidAgainstTheSchemaAndTheProjectRules) {
  SKIP_WITHOUT("/usr/bin/python3", "python3");
  Ran r = checkRulebooks({sourcePath("rulebooks/ocp_dr_events.yml").string(),
                          sourcePath("rulebooks/ocp_dr_events_standalone.yml").string()});
  EXPECT_EQ(r.exitCode, 0) << r.all();
  EXPECT_NE(r.out.find("2 rulebook(s) valid"), std::string::npos) << r.all();
}

TEST(Rulebooks, TheCheckerRejectsTheMistakesItGuardsAgainst) {
  SKIP_WITHOUT("/usr/bin/python3", "python3");
  TempDir dir("rulebook-bad");
  putFile(dir / "bad.yml", R"(---
- name: bad
  hosts: all
  sources:
    - webhook:
        port: 5000
    - ansible.eda.webhook:
        port: 5001
  rules:
    - name: reads the top-level event
      condition: event.kind == "PersistentVolume"
      action:
        run_job_template:
          name: EDA - Sync NFS PV to DR
          organization: Default
    - name: ready only on ADDED
      condition: event.payload.type == "ADDED" and event.payload.resource.status.readyToUse == true
      throttle:
        once_within: 5 minutes
        group_by_attributes:
          - event.resource.metadata.uid
      action:
        run_job_template:
          name: EDA - No Such Template
          organization: "{{ org }}"
    - name: playbook that does not exist
      condition: event.payload.type == "DELETED"
      action:
        run_playbook:
          name: playbooks/nowhere.yml
)");
  Ran r = checkRulebooks({(dir / "bad.yml").string()});
  EXPECT_EQ(r.exitCode, 1) << r.all();
  const std::string& o = r.out;
  EXPECT_NE(o.find("source 'webhook' is not fully qualified"), std::string::npos) << o;
  EXPECT_NE(o.find("webhook source without token authentication"), std::string::npos) << o;
  EXPECT_NE(o.find("condition reads event.kind"), std::string::npos) << o;
  EXPECT_NE(o.find("organization is not taken from a variable"), std::string::npos) << o;
  EXPECT_NE(o.find("acts on readyToUse on ADDED only"), std::string::npos) << o;
  EXPECT_NE(o.find("'ready only on ADDED': acts on VolumeSnapshots without excluding Velero's"),
            std::string::npos)
      << o;
  EXPECT_NE(o.find("throttle groups by 'event.resource.metadata.uid'"), std::string::npos) << o;
  EXPECT_NE(o.find("job template 'EDA - No Such Template' is not defined"), std::string::npos) << o;
  EXPECT_NE(o.find("run_playbook 'playbooks/nowhere.yml' does not exist"), std::string::npos) << o;
}

TEST(Rulebooks, TheSchemaRejectsAMalformedThrottle) {
  SKIP_WITHOUT("/usr/bin/python3", "python3");
  TempDir dir("rulebook-schema");
  putFile(dir / "bad.yml", R"(---
- name: bad throttle
  hosts: all
  sources:
    - ansible.eda.webhook:
        port: 5000
        token: "{{ t }}"
  rules:
    - name: no group_by_attributes
      condition: event.payload.type == "ADDED"
      throttle:
        once_within: 30 secs
      action:
        debug:
)");
  Ran r = checkRulebooks({(dir / "bad.yml").string()});
  EXPECT_EQ(r.exitCode, 1) << r.all();
  EXPECT_NE(r.out.find("schema:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rules/0/throttle"), std::string::npos) << r.out;
}

TEST(AapConfiguration, CrossReferencesAndTheExecutionEnvironmentCheckOut) {
  SKIP_WITHOUT("/usr/bin/python3", "python3");
  Ran r = checkAap(sourcePath("aap"), sourcePath("execution-environment.yml"));
  EXPECT_EQ(r.exitCode, 0) << r.all();
  EXPECT_NE(r.out.find("AAP configuration consistent"), std::string::npos) << r.all();
}

TEST(AapConfiguration, TheCheckerCatchesBrokenReferences) {
  SKIP_WITHOUT("/usr/bin/python3", "python3");
  TempDir dir("aap-broken");
  fs::copy(sourcePath("aap"), dir / "aap", fs::copy_options::recursive);
  fs::copy(sourcePath("execution-environment.yml"), dir / "ee.yml");
  replaceIn(dir / "aap/controller_templates.yml",
            "playbook: playbooks/event_driven/handle_nfs_pv_delete.yml",
            "playbook: playbooks/event_driven/handle_nfs_pv_remove.yml");
  replaceIn(dir / "aap/controller_templates.yml", "  - name: EDA - Sync VolumeSnapshot Metadata",
            "  - name: EDA - Sync Snapshot Metadata");
  replaceIn(dir / "aap/controller_workflows.yml", "unified_job_template: OCPV-DR - Failover",
            "unified_job_template: OCPV-DR - Fail over");
  replaceIn(dir / "aap/controller_schedules.yml",
            "unified_job_template: OCPV-DR - Periodic storage sync",
            "unified_job_template: OCPV-DR - Hourly sync");
  replaceIn(dir / "aap/eda_rulebook_activations.yml", "rulebook: ocp_dr_events.yml",
            "rulebook: ocp_events.yml");
  replaceIn(dir / "aap/controller_workflows.yml", "            - unplanned\n", "");
  replaceIn(dir / "ee.yml", "version: 3", "version: 1");
  replaceIn(dir / "ee.yml", "COPY _build/ocpv-dr/", "COPY _build/other/");
  replaceIn(dir / "aap/controller_notifications.yml", "name: OCPV-DR - Mail the DR team",
            "name: OCPV-DR - Mail the team");
  replaceIn(dir / "aap/controller_notifications.yml", "      sender:", "      from:");
  Ran r = checkAap(dir / "aap", dir / "ee.yml");
  EXPECT_EQ(r.exitCode, 1) << r.all();
  const std::string& o = r.out;
  EXPECT_NE(o.find("playbook 'playbooks/event_driven/handle_nfs_pv_remove.yml' does not exist"),
            std::string::npos)
      << o;
  EXPECT_NE(o.find("runs 'OCPV-DR - Fail over', which is not a job template"), std::string::npos)
      << o;
  EXPECT_NE(o.find("unified_job_template 'OCPV-DR - Hourly sync' does not exist"),
            std::string::npos)
      << o;
  EXPECT_NE(o.find("rulebook 'ocp_events.yml' is not a file under rulebooks/"), std::string::npos)
      << o;
  EXPECT_NE(o.find("failover_mode choices are ['planned']"), std::string::npos) << o;
  EXPECT_NE(o.find("version must be 3"), std::string::npos) << o;
  EXPECT_NE(o.find("is never copied into the image"), std::string::npos) << o;
  EXPECT_NE(o.find("notification template 'OCPV-DR - Mail the DR team' is not defined"),
            std::string::npos)
      << o;
  EXPECT_NE(o.find("email notification_configuration lacks sender"), std::string::npos) << o;
  EXPECT_NE(o.find("email notification_configuration has unknown from"), std::string::npos) << o;

  // With the activation's rulebook restored, a renamed job template breaks the rulebook's
  // run_job_template contract.
  replaceIn(dir / "aap/eda_rulebook_activations.yml", "rulebook: ocp_events.yml",
            "rulebook: ocp_dr_events.yml");
  Ran r2 = checkAap(dir / "aap", sourcePath("execution-environment.yml"));
  EXPECT_NE(r2.out.find("launches job template 'EDA - Sync VolumeSnapshot Metadata', which is "
                        "not defined"),
            std::string::npos)
      << r2.out;
  // And a credential type that no longer injects the token leaves the rulebook without it.
  replaceIn(dir / "aap/eda_credential_types.yml", "ocpvdr_webhook_token:", "webhook_token:");
  Ran r3 = checkAap(dir / "aap", sourcePath("execution-environment.yml"));
  EXPECT_NE(r3.out.find("needs variable 'ocpvdr_webhook_token'"), std::string::npos) << r3.out;
}

TEST(Playbooks, EveryPlaybookPassesTheSyntaxCheck) {
  if (auto why = AnsibleProject::unavailableReason(); !why.empty())
    GTEST_SKIP() << "SKIPPED (ansible): " << why;
  TempDir dir("ansible-syntax");
  AnsibleProject project(dir.path());
  fs::path inv = project.writeLocalInventory();
  int checked = 0;
  for (const auto& e : fs::recursive_directory_iterator(sourcePath("playbooks"))) {
    if (!e.is_regular_file() || e.path().extension() != ".yml") continue;
    Ran r = runTool(
        {"/usr/bin/ansible-playbook", "--syntax-check", "-i", inv.string(), e.path().string()},
        sourcePath(""),
        {{"ANSIBLE_CONFIG", sourcePath("ansible.cfg").string()},
         {"ANSIBLE_HOME", (dir / "home").string()},
         {"ANSIBLE_LOCAL_TEMP", (dir / "tmp").string()}});
    EXPECT_EQ(r.exitCode, 0) << e.path() << "\n" << r.all();
    ++checked;
  }
  EXPECT_GE(checked, 7) << "the four event playbooks, failover, periodic sync and install";
}

TEST(Playbooks, TheInventoryCarriesTheSharedGroupVars) {
  if (auto why = AnsibleProject::unavailableReason(); !why.empty())
    GTEST_SKIP() << "SKIPPED (ansible): " << why;
  TempDir dir("ansible-inventory");
  Ran r = runTool(
      {"/usr/bin/ansible-inventory", "-i", sourcePath("inventory/hosts.ini").string(), "--host",
       "dr-nfs"},
      sourcePath(""),
      {{"ANSIBLE_CONFIG", sourcePath("ansible.cfg").string()}, {"ANSIBLE_HOME", dir.str()}});
  ASSERT_EQ(r.exitCode, 0) << r.all();
  Json vars = Json::parse(r.out, nullptr, false);
  ASSERT_TRUE(vars.is_object()) << r.out;
  EXPECT_EQ(vars.value("ocpvdr_binary", ""), "/usr/bin/ocpv-dr") << r.out;
  EXPECT_EQ(vars.value("ocpvdr_config_path", ""), "/etc/ocpv-dr/config.yaml");
  EXPECT_EQ(vars.value("ansible_python_interpreter", ""), "/usr/bin/python3");
  EXPECT_TRUE(vars.contains("ocpvdr_config")) << r.out;
}

TEST(Playbooks, ARolePreflightSaysWhatIsMissing) {
  if (auto why = AnsibleProject::unavailableReason(); !why.empty())
    GTEST_SKIP() << "SKIPPED (ansible): " << why;
  TempDir dir("ansible-preflight");
  AnsibleProject project(dir.path());
  fs::path inv = project.writeLocalInventory();
  // A job launched without the object (a job template run by hand with no extra vars).
  PlaybookRun r = project.run("playbooks/event_driven/handle_nfs_pv_sync.yml", inv, Json::object(),
                              std::chrono::seconds(120));
  EXPECT_NE(r.exitCode, 0) << r.describe();
  EXPECT_NE(r.failures().find("nfs_sync_on_event needs a PersistentVolume object"),
            std::string::npos)
      << r.describe();
  // A VolumeSnapshot handed to the PV handler is refused before anything runs.
  Json vs = {{"kind", "VolumeSnapshot"}, {"metadata", {{"name", "s"}, {"namespace", "n"}}}};
  PlaybookRun wrong = project.run("playbooks/event_driven/handle_nfs_pv_delete.yml", inv,
                                  {{"pv_object", vs}}, std::chrono::seconds(120));
  EXPECT_NE(wrong.exitCode, 0);
  EXPECT_NE(wrong.failures().find("Got kind \"VolumeSnapshot\""), std::string::npos)
      << wrong.describe();
}

}  // namespace
}  // namespace ocpvdr::testing
