// The forwarder's deployment artefacts: `kubectl kustomize deploy/forwarder` renders; the
// ClusterRole grants get/list/watch on persistentvolumes, list/watch on volumesnapshots, get on
// volumesnapshotcontents (a ready snapshot's payload carries its content) and nothing else; the
// Deployment is one Recreate replica with probes, resources and a security context OpenShift's
// restricted-v2 SCC admits; the ConfigMap holds a valid ocpv-dr configuration whose paths and
// port match the mounts and probes; the Containerfile is multi-stage, non-root, group 0.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

#include "config/config.h"
#include "support/temp_dir.h"

namespace ocpvdr {
namespace {

using ocpvdr::testing::sourcePath;

std::string readText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// `make deps` extracts kubectl v1.32 to node_modules/.bin (from an npm package: Debian's
// kubernetes-client 1.20 cannot render this kustomize base); one on PATH is the fallback.
std::string kubectl() {
  const auto local = sourcePath("node_modules/.bin/kubectl");
  if (::access(local.c_str(), X_OK) == 0) return local.string();
  return "kubectl";
}

bool haveKubectl() {
  return std::system((kubectl() + " version --client >/dev/null 2>&1").c_str()) == 0;
}

std::string render() {
  const std::string cmd =
      kubectl() + " kustomize " + sourcePath("deploy/forwarder").string() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return {};
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  if (rc != 0) ADD_FAILURE() << "kubectl kustomize failed: " << out;
  return out;
}

class Rendered : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!haveKubectl()) {
      // CI runs `make deps` first: there a missing kubectl is a broken install step, not a skip.
      if (std::getenv("CI") != nullptr)
        FAIL() << "kubectl missing in CI: make deps did not install it";
      GTEST_SKIP() << "SKIPPED LOUDLY: kubectl is not installed (run make deps); the kustomize "
                      "base was not rendered or checked";
    }
    const std::string text = render();
    ASSERT_FALSE(text.empty());
    for (const auto& doc : YAML::LoadAll(text)) docs_.push_back(doc);
  }
  std::vector<YAML::Node> ofKind(const std::string& kind) const {
    std::vector<YAML::Node> out;
    for (const auto& d : docs_) {
      if (d["kind"] && d["kind"].as<std::string>() == kind) out.push_back(d);
    }
    return out;
  }
  YAML::Node one(const std::string& kind) const {
    auto v = ofKind(kind);
    EXPECT_EQ(v.size(), 1u) << kind;
    return v.empty() ? YAML::Node() : v[0];
  }
  YAML::Node container() const {
    YAML::Node d = one("Deployment");
    return d["spec"]["template"]["spec"]["containers"][0];
  }
  std::vector<YAML::Node> docs_;
};

TEST_F(Rendered, HasEveryPiece) {
  std::set<std::string> kinds;
  for (const auto& d : docs_) kinds.insert(d["kind"].as<std::string>());
  EXPECT_EQ(kinds, (std::set<std::string>{"Namespace", "ServiceAccount", "ClusterRole",
                                          "ClusterRoleBinding", "Secret", "ConfigMap", "Deployment",
                                          "PersistentVolumeClaim"}));
  for (const auto& d : docs_) {
    const std::string kind = d["kind"].as<std::string>();
    if (kind == "Namespace" || kind == "ClusterRole" || kind == "ClusterRoleBinding") continue;
    EXPECT_EQ(d["metadata"]["namespace"].as<std::string>(), "ocpv-dr") << kind;
  }
}

