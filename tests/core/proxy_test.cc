// The cpp-httplib transport's forward proxy: which targets go through it (proxyFor: schemes,
// NO_PROXY names, suffixes, IPs and CIDR ranges), which settings are refused, and requests through
// a real proxy — tinyproxy (Debian's, installed by `make deps`) — for an http:// target (absolute
// form) and an https:// one (CONNECT tunnel, TLS verified end to end).
#include <gtest/gtest.h>

#include "core/httplib_client.h"
#include "support/http_test_server.h"
#include "support/temp_dir.h"
#include "support/tinyproxy_process.h"
#include "support/tls_material.h"

namespace ocpvdr {
namespace {

using namespace std::chrono_literals;
using ocpvdr::testing::HttpTestServer;
using ocpvdr::testing::TempDir;
using ocpvdr::testing::TinyproxyProcess;
using ocpvdr::testing::TlsMaterial;

HttpUrl url(const std::string& text) {
  auto u = parseHttpUrl(text);
  EXPECT_TRUE(u.ok()) << text;
  return u.ok() ? *u : HttpUrl{};
}

bool proxied(const ProxySettings& p, const std::string& target) {
  return proxyFor(p, url(target)).has_value();
}

TEST(ProxyFor, PicksTheProxyOfTheTargetsScheme) {
  ProxySettings p;
  p.httpsProxy = "proxy.corp:3128";  // host:port means http://
  EXPECT_FALSE(proxied(p, "http://api.example/"));
  auto via = proxyFor(p, url("https://api.example:6443/api"));
  ASSERT_TRUE(via.has_value());
  EXPECT_EQ(via->host, "proxy.corp");
  EXPECT_EQ(via->port, 3128);
  p.httpProxy = "http://user:p%40ss@10.0.0.9:8080";
  via = proxyFor(p, url("http://eda.example/endpoint"));
  ASSERT_TRUE(via.has_value());
  EXPECT_EQ(via->host, "10.0.0.9");
  EXPECT_EQ(via->userinfo, "user:p%40ss");
  EXPECT_FALSE(proxied(ProxySettings{}, "https://api.example/"));
}

TEST(ProxyFor, NoProxyNamesSuffixesAddressesAndRanges) {
  ProxySettings p;
  p.httpsProxy = "http://proxy.corp:3128";
  p.noProxy =
      " localhost, .cluster.local,*.svc ,Example.COM:8443, 10.1.2.3, 172.30.0.0/16, [fd00::1], "
      "fd10::/16,,";
  // Names: exact, and a name covers its subdomains; case and ports do not matter.
  EXPECT_FALSE(proxied(p, "https://localhost:6443/"));
  EXPECT_FALSE(proxied(p, "https://example.com/"));
  EXPECT_FALSE(proxied(p, "https://eda.EXAMPLE.com/"));
  EXPECT_TRUE(proxied(p, "https://notexample.com/"));
  EXPECT_FALSE(proxied(p, "https://kubernetes.default.svc/"));
  EXPECT_FALSE(proxied(p, "https://svc/"));
  EXPECT_FALSE(proxied(p, "https://api.ns.svc.cluster.local/"));
  EXPECT_FALSE(proxied(p, "https://cluster.local/"));
  EXPECT_TRUE(proxied(p, "https://cluster.local.evil.example/"));
  // Addresses and CIDR ranges (the service network of an OpenShift cluster-wide proxy).
  EXPECT_FALSE(proxied(p, "https://10.1.2.3/"));
  EXPECT_TRUE(proxied(p, "https://10.1.2.30/"));
  EXPECT_FALSE(proxied(p, "https://172.30.0.1:443/"));
  EXPECT_FALSE(proxied(p, "https://172.30.255.254/"));
  EXPECT_TRUE(proxied(p, "https://172.31.0.1/"));
  EXPECT_FALSE(proxied(p, "https://[fd00::1]:6443/"));
  EXPECT_FALSE(proxied(p, "https://[fd10:1::5]/"));
  EXPECT_TRUE(proxied(p, "https://[fd11::5]/"));
  // Loopback is not special: only listed names and addresses bypass the proxy.
  EXPECT_TRUE(proxied(p, "https://127.0.0.1/"));
  p.noProxy = "*";
  EXPECT_FALSE(proxied(p, "https://anything.example/"));
  p.noProxy = "10.0.0.0/99, 10.0.0.0/x, 10.0.0.0/";
  EXPECT_TRUE(proxied(p, "https://10.0.0.1/")) << "malformed ranges match nothing";
}

TEST(ProxyFor, SettingsThatCannotWorkAreRefusedByName) {
  ProxySettings ok;
  ok.httpProxy = "proxy:3128";
  ok.httpsProxy = "http://proxy:3128";
  EXPECT_TRUE(checkProxySettings(ok).ok());
  EXPECT_TRUE(checkProxySettings(ProxySettings{}).ok());
  ProxySettings tls;
  tls.httpsProxy = "https://admin:secret@proxy:3128";
  auto st = checkProxySettings(tls);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::Invalid);
  EXPECT_NE(st.error().message.find("https_proxy/HTTPS_PROXY"), std::string::npos);
  EXPECT_EQ(st.error().message.find("secret"), std::string::npos) << st.error().message;
  ProxySettings garbage;
  garbage.httpProxy = "http://proxy:port";
  st = checkProxySettings(garbage);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("http_proxy/HTTP_PROXY"), std::string::npos);
}

