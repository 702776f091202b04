// Kubeconfig variants, in-cluster configuration, resolution order and token rotation.
#include "kube/cluster_config.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "kube/fake_http.h"
#include "kube/kube_client.h"
#include "support/temp_dir.h"

namespace ocpvdr::kube {
namespace {

using ocpvdr::testing::TempDir;
using namespace std::chrono_literals;

// "hello CA" / "client cert" / "client key" in base64.
constexpr const char* kCaB64 = "aGVsbG8gQ0E=";
constexpr const char* kCertB64 = "Y2xpZW50IGNlcnQ=";
constexpr const char* kKeyB64 = "Y2xpZW50IGtleQ==";

std::string kubeconfig(const std::string& clusters, const std::string& users,
                       const std::string& contexts, const std::string& current = "dev") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: " + current + "\nclusters:\n" + clusters +
         "users:\n" + users + "contexts:\n" + contexts;
}

const std::string kTwoContexts = kubeconfig(
    "- name: dev-cluster\n  cluster:\n    server: https://dev.example:6443/\n"
    "    certificate-authority-data: " +
        std::string(kCaB64) +
        "\n"
        "- name: prod-cluster\n  cluster:\n    server: https://prod.example:6443\n"
        "    insecure-skip-tls-verify: true\n    tls-server-name: api.prod\n",
    "- name: dev-user\n  user:\n    token: dev-token-123\n"
    "- name: prod-user\n  user:\n    client-certificate-data: " +
        std::string(kCertB64) + "\n    client-key-data: " + kKeyB64 + "\n",
    "- name: dev\n  context:\n    cluster: dev-cluster\n    user: dev-user\n    namespace: apps\n"
    "- name: prod\n  context:\n    cluster: prod-cluster\n    user: prod-user\n");

TEST(Kubeconfig, CurrentContextWithCaDataAndToken) {
  TempDir dir;
  auto path = dir.write("config", kTwoContexts);
  auto cfg = loadKubeconfig(path.string());
  ASSERT_TRUE(cfg.ok()) << cfg.error().describe();
  EXPECT_EQ(cfg->server, "https://dev.example:6443");  // trailing slash dropped
  EXPECT_EQ(cfg->caData, "hello CA");
  EXPECT_EQ(cfg->token, "dev-token-123");
  EXPECT_EQ(cfg->defaultNamespace, "apps");
  EXPECT_EQ(cfg->contextName, "dev");
  EXPECT_FALSE(cfg->insecureSkipTlsVerify);
  EXPECT_TRUE(cfg->certData.empty());
}

TEST(Kubeconfig, NamedContextWithClientCertDataAndInsecure) {
  TempDir dir;
  auto path = dir.write("config", kTwoContexts);
  auto cfg = loadKubeconfig(path.string(), "prod");
  ASSERT_TRUE(cfg.ok()) << cfg.error().describe();
  EXPECT_EQ(cfg->server, "https://prod.example:6443");
  EXPECT_TRUE(cfg->insecureSkipTlsVerify);
  EXPECT_EQ(cfg->tlsServerName, "api.prod");
  EXPECT_EQ(cfg->certData, "client cert");
  EXPECT_EQ(cfg->keyData, "client key");
  EXPECT_TRUE(cfg->token.empty());
  auto tls = tlsOptionsFor(*cfg);
  EXPECT_TRUE(tls.insecureSkipVerify);
  EXPECT_EQ(tls.certData, "client cert");
  EXPECT_EQ(tls.keyData, "client key");
  EXPECT_EQ(tls.serverName, "api.prod");
}

TEST(Kubeconfig, FilesAreResolvedRelativeToTheKubeconfig) {
  TempDir dir;
  dir.write("kube/pki/ca.crt", "CA PEM");
  dir.write("kube/pki/client.crt", "CERT PEM");
  dir.write("kube/pki/client.key", "KEY PEM");
  dir.write("kube/token", "file-token\n");
  auto path = dir.write("kube/config",
                        kubeconfig("- name: c\n  cluster:\n    server: https://h:1\n"
                                   "    certificate-authority: pki/ca.crt\n",
                                   "- name: u\n  user:\n    tokenFile: token\n"
                                   "    client-certificate: pki/client.crt\n"
                                   "    client-key: " +
                                       (dir / "kube/pki/client.key").string() + "\n",
                                   "- name: x\n  context:\n    cluster: c\n    user: u\n", "x"));
  auto cfg = loadKubeconfig(path.string());
  ASSERT_TRUE(cfg.ok()) << cfg.error().describe();
  EXPECT_EQ(cfg->caFile, (dir / "kube/pki/ca.crt").string());
  EXPECT_EQ(cfg->certFile, (dir / "kube/pki/client.crt").string());
  EXPECT_EQ(cfg->keyFile, (dir / "kube/pki/client.key").string());
  EXPECT_EQ(cfg->tokenFile, (dir / "kube/token").string());
  EXPECT_EQ(cfg->token, "file-token");  // trailing newline trimmed
  auto tls = tlsOptionsFor(*cfg);
  EXPECT_EQ(tls.caFile, cfg->caFile);
  EXPECT_EQ(tls.certFile, cfg->certFile);
}

TEST(Kubeconfig, MissingCaFileIsNamed) {
  TempDir dir;
  auto path =
      dir.write("config", kubeconfig("- name: c\n  cluster:\n    server: https://h:1\n"
                                     "    certificate-authority: nope/ca.crt\n",
                                     "- name: u\n  user:\n    token: t\n",
                                     "- name: x\n  context:\n    cluster: c\n    user: u\n", "x"));
  auto cfg = loadKubeconfig(path.string());
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().kind, ErrorKind::Invalid);
  EXPECT_NE(cfg.error().message.find("nope/ca.crt"), std::string::npos) << cfg.error().message;
  EXPECT_NE(cfg.error().message.find("certificate-authority"), std::string::npos);
}

