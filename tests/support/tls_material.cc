// Test PKI generation with OpenSSL 3: EC keys, X.509 v3 certificates with the extensions a
// verifying client checks (basicConstraints, keyUsage, extendedKeyUsage, subjectAltName).
#include "support/tls_material.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace ocpvdr::testing {
namespace {

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("tls_material: ") + what + " failed");
}

KeyPtr makeKey() {
  KeyPtr key(EVP_EC_gen("P-256"));
  check(key != nullptr, "EVP_EC_gen");
  return key;
}

std::string toPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string toPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

void addExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

CertPtr makeCert(const std::string& cn, EVP_PKEY* key, X509* issuer) {
  static std::atomic<long> serial{1000};
  CertPtr cert(X509_new());
  check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  return cert;
}

void sign(X509* cert, EVP_PKEY* key) {
  check(X509_sign(cert, key, EVP_sha256()) > 0, "X509_sign");
}

bool isIp(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

}  // namespace

TlsMaterial TlsMaterial::generate(const std::vector<std::string>& serverNames,
                                  const std::string& caName) {
  TlsMaterial m;
  KeyPtr caKey = makeKey();
  CertPtr ca = makeCert(caName, caKey.get(), nullptr);
  addExt(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE");
  addExt(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  addExt(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
  sign(ca.get(), caKey.get());

  KeyPtr serverKey = makeKey();
  const std::string serverCn = serverNames.empty() ? "localhost" : serverNames.front();
  CertPtr server = makeCert(serverCn, serverKey.get(), ca.get());
  addExt(server.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  addExt(server.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
  addExt(server.get(), ca.get(), NID_ext_key_usage, "serverAuth");
  std::string san;
  for (const auto& n : serverNames) {
    if (!san.empty()) san += ",";
    san += (isIp(n) ? "IP:" : "DNS:") + n;
  }
  if (!san.empty()) addExt(server.get(), ca.get(), NID_subject_alt_name, san);
  addExt(server.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  sign(server.get(), caKey.get());

  KeyPtr clientKey = makeKey();
  CertPtr client = makeCert("ocpv-dr test client", clientKey.get(), ca.get());
  addExt(client.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  addExt(client.get(), ca.get(), NID_key_usage, "critical,digitalSignature");
  addExt(client.get(), ca.get(), NID_ext_key_usage, "clientAuth");
  addExt(client.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  sign(client.get(), caKey.get());

  m.caCert = toPem(ca.get());
  m.caKey = toPem(caKey.get());
  m.serverCert = toPem(server.get());
  m.serverKey = toPem(serverKey.get());
  m.clientCert = toPem(client.get());
  m.clientKey = toPem(clientKey.get());
  return m;
}

TlsMaterial::Files TlsMaterial::writeTo(const std::filesystem::path& dir) const {
  std::filesystem::create_directories(dir);
  auto write = [&](const char* name, const std::string& pem) {
    auto p = dir / name;
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << pem;
    if (!out) throw std::runtime_error("tls_material: writing " + p.string());
    return p;
  };
  return Files{write("ca.crt", caCert),         write("ca.key", caKey),
               write("server.crt", serverCert), write("server.key", serverKey),
               write("client.crt", clientCert), write("client.key", clientKey)};
}

}  // namespace ocpvdr::testing
