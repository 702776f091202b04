// playbooks/setup/install_ocpv_dr.yml for real: the .deb is built from this build tree with CPack
// (what `make package` does), the playbook copies it to the netns DR host over ssh and installs it
// with apt — the filesystem is shared, so this installs /usr/bin/ocpv-dr on this machine — then
// renders the configuration from a mapping and validates it with the installed binary. A package
// that was not installed before the test is removed again afterwards.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "ansible/ansible_harness.h"
#include "core/process.h"
#include "support/files.h"
#include "support/netns_hosts.h"
#include "support/temp_dir.h"

namespace ocpvdr::testing {
namespace {

namespace fs = std::filesystem;

ProcessResult run(std::vector<std::string> argv, const std::string& cwd = "") {
  RealProcessRunner runner;
  ProcessSpec spec;
  spec.argv = std::move(argv);
  spec.cwd = cwd;
  spec.timeout = std::chrono::seconds(300);
  auto r = runner.run(spec);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
  return r.ok() ? r.value() : ProcessResult{};
}

bool packageInstalled() {
  auto r = run({"dpkg-query", "-W", "-f=${Status}", "ocpv-dr"});
  return r.exitCode == 0 && r.out.find("install ok installed") != std::string::npos;
}

unsigned modeOf(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

// The configuration mapping (keys of docs/configuration.md) the install renders, built from
// the netns hosts: what group_vars/all.yml's ocpvdr_config holds on a real site.
Json configMapping(const NetnsHosts& h, const fs::path& etc) {
  auto site = [&](const NetnsHost& host, const std::string& name, const std::string& server) {
    return Json{{"name", name},
                {"nfs",
                 {{"server", server},
                  {"aliases", {host.ip}},
                  {"export_roots",
                   {{{"export", h.options().exportPath}, {"path", host.exportDir.string()}}}}}},
                {"ssh",
                 {{"host", host.ip},
                  {"user", "root"},
                  {"key_file", h.clientKey()},
                  {"known_hosts_file", h.knownHosts()}}}};
  };
  return Json{
      {"sites",
       {{"primary", site(h.primary(), "primary", h.options().primaryServer)},
        {"dr", site(h.dr(), "dr", h.options().drServer)}}},
      {"replication",
       {{"storage_classes", {"nfs-dynamic"}},
        {"path_mappings", {{{"primary", h.options().exportPath}, {"dr", h.options().exportPath}}}},
        {"delete_policy", "quarantine"}}},
      {"schedule", {{"enabled", false}}},
      {"catalog", {{"path", (h.dr().root / "var/lib/ocpv-dr/catalog.db").string()}}},
      {"backup_store",
       {{"endpoint", "http://127.0.0.1:9"},
        {"bucket", "oadp-backups"},
        {"prefix", "velero"},
        {"credentials_file", (etc / "cloud-credentials").string()}}},
      {"failover", {{"work_dir", (h.dr().root / "var/lib/ocpv-dr/failover").string()}}}};
}

TEST(AnsibleInstallPlaybook, InstallsTheDebAndRendersAValidatedConfig) {
  if (auto why = AnsibleProject::unavailableReason(); !why.empty())
    GTEST_SKIP() << "SKIPPED (ansible): " << why;
  if (::access("/usr/bin/cpack", X_OK) != 0 || ::access("/usr/bin/dpkg-deb", X_OK) != 0)
    GTEST_SKIP() << "SKIPPED (ansible): cpack or dpkg-deb missing (cmake, dpkg; make deps)";
  OCPVDR_NETNS_HOSTS_OR_SKIP(hosts);
  AnsibleProject project(hosts->dir() / "ansible");
  const fs::path inv = project.writeNetnsInventory(*hosts);

  // 1. `make package`'s step, into a directory of our own.
  const fs::path pkgDir = hosts->dir() / "pkg";
  auto cpack = run({"cpack", "-G", "DEB", "-B", pkgDir.string()}, OCPVDR_BINARY_DIR);
  ASSERT_EQ(cpack.exitCode, 0) << cpack.out << cpack.err;
  fs::path deb;
  for (const auto& e : fs::directory_iterator(pkgDir))
    if (e.path().extension() == ".deb") deb = e.path();
  ASSERT_FALSE(deb.empty()) << cpack.out;
  auto info = run({"dpkg-deb", "-f", deb.string(), "Package", "Version"});
  ASSERT_EQ(info.exitCode, 0);
  EXPECT_NE(info.out.find("Package: ocpv-dr"), std::string::npos) << info.out;

  const bool wasInstalled = packageInstalled();
  struct Uninstall {
    bool remove;
    ~Uninstall() {
      if (remove) run({"dpkg", "-r", "ocpv-dr"});
    }
  } uninstall{!wasInstalled};

  const fs::path etc = hosts->dir() / "etc/ocpv-dr";
  const fs::path cfgPath = etc / "config.yaml";
  Json vars = {{"ocpvdr_package_file", deb.string()},
               {"ocpvdr_config_path", cfgPath.string()},
               {"ocpvdr_config", configMapping(*hosts, etc)},
               {"ocpvdr_backup_access_key_id", "AKIDEXAMPLE"},
               {"ocpvdr_backup_secret_access_key", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}};

  // 2. Install and render.
  auto r1 = project.run("playbooks/setup/install_ocpv_dr.yml", inv, vars);
  ASSERT_EQ(r1.exitCode, 0) << r1.describe();
  EXPECT_GT(r1.stat("localhost", "changed"), 0);
  EXPECT_TRUE(packageInstalled());
  auto apt = r1.taskResults("Install the package with apt", "localhost");
  ASSERT_EQ(apt.size(), 1u);
  EXPECT_FALSE(apt[0].value("failed", false)) << apt[0].dump();
  auto ver = run({"/usr/bin/ocpv-dr", "version", "--json"});
  ASSERT_EQ(ver.exitCode, 0) << ver.err;
  EXPECT_NE(ver.out.find("0.1.0"), std::string::npos) << ver.out;
  // The installed binary is the one just packaged.
  auto inDeb = run({"bash", "-c",
                    "dpkg-deb --fsys-tarfile " + deb.string() +
                        " | tar -xO ./usr/bin/ocpv-dr | sha256sum | cut -d' ' -f1"});
  auto onDisk = run({"bash", "-c", "sha256sum /usr/bin/ocpv-dr | cut -d' ' -f1"});
  EXPECT_EQ(inDeb.out, onDisk.out);

  ASSERT_TRUE(fs::exists(cfgPath)) << r1.describe();
  EXPECT_EQ(modeOf(cfgPath), 0640u);
  const std::string rendered = slurp(cfgPath);
  EXPECT_NE(rendered.find(hosts->dr().exportDir.string()), std::string::npos) << rendered;
  EXPECT_NE(rendered.find("Ansible managed"), std::string::npos) << rendered;
  EXPECT_EQ(rendered.find("wJalrXUt"), std::string::npos) << "no secret in config.yaml";
  auto validate = run({"/usr/bin/ocpv-dr", "-c", cfgPath.string(), "config", "validate"});
  EXPECT_EQ(validate.exitCode, 0) << validate.out << validate.err;
  // The engine reads back what was rendered: the DR export root it maps to.
  auto show = run({"/usr/bin/ocpv-dr", "-c", cfgPath.string(), "config", "show"});
  ASSERT_EQ(show.exitCode, 0) << show.err;
  Json shown = Json::parse(show.out);
  EXPECT_EQ(shown["sites"]["dr"]["nfs"]["export_roots"][0]["path"], hosts->dr().exportDir.string());
  EXPECT_EQ(shown["backup_store"]["bucket"], "oadp-backups");
  const fs::path creds = etc / "cloud-credentials";
  EXPECT_EQ(modeOf(creds), 0600u);
  EXPECT_NE(slurp(creds).find("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            std::string::npos);
  EXPECT_TRUE(fs::is_directory(hosts->dr().root / "var/lib/ocpv-dr/failover"));
  EXPECT_EQ(r1.out.find("wJalrXUt"), std::string::npos) << "no_log keeps the key out of the log";

  // 3. Again: nothing to do.
  auto r2 = project.run("playbooks/setup/install_ocpv_dr.yml", inv, vars);
  ASSERT_EQ(r2.exitCode, 0) << r2.describe();
  EXPECT_EQ(r2.stat("localhost", "changed"), 0) << r2.describe();

  // 4. An invalid configuration is refused by `validate`; the installed file stays as it was.
  Json bad = vars;
  bad["ocpvdr_config"]["replication"]["delete_policy"] = "purge";
  bad["ocpvdr_config"]["replication"]["path_mappings"][0]["dr"] = "/elsewhere";
  auto r3 = project.run("playbooks/setup/install_ocpv_dr.yml", inv, bad);
  EXPECT_NE(r3.exitCode, 0);
  const std::string f = r3.failures();
  EXPECT_NE(f.find("Installing ocpv-dr on dr-nfs failed"), std::string::npos) << r3.describe();
  EXPECT_NE(f.find("replication.delete_policy"), std::string::npos) << f;
  EXPECT_NE(f.find("replication.path_mappings"), std::string::npos) << f;
  EXPECT_EQ(slurp(cfgPath), rendered) << "a failed validation must not replace the file";
}

// The role's mover step (tasks/_mover.yml) against the netns hosts, without the package: the
// "DR host's" mover is the built one; the primary_nfs host has another version at mover_path,
// which is replaced (root, 0755); run again, nothing changes.
TEST(AnsibleInstallPlaybook, PlacesTheMoverOnThePrimaryHostsWhenItsVersionDiffers) {
  if (auto why = AnsibleProject::unavailableReason(); !why.empty())
    GTEST_SKIP() << "SKIPPED (ansible): " << why;
  OCPVDR_NETNS_HOSTS_OR_SKIP(hosts);
  AnsibleProject project(hosts->dir() / "ansible");
  const fs::path inv = project.writeNetnsInventory(*hosts);
  // The primary host, with the DR host's ssh settings.
  std::string line = slurp(inv);
  const auto drLine = line.find("dr-nfs ansible_host=");
  ASSERT_NE(drLine, std::string::npos) << line;
  std::string primaryLine = line.substr(drLine, line.find('\n', drLine) - drLine);
  primaryLine.replace(0, std::string("dr-nfs ansible_host=").size() + hosts->dr().ip.size(),
                      "primary-nfs ansible_host=" + hosts->primary().ip);
  putFile(inv, line + "\n[primary_nfs]\n" + primaryLine + "\n");

  const fs::path local = binaryPath("src/extent/ocpv-dr-mover");
  const fs::path target = hosts->dir() / "primary-libexec/ocpv-dr/ocpv-dr-mover";
  fs::create_directories(target.parent_path());
  putFile(target, "#!/bin/sh\necho 'ocpv-dr-mover 0.0.1 stream 1'\n");
  fs::permissions(target, fs::perms::owner_all);
  const fs::path playbook = hosts->dir() / "mover.yml";
  putFile(playbook,
          "- name: The mover step of ocpv_dr_install\n"
          "  hosts: localhost\n"
          "  gather_facts: false\n"
          "  tasks:\n"
          "    - name: Place the mover\n"
          "      ansible.builtin.include_role:\n"
          "        name: ocpv_dr_install\n"
          "        tasks_from: _mover.yml\n");
  Json vars = {{"ocpv_dr_install_mover_local", local.string()},
               {"ocpv_dr_install_mover_path", target.string()}};

  auto r1 = project.run(playbook.string(), inv, vars);
  ASSERT_EQ(r1.exitCode, 0) << r1.describe();
  EXPECT_GT(r1.stat("localhost", "changed"), 0) << r1.describe();
  EXPECT_EQ(slurp(target), slurp(local)) << "the stale mover was replaced by the DR host's";
  EXPECT_EQ(modeOf(target), 0755u);
  EXPECT_FALSE(r1.taskResults("Copy the mover to the primary hosts", "localhost").empty())
      << r1.describe();

  auto r2 = project.run(playbook.string(), inv, vars);
  ASSERT_EQ(r2.exitCode, 0) << r2.describe();
  EXPECT_EQ(r2.stat("localhost", "changed"), 0) << r2.describe();
  EXPECT_EQ(slurp(target), slurp(local));
}

}  // namespace
}  // namespace ocpvdr::testing