TEST(Kubeconfig, ExecPluginIsRefusedNamingTheUser) {
  TempDir dir;
  auto path = dir.write(
      "config", kubeconfig("- name: c\n  cluster:\n    server: https://h:1\n",
                           "- name: eks-admin\n  user:\n    exec:\n      apiVersion: "
                           "client.authentication.k8s.io/v1beta1\n      command: aws\n",
                           "- name: x\n  context:\n    cluster: c\n    user: eks-admin\n", "x"));
  auto cfg = loadKubeconfig(path.string());
  ASSERT_FALSE(cfg.ok());
  EXPECT_EQ(cfg.error().kind, ErrorKind::Refused);
  EXPECT_NE(cfg.error().message.find("\"eks-admin\""), std::string::npos) << cfg.error().message;
  EXPECT_NE(cfg.error().message.find("exec credential plugin"), std::string::npos);
  EXPECT_NE(cfg.error().message.find("\"aws\""), std::string::npos);
}

TEST(Kubeconfig, AuthProviderAndBasicAuthAreRefused) {
  TempDir dir;
  auto ap =
      dir.write("ap", kubeconfig("- name: c\n  cluster:\n    server: https://h:1\n",
                                 "- name: gke\n  user:\n    auth-provider:\n      name: gcp\n",
                                 "- name: x\n  context:\n    cluster: c\n    user: gke\n", "x"));
  auto r1 = loadKubeconfig(ap.string());
  ASSERT_FALSE(r1.ok());
  EXPECT_EQ(r1.error().kind, ErrorKind::Refused);
  EXPECT_NE(r1.error().message.find("auth-provider"), std::string::npos);
  EXPECT_NE(r1.error().message.find("\"gke\""), std::string::npos);
  EXPECT_NE(r1.error().message.find("\"gcp\""), std::string::npos);

  auto basic = dir.write(
      "basic", kubeconfig("- name: c\n  cluster:\n    server: https://h:1\n",
                          "- name: admin\n  user:\n    username: admin\n"
                          "    password: hunter2\n",
                          "- name: x\n  context:\n    cluster: c\n    user: admin\n", "x"));
  auto r2 = loadKubeconfig(basic.string());
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().kind, ErrorKind::Refused);
  EXPECT_NE(r2.error().message.find("username/password"), std::string::npos);
  EXPECT_EQ(r2.error().message.find("hunter2"), std::string::npos);  // never echo the secret
}

