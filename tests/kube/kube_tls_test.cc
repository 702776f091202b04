// The kubeconfig's TLS and credential settings carried end to end: kubeconfig → ClusterConfig →
// TlsOptions → each real HttpClient (curl for the commands, cpp-httplib for the forwarder) → an
// in-process HTTPS server on 127.0.0.1 that requires a client certificate and checks the bearer
// token. Also a chunked watch stream over real HTTP.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <atomic>
#include <thread>

#include "core/curl_http.h"
#include "core/files.h"
#include "core/httplib_client.h"
#include "core/json_util.h"
#include "kube/cluster_config.h"
#include "kube/connect.h"
#include "kube/kube_client.h"
#include "support/http_test_server.h"
#include "support/temp_dir.h"
#include "support/tls_material.h"

namespace ocpvdr::kube {
namespace {

using ocpvdr::testing::HttpTestServer;
using ocpvdr::testing::TempDir;
using ocpvdr::testing::TlsMaterial;

std::string b64(const std::string& s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// The transports under test, by name (the test parameter).
HttpClientFactory transport(const std::string& name) {
  return name == "curl" ? curlHttpClients() : httplibHttpClients();
}

struct TlsCluster : ::testing::TestWithParam<std::string> {
  static void SetUpTestSuite() { initHttpGlobal(); }

  TlsMaterial pki = TlsMaterial::generate({"localhost", "127.0.0.1"});
  std::unique_ptr<HttpTestServer> server;
  std::atomic<int> authorized{0};

  void SetUp() override {
    server = std::make_unique<HttpTestServer>(
        HttpTestServer::Tls{pki.serverCert, pki.serverKey, pki.caCert});
    server->server().Get("/api/v1/namespaces/default", [this](const httplib::Request& req,
                                                              httplib::Response& res) {
      if (req.get_header_value("Authorization") != "Bearer tls-token") {
        res.status = 401;
        res.set_content(
            R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401})",
            "application/json");
        return;
      }
      ++authorized;
      res.set_content(R"({"metadata":{"name":"default","resourceVersion":"1"}})",
                      "application/json");
    });
    server->start();
  }

  std::string kubeconfig(const std::string& clusterExtra, const std::string& userExtra) const {
    return "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: c\n  cluster:\n"
           "    server: " +
           server->url() + "\n" + clusterExtra +
           "users:\n- name: u\n  user:\n    token: tls-token\n" + userExtra +
           "contexts:\n- name: t\n  context:\n    cluster: c\n    user: u\n";
  }

  Result<Json> getDefault(const ClusterConfig& cfg) {
    auto http = transport(GetParam())(tlsOptionsFor(cfg));
    KubeClientOptions o;
    o.retry.maxAttempts = 1;
    KubeClient client(*http, cfg, clock, o);
    return client.get(resources::namespaces(), "", "default");
  }

  RealClock clock;
};

TEST_P(TlsCluster, InlineCaAndClientCertificateData) {
  TempDir dir;
  auto path =
      dir.write("config", kubeconfig("    certificate-authority-data: " + b64(pki.caCert) + "\n",
                                     "    client-certificate-data: " + b64(pki.clientCert) +
                                         "\n    client-key-data: " + b64(pki.clientKey) + "\n"));
  auto cfg = loadKubeconfig(path.string());
  ASSERT_TRUE(cfg.ok()) << cfg.error().describe();
  auto r = getDefault(*cfg);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ((*r)["metadata"]["name"], "default");
  EXPECT_EQ(authorized.load(), 1);
}

TEST_P(TlsCluster, CaAndClientCertificateFilesRelativeToTheKubeconfig) {
  TempDir dir;
  pki.writeTo(dir / "pki");
  auto path = dir.write("config", kubeconfig("    certificate-authority: pki/ca.crt\n",
                                             "    client-certificate: pki/client.crt\n"
                                             "    client-key: pki/client.key\n"));
  auto cfg = loadKubeconfig(path.string());
  ASSERT_TRUE(cfg.ok()) << cfg.error().describe();
  auto r = getDefault(*cfg);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(authorized.load(), 1);
}

TEST_P(TlsCluster, WrongCaFailsUnlessInsecureAndMissingClientCertFails) {
  TempDir dir;
  TlsMaterial other = TlsMaterial::generate({"localhost"}, "some other CA");
  const std::string clientCreds = "    client-certificate-data: " + b64(pki.clientCert) +
                                  "\n    client-key-data: " + b64(pki.clientKey) + "\n";
  auto wrongCa = dir.write(
      "wrong",
      kubeconfig("    certificate-authority-data: " + b64(other.caCert) + "\n", clientCreds));
  auto cfg = loadKubeconfig(wrongCa.string());
  ASSERT_TRUE(cfg.ok());
  auto r = getDefault(*cfg);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::Terminal) << r.error().describe();