void viaHandler(const httplib::Request& req, httplib::Response& res) {
  res.set_content(req.get_header_value("Via"), "text/plain");
}

TEST(HttplibProxy, PlainHttpGoesThroughTheProxyUnlessNoProxyListsTheHost) {
  TempDir dir;
  HttpTestServer server;
  server.server().Get("/via", viaHandler);
  server.start();
  TinyproxyProcess proxy(dir, server.port());
  ProxySettings settings;
  settings.httpProxy = proxy.url();
  HttplibHttpClient client({}, settings);
  HttpRequest req;
  req.url = server.url("/via");
  auto r = client.send(req);
  ASSERT_TRUE(r.ok()) << r.error().describe() << proxy.log();
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("tinyproxy"), std::string::npos) << "no Via header: " << r->body;
  EXPECT_NE(proxy.log().find("GET " + server.url("/via")), std::string::npos) << proxy.log();

  settings.noProxy = "127.0.0.1";
  auto direct = HttplibHttpClient({}, settings).send(req);
  ASSERT_TRUE(direct.ok()) << direct.error().describe();
  EXPECT_EQ(direct->body, "") << "went through the proxy despite NO_PROXY";
}

TEST(HttplibProxy, HttpsIsTunnelledWithConnectAndStillVerified) {
  TempDir dir;
  const TlsMaterial pki = TlsMaterial::generate({"localhost", "127.0.0.1"});
  const TlsMaterial other = TlsMaterial::generate({"localhost", "127.0.0.1"}, "other CA");
  HttpTestServer server({pki.serverCert, pki.serverKey, ""});
  server.server().Get("/via", viaHandler);
  server.start();
  TinyproxyProcess proxy(dir, server.port());
  ProxySettings settings;
  settings.httpsProxy = proxy.url();
  TlsOptions tls;
  tls.caData = pki.caCert;
  HttpRequest req;
  req.url = server.url("/via");
  auto r = HttplibHttpClient(tls, settings).send(req);
  ASSERT_TRUE(r.ok()) << r.error().describe() << proxy.log();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "") << "a tunnel: the proxy cannot add headers";
  EXPECT_NE(proxy.log().find("CONNECT 127.0.0.1:" + std::to_string(server.port())),
            std::string::npos)
      << proxy.log();

  // The tunnel does not weaken verification: the wrong CA is still refused.
  TlsOptions wrong;
  wrong.caData = other.caCert;
  auto bad = HttplibHttpClient(wrong, settings).send(req);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::Terminal) << bad.error().message;

  // The proxy gone: a transport failure to retry, not a response.
  proxy.stop();
  auto down = HttplibHttpClient(tls, settings).send(req);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().kind, ErrorKind::Retryable) << down.error().message;
}

}  // namespace
}  // namespace ocpvdr