TEST(Kubeconfig, MissingPiecesAreNamed) {
  TempDir dir;
  auto path = dir.write("config", kTwoContexts);
  auto noCtx = loadKubeconfig(path.string(), "staging");
  ASSERT_FALSE(noCtx.ok());
  EXPECT_EQ(noCtx.error().kind, ErrorKind::Invalid);
  EXPECT_NE(noCtx.error().message.find("context \"staging\" not found"), std::string::npos)
      << noCtx.error().message;
  EXPECT_NE(noCtx.error().message.find("available: dev, prod"), std::string::npos);

  auto badCluster =
      dir.write("c2", kubeconfig("- name: c\n  cluster:\n    server: https://h:1\n",
                                 "- name: u\n  user:\n    token: t\n",
                                 "- name: x\n  context:\n    cluster: other\n    user: u\n", "x"));
  auto r = loadKubeconfig(badCluster.string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cluster \"other\" not found in clusters"), std::string::npos)
      << r.error().message;

  auto badUser =
      dir.write("c3", kubeconfig("- name: c\n  cluster:\n    server: https://h:1\n",
                                 "- name: u\n  user:\n    token: t\n",
                                 "- name: x\n  context:\n    cluster: c\n    user: ghost\n", "x"));
  r = loadKubeconfig(badUser.string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("user \"ghost\" not found in users"), std::string::npos)
      << r.error().message;

  auto noCurrent = dir.write("c4", "apiVersion: v1\nkind: Config\nclusters: []\n");
  r = loadKubeconfig(noCurrent.string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("no current-context"), std::string::npos);

  auto noServer =
      dir.write("c5", kubeconfig("- name: c\n  cluster:\n    insecure-skip-tls-verify: true\n",
                                 "- name: u\n  user:\n    token: t\n",
                                 "- name: x\n  context:\n    cluster: c\n    user: u\n", "x"));
  r = loadKubeconfig(noServer.string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("clusters[c].cluster.server: missing"), std::string::npos)
      << r.error().message;
}

TEST(Kubeconfig, MalformedInputIsAnErrorNotACrash) {
  TempDir dir;
  const std::map<std::string, std::string> cases = {
      {"not yaml", "clusters: [unclosed\n"},
      {"a scalar", "just a string\n"},
      {"clusters not a list",
       "current-context: x\nclusters: 5\ncontexts:\n- name: x\n  "
       "context:\n    cluster: c\n"},
      {"bad base64", kubeconfig("- name: c\n  cluster:\n    server: https://h:1\n"
                                "    certificate-authority-data: '***not base64***'\n",
                                "- name: u\n  user:\n    token: t\n",
                                "- name: x\n  context:\n    cluster: c\n    user: u\n", "x")},
      {"server not a URL", kubeconfig("- name: c\n  cluster:\n    server: dev.example:6443\n",
                                      "- name: u\n  user:\n    token: t\n",
                                      "- name: x\n  context:\n    cluster: c\n    user: u\n", "x")},
      {"insecure not bool",
       kubeconfig("- name: c\n  cluster:\n    server: https://h:1\n    insecure-skip-tls-verify: "
                  "maybe\n",
                  "- name: u\n  user:\n    token: t\n",
                  "- name: x\n  context:\n    cluster: c\n    user: u\n", "x")},
      {"cert without key", kubeconfig("- name: c\n  cluster:\n    server: https://h:1\n",
                                      "- name: u\n  user:\n    client-certificate-data: " +
                                          std::string(kCertB64) + "\n",
                                      "- name: x\n  context:\n    cluster: c\n    user: u\n", "x")},
      {"token is a map", kubeconfig("- name: c\n  cluster:\n    server: https://h:1\n",
                                    "- name: u\n  user:\n    token: {a: b}\n",
                                    "- name: x\n  context:\n    cluster: c\n    user: u\n", "x")},
  };
  for (const auto& [what, text] : cases) {
    auto path = dir.write("bad", text);
    auto r = loadKubeconfig(path.string());
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.error().kind, ErrorKind::Invalid) << what << ": " << r.error().describe();
    EXPECT_NE(r.error().message.find(path.string()), std::string::npos)
        << what << ": " << r.error().message;
  }
  auto missing = loadKubeconfig((dir / "does-not-exist").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("does-not-exist"), std::string::npos);
}