  auto insecure =
      dir.write("insecure", kubeconfig("    insecure-skip-tls-verify: true\n", clientCreds));
  cfg = loadKubeconfig(insecure.string());
  ASSERT_TRUE(cfg.ok());
  r = getDefault(*cfg);
  ASSERT_TRUE(r.ok()) << r.error().describe();

  auto noClientCert = dir.write(
      "nocert", kubeconfig("    certificate-authority-data: " + b64(pki.caCert) + "\n", ""));
  cfg = loadKubeconfig(noClientCert.string());
  ASSERT_TRUE(cfg.ok());
  r = getDefault(*cfg);
  ASSERT_FALSE(r.ok()) << "the server requires a client certificate";
  EXPECT_EQ(authorized.load(), 1);
}

INSTANTIATE_TEST_SUITE_P(Transports, TlsCluster, ::testing::Values("curl", "httplib"),
                         [](const auto& info) { return info.param; });

TEST(ChunkedWatch, RealHttpStreamWithEventsSplitAcrossChunks) {
  initHttpGlobal();
  auto text = readFile(ocpvdr::testing::fixturePath("kube-api/watch_pv.ndjson").string());
  ASSERT_TRUE(text.ok());
  const std::string body = *text;
  HttpTestServer server;
  std::string seenQuery;
  server.server().Get(
      "/api/v1/persistentvolumes", [&](const httplib::Request& req, httplib::Response& res) {
        seenQuery = req.get_param_value("resourceVersion");
        res.set_chunked_content_provider(
            "application/json", [body](std::size_t offset, httplib::DataSink& sink) {
              // 97-byte chunks: boundaries fall inside events.
              const std::size_t n = std::min<std::size_t>(97, body.size() - offset);
              sink.write(body.data() + offset, n);
              if (offset + n >= body.size()) sink.done();
              return true;
            });
      });
  server.start();
  ClusterConfig cfg;
  cfg.server = server.url();
  HttplibHttpClient http;  // the forwarder's transport; the curl one streams in ConformanceTest
  RealClock clock;
  KubeClient client(http, cfg, clock);
  int events = 0;
  auto r = client.watch(resources::persistentVolumes(), "", {.resourceVersion = "246"},
                        [&](WatchEvent&) { ++events; });
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->how, WatchEnd::How::Closed);
  EXPECT_EQ(events, 16);
  EXPECT_EQ(r->resourceVersion, "270");
  EXPECT_EQ(seenQuery, "246");
}

TEST(Connect, FromSiteAccessToAWorkingClient) {
  initHttpGlobal();
  HttpTestServer server;
  server.server().Get("/api/v1/persistentvolumes/pv-1", [](const httplib::Request& req,
                                                           httplib::Response& res) {
    res.status = req.get_header_value("Authorization") == "Bearer via-env" ? 200 : 401;
    res.set_content(R"({"metadata":{"name":"pv-1","resourceVersion":"3"}})", "application/json");
  });
  server.start();
  TempDir dir;
  auto kc = dir.write("kc",
                      "apiVersion: v1\nkind: Config\ncurrent-context: x\nclusters:\n- name: c\n"
                      "  cluster:\n    server: " +
                          server.url() +
                          "\nusers:\n- name: u\n  user:\n"
                          "    token: via-env\ncontexts:\n- name: x\n  context:\n    cluster: c\n"
                          "    user: u\n");
  RealClock clock;
  config::KubeAccess access;  // no explicit path, not in-cluster: $KUBECONFIG is used
  auto conn = connect(access, clock, httplibHttpClients(), {},
                      [&](const std::string& n) -> std::optional<std::string> {
                        if (n == "KUBECONFIG") return kc.string();
                        return std::nullopt;
                      });
  ASSERT_TRUE(conn.ok()) << conn.error().describe();
  EXPECT_EQ(conn->config.server, server.url());
  auto pv = conn->client->get(resources::persistentVolumes(), "", "pv-1");
  ASSERT_TRUE(pv.ok()) << pv.error().describe();
  EXPECT_EQ((*pv)["metadata"]["name"], "pv-1");

  access.kubeconfig = (dir / "missing").string();
  auto bad = connect(access, clock, httplibHttpClients());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::Invalid);
}

}  // namespace
}  // namespace ocpvdr::kube