TEST_F(Rendered, ClusterRoleIsReadOnlyOnPvsAndSnapshots) {
  YAML::Node role = one("ClusterRole");
  ASSERT_TRUE(role["rules"].IsSequence());
  EXPECT_FALSE(role["aggregationRule"]) << "an aggregated role could grow";
  std::set<std::string> granted;
  for (const auto& rule : role["rules"]) {
    EXPECT_FALSE(rule["nonResourceURLs"]) << "no non-resource URLs";
    EXPECT_FALSE(rule["resourceNames"]) << "not expected here";
    for (const auto& group : rule["apiGroups"]) {
      for (const auto& res : rule["resources"]) {
        for (const auto& verb : rule["verbs"]) {
          granted.insert(group.as<std::string>() + "|" + res.as<std::string>() + "|" +
                         verb.as<std::string>());
        }
      }
    }
  }
  EXPECT_EQ(granted, (std::set<std::string>{
                         "|persistentvolumes|get",
                         "|persistentvolumes|list",
                         "|persistentvolumes|watch",
                         "snapshot.storage.k8s.io|volumesnapshots|list",
                         "snapshot.storage.k8s.io|volumesnapshots|watch",
                         "snapshot.storage.k8s.io|volumesnapshotcontents|get",
                     }));
  YAML::Node binding = one("ClusterRoleBinding");
  EXPECT_EQ(binding["roleRef"]["name"].as<std::string>(),
            role["metadata"]["name"].as<std::string>());
  EXPECT_EQ(binding["subjects"][0]["kind"].as<std::string>(), "ServiceAccount");
  EXPECT_EQ(binding["subjects"][0]["name"].as<std::string>(),
            one("ServiceAccount")["metadata"]["name"].as<std::string>());
  EXPECT_EQ(binding["subjects"][0]["namespace"].as<std::string>(), "ocpv-dr");
}

// restricted-v2: runAsNonRoot, no fixed UID (MustRunAsRange assigns one), no privilege
// escalation, capabilities dropped (ALL), seccomp RuntimeDefault; no host namespaces or host
// paths, no privileged containers; plus the read-only root filesystem the issue asks for.
TEST_F(Rendered, DeploymentMatchesRestrictedV2) {
  YAML::Node d = one("Deployment");
  EXPECT_EQ(d["spec"]["replicas"].as<int>(), 1);
  EXPECT_EQ(d["spec"]["strategy"]["type"].as<std::string>(), "Recreate");
  YAML::Node pod = d["spec"]["template"]["spec"];
  EXPECT_EQ(pod["serviceAccountName"].as<std::string>(),
            one("ServiceAccount")["metadata"]["name"].as<std::string>());
  for (const char* host : {"hostNetwork", "hostPID", "hostIPC"}) {
    EXPECT_FALSE(pod[host] && pod[host].as<bool>()) << host;
  }
  YAML::Node psc = pod["securityContext"];
  EXPECT_TRUE(psc["runAsNonRoot"].as<bool>());
  EXPECT_FALSE(psc["runAsUser"]) << "no fixed UID: OpenShift assigns one";
  EXPECT_FALSE(psc["fsGroup"]) << "restricted-v2 chooses fsGroup";
  EXPECT_EQ(psc["seccompProfile"]["type"].as<std::string>(), "RuntimeDefault");
  ASSERT_EQ(pod["containers"].size(), 1u);
  EXPECT_FALSE(pod["initContainers"]);
  YAML::Node c = container();
  YAML::Node sc = c["securityContext"];
  EXPECT_FALSE(sc["allowPrivilegeEscalation"].as<bool>());
  EXPECT_FALSE(sc["privileged"] && sc["privileged"].as<bool>());
  EXPECT_FALSE(sc["runAsUser"]);
  EXPECT_TRUE(sc["readOnlyRootFilesystem"].as<bool>());
  ASSERT_EQ(sc["capabilities"]["drop"].size(), 1u);
  EXPECT_EQ(sc["capabilities"]["drop"][0].as<std::string>(), "ALL");
  EXPECT_FALSE(sc["capabilities"]["add"]);
  for (const auto& v : pod["volumes"]) {
    EXPECT_FALSE(v["hostPath"]) << "restricted-v2 forbids hostPath";
  }
  for (const char* which : {"requests", "limits"}) {
    EXPECT_TRUE(c["resources"][which]["cpu"]) << which;
    EXPECT_TRUE(c["resources"][which]["memory"]) << which;
  }
}