TEST(Base64, DecodesPaddedUnpaddedAndWrappedAndRejectsGarbage) {
  EXPECT_EQ(decodeBase64("aGVsbG8gQ0E=").valueOr("x"), "hello CA");
  EXPECT_EQ(decodeBase64("aGVsbG8gQ0E").valueOr("x"), "hello CA");
  EXPECT_EQ(decodeBase64("aGVs\nbG8g\r\nQ0E=").valueOr("x"), "hello CA");
  EXPECT_EQ(decodeBase64("").valueOr("x"), "");
  EXPECT_FALSE(decodeBase64("a").ok());
  EXPECT_FALSE(decodeBase64("ab=c").ok());
  EXPECT_FALSE(decodeBase64("ab$c").ok());
}

// --- in-cluster ---

EnvLookup fakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& n) -> std::optional<std::string> {
    auto it = vars.find(n);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(InCluster, ReadsServiceAccountAndEnvironment) {
  TempDir sa;
  sa.write("token", "sa-token-1\n");
  sa.write("ca.crt", "CA");
  sa.write("namespace", "openshift-dr");
  auto cfg = inClusterConfig(sa.str(), fakeEnv({{"KUBERNETES_SERVICE_HOST", "172.30.0.1"},
                                                {"KUBERNETES_SERVICE_PORT", "443"}}));
  ASSERT_TRUE(cfg.ok()) << cfg.error().describe();
  EXPECT_EQ(cfg->server, "https://172.30.0.1:443");
  EXPECT_EQ(cfg->token, "sa-token-1");
  EXPECT_EQ(cfg->tokenFile, (sa / "token").string());
  EXPECT_EQ(cfg->caFile, (sa / "ca.crt").string());
  EXPECT_EQ(cfg->defaultNamespace, "openshift-dr");
  EXPECT_EQ(cfg->source, "in-cluster");
}

TEST(InCluster, Ipv6HostIsBracketed) {
  TempDir sa;
  sa.write("token", "t0ken");
  sa.write("ca.crt", "CA");
  auto cfg = inClusterConfig(sa.str(), fakeEnv({{"KUBERNETES_SERVICE_HOST", "fd02::1"},
                                                {"KUBERNETES_SERVICE_PORT", "6443"}}));
  ASSERT_TRUE(cfg.ok()) << cfg.error().describe();
  EXPECT_EQ(cfg->server, "https://[fd02::1]:6443");
}

TEST(InCluster, MissingPiecesAreNamed) {
  TempDir sa;
  auto r = inClusterConfig(sa.str(), fakeEnv({}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("KUBERNETES_SERVICE_HOST"), std::string::npos);

  const auto env =
      fakeEnv({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}});
  r = inClusterConfig(sa.str(), env);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("token"), std::string::npos) << r.error().message;

  sa.write("token", "tok1");
  r = inClusterConfig(sa.str(), env);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("ca.crt"), std::string::npos) << r.error().message;

  r = inClusterConfig(sa.str(), fakeEnv({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                                         {"KUBERNETES_SERVICE_PORT", "https"}}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not a number"), std::string::npos);
}

TEST(TokenSource, RotatedTokenFileIsPickedUpAfterTheRecheckInterval) {
  TempDir sa;
  sa.write("token", "first-token");
  sa.write("ca.crt", "CA");
  auto cfg = inClusterConfig(sa.str(), fakeEnv({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                                                {"KUBERNETES_SERVICE_PORT", "443"}}));
  ASSERT_TRUE(cfg.ok());
  ManualClock clock;
  BearerTokenSource src(*cfg, clock, 5s);
  EXPECT_EQ(src.token().valueOr(""), "first-token");

  // The kubelet swaps the file (same length here, so only mtime tells them apart).
  std::this_thread::sleep_for(10ms);
  sa.write("token", "other-token");
  EXPECT_EQ(src.token().valueOr(""), "first-token") << "checked again before the interval";
  clock.advance(5s);
  EXPECT_EQ(src.token().valueOr(""), "other-token");

  // A rotation seen through a 401: reload() reads at once and says whether it changed.
  sa.write("token", "third-token-longer");
  auto changed = src.reload();
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  EXPECT_EQ(src.token().valueOr(""), "third-token-longer");
  changed = src.reload();
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);

  // A briefly missing file keeps the last good token.
  std::filesystem::remove(sa / "token");
  clock.advance(6s);
  EXPECT_EQ(src.token().valueOr(""), "third-token-longer");
}