TEST_F(Rendered, ConfigMountsProbesAndSecretAgree) {
  YAML::Node cm = one("ConfigMap");
  ASSERT_TRUE(cm["data"]["config.yaml"]);
  const config::LoadResult parsed =
      config::parseConfig(cm["data"]["config.yaml"].as<std::string>());
  for (const auto& i : parsed.issues) ADD_FAILURE() << "config.yaml: " << i.describe();
  const config::Config& cfg = parsed.config;
  EXPECT_TRUE(cfg.primary.kubernetes.inCluster);
  EXPECT_FALSE(cfg.forwarder.webhookUrl.empty());

  YAML::Node pod = one("Deployment")["spec"]["template"]["spec"];
  YAML::Node c = container();
  std::map<std::string, std::string> mountOf;  // volume name → mount path
  for (const auto& m : c["volumeMounts"]) {
    mountOf[m["name"].as<std::string>()] = m["mountPath"].as<std::string>();
  }
  std::map<std::string, YAML::Node> volumes;
  for (const auto& v : pod["volumes"]) volumes[v["name"].as<std::string>()] = YAML::Node(v);
  auto volumeAt = [&](const std::string& path) -> YAML::Node {
    for (const auto& [name, mp] : mountOf) {
      if (path == mp || path.rfind(mp + "/", 0) == 0) return volumes[name];
    }
    return YAML::Node();
  };
  // The spool lives on the PVC.
  YAML::Node spool = volumeAt(cfg.forwarder.spoolDir);
  ASSERT_TRUE(spool) << cfg.forwarder.spoolDir << " is not on a volume";
  EXPECT_EQ(spool["persistentVolumeClaim"]["claimName"].as<std::string>(),
            one("PersistentVolumeClaim")["metadata"]["name"].as<std::string>());
  // Token and HMAC files come from the Secret, under keys the Secret template has.
  YAML::Node secret = one("Secret");
  for (const std::string& file : {cfg.forwarder.tokenFile, cfg.forwarder.hmacSecretFile}) {
    YAML::Node v = volumeAt(file);
    ASSERT_TRUE(v) << file;
    EXPECT_EQ(v["secret"]["secretName"].as<std::string>(),
              secret["metadata"]["name"].as<std::string>());
    const std::string key = file.substr(file.rfind('/') + 1);
    EXPECT_TRUE(secret["stringData"][key]) << "Secret has no key " << key;
  }
  // The config file is the ConfigMap.
  std::string configArg;
  const auto args = c["args"].as<std::vector<std::string>>();
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "-c") configArg = args[i + 1];
  }
  // The program is the image's lean forwarder binary (deploy/Containerfile installs it there).
  const auto command = c["command"].as<std::vector<std::string>>();
  ASSERT_EQ(command.size(), 1u);
  EXPECT_EQ(command[0], "/usr/local/bin/ocpv-dr-forward");
  const std::string containerfile =
      readText(std::string(OCPVDR_SOURCE_DIR) + "/deploy/Containerfile");
  EXPECT_NE(
      containerfile.find("COPY --from=build /src/build/src/cli/ocpv-dr-forward " + command[0]),
      std::string::npos);
  YAML::Node cfgVol = volumeAt(configArg);
  ASSERT_TRUE(cfgVol) << configArg;
  EXPECT_EQ(cfgVol["configMap"]["name"].as<std::string>(),
            cm["metadata"]["name"].as<std::string>());
  // Probes hit /healthz and /readyz on the port the forwarder listens on.
  const std::string listen = cfg.forwarder.listen;
  const int port = std::stoi(listen.substr(listen.rfind(':') + 1));
  EXPECT_EQ(c["ports"][0]["containerPort"].as<int>(), port);
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["path"].as<std::string>(), "/healthz");
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/readyz");
  EXPECT_EQ(c["livenessProbe"]["httpGet"]["port"].as<std::string>(),
            c["ports"][0]["name"].as<std::string>());
  // A read-only root filesystem needs every written path on a volume.
  EXPECT_TRUE(volumeAt("/tmp")) << "/tmp must be a volume";
}