TEST(TokenSource, ClientRetriesA401WithTheRotatedToken) {
  TempDir sa;
  sa.write("token", "old-token");
  sa.write("ca.crt", "CA");
  auto cfg = inClusterConfig(sa.str(), fakeEnv({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                                                {"KUBERNETES_SERVICE_PORT", "443"}}));
  ASSERT_TRUE(cfg.ok());
  testing::FakeHttpClient http;
  testing::RecordingClock clock;
  http.setHandler([&](const testing::RecordedRequest& req) {
    if (req.header("Authorization") != "Bearer new-token") {
      return testing::jsonResponse(
          401, R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                   "message":"Unauthorized","reason":"Unauthorized","code":401})");
    }
    return testing::jsonResponse(200, R"({"metadata":{"name":"ns1"}})");
  });
  KubeClient client(http, *cfg, clock);
  // Rotation happens after the client read the first token.
  auto first = client.get(resources::namespaces(), "", "ns1");
  ASSERT_FALSE(first.ok());
  EXPECT_TRUE(isUnauthorized(first.error()));
  EXPECT_EQ(first.error().kind, ErrorKind::Refused);
  EXPECT_EQ(first.error().message.find("old-token"), std::string::npos);

  sa.write("token", "new-token");
  auto second = client.get(resources::namespaces(), "", "ns1");
  ASSERT_TRUE(second.ok()) << second.error().describe();
  auto reqs = http.requests();
  ASSERT_GE(reqs.size(), 3u);
  EXPECT_EQ(reqs.back().header("Authorization"), "Bearer new-token");
  EXPECT_EQ(reqs[reqs.size() - 2].header("Authorization"), "Bearer old-token");
  EXPECT_GE(client.counters().tokenReloads, 1u);
}

// --- resolution order ---

TEST(Resolve, ExplicitPathThenInClusterThenKubeconfigEnvThenHome) {
  TempDir dir;
  auto explicitPath = dir.write("explicit", kTwoContexts);
  auto envFirst =
      dir.write("env1", kubeconfig("- name: c\n  cluster:\n    server: https://env1:1\n",
                                   "- name: u\n  user:\n    token: t\n",
                                   "- name: x\n  context:\n    cluster: c\n    user: u\n", "x"));
  auto homeCfg = dir.write("home/.kube/config",
                           kubeconfig("- name: c\n  cluster:\n    server: https://home:1\n",
                                      "- name: u\n  user:\n    token: t\n",
                                      "- name: x\n  context:\n    cluster: c\n    user: u\n", "x"));
  dir.write("sa/token", "sa");
  dir.write("sa/ca.crt", "CA");
  std::map<std::string, std::string> vars = {{"KUBERNETES_SERVICE_HOST", "10.9.9.9"},
                                             {"KUBERNETES_SERVICE_PORT", "443"},
                                             {"KUBECONFIG", ":" + envFirst.string() + ":/nope"},
                                             {"HOME", (dir / "home").string()}};
  const std::string saRoot = (dir / "sa").string();

  config::KubeAccess access;
  access.kubeconfig = explicitPath.string();
  access.context = "prod";
  access.inCluster = true;  // an explicit kubeconfig still wins
  auto r = resolveClusterConfig(access, fakeEnv(vars), saRoot);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->server, "https://prod.example:6443");

  access = {};
  access.inCluster = true;
  r = resolveClusterConfig(access, fakeEnv(vars), saRoot);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->server, "https://10.9.9.9:443");

  access = {};  // not in-cluster: the service env is ignored, $KUBECONFIG's first file is used
  r = resolveClusterConfig(access, fakeEnv(vars), saRoot);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->server, "https://env1:1");

  vars.erase("KUBECONFIG");
  r = resolveClusterConfig(access, fakeEnv(vars), saRoot);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->server, "https://home:1");
  EXPECT_NE(r->source.find(homeCfg.string()), std::string::npos);

  vars["HOME"] = (dir / "empty-home").string();
  r = resolveClusterConfig(access, fakeEnv(vars), saRoot);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find(".kube/config does not exist"), std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace ocpvdr::kube