// The image's program maps only what the forwarder uses: not libcurl (and the ~25 libraries
// Debian's libcurl pulls in) nor libarchive; the runtime stage installs none of them either.
TEST(Containerfile, ForwarderBinaryLinksNeitherLibcurlNorLibarchive) {
  const std::string binary = std::string(OCPVDR_BINARY_DIR) + "/src/cli/ocpv-dr-forward";
  std::FILE* p = ::popen(("readelf -d '" + binary + "' 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ASSERT_EQ(::pclose(p), 0) << out;
  std::set<std::string> needed;
  for (std::size_t at = out.find("Shared library: ["); at != std::string::npos;
       at = out.find("Shared library: [", at + 1)) {
    const std::size_t start = at + 17;
    needed.insert(out.substr(start, out.find(']', start) - start));
  }
  ASSERT_FALSE(needed.empty()) << out;
  for (const auto& lib : needed) {
    EXPECT_EQ(lib.find("libcurl"), std::string::npos) << lib;
    EXPECT_EQ(lib.find("libarchive"), std::string::npos) << lib;
  }
  EXPECT_TRUE(needed.count("libcpp-httplib.so.0.11")) << "the forwarder's HTTP transport";
  const std::string text = readText(sourcePath("deploy/Containerfile").string());
  const std::string runtimeStage =
      text.substr(text.find("FROM docker.io/library/debian:bookworm-slim"));
  EXPECT_EQ(runtimeStage.find("libcurl"), std::string::npos);
  EXPECT_EQ(runtimeStage.find("libarchive"), std::string::npos);
}

TEST(Containerfile, MultiStageNonRootGroupZero) {
  const std::string text = readText(sourcePath("deploy/Containerfile").string());
  ASSERT_FALSE(text.empty());
  const auto build = text.find("FROM docker.io/library/debian:bookworm AS build");
  const auto runtime = text.find("FROM docker.io/library/debian:bookworm-slim");
  ASSERT_NE(build, std::string::npos);
  ASSERT_NE(runtime, std::string::npos);
  ASSERT_LT(build, runtime);
  const std::string buildStage = text.substr(build, runtime - build);
  const std::string runtimeStage = text.substr(runtime);
  EXPECT_NE(runtimeStage.find("USER 1001"), std::string::npos);
  EXPECT_NE(runtimeStage.find("chgrp -R 0"), std::string::npos);
  EXPECT_NE(runtimeStage.find("chmod -R g=u"), std::string::npos);
  EXPECT_NE(runtimeStage.find("COPY --from=build"), std::string::npos);
  EXPECT_EQ(runtimeStage.find("-dev"), std::string::npos) << "no build packages at runtime";

  // Build-stage packages are the ones `make deps` installs (Makefile DEB_PACKAGES).
  const std::string mk = readText(sourcePath("Makefile").string());
  const auto start = mk.find("DEB_PACKAGES :=");
  ASSERT_NE(start, std::string::npos);
  std::string list;
  for (std::size_t i = start + 15; i < mk.size(); ++i) {
    if (mk[i] == '\n' && (i == 0 || mk[i - 1] != '\\')) break;
    list += mk[i] == '\\' ? ' ' : mk[i];
  }
  std::set<std::string> makeDeps;
  std::istringstream words(list);
  for (std::string w; words >> w;) makeDeps.insert(w);
  const auto inst = buildStage.find("--no-install-recommends");
  ASSERT_NE(inst, std::string::npos);
  std::istringstream pk(buildStage.substr(inst + 23, buildStage.find("&& rm", inst) - inst - 23));
  int count = 0;
  for (std::string w; pk >> w;) {
    if (w == "\\") continue;
    ++count;
    EXPECT_TRUE(makeDeps.count(w)) << w << " is not in the Makefile's DEB_PACKAGES";
  }
  EXPECT_GE(count, 10);
}

}  // namespace
}  // namespace ocpvdr
