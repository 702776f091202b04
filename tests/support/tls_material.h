// TlsMaterial: a throwaway PKI generated at test time with the OpenSSL API — a CA, a server
// certificate for the loopback names and a client certificate, all as PEM — so TLS tests never
// depend on checked-in keys or on the openssl CLI.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ocpvdr::testing {

struct TlsMaterial {
  std::string caCert, caKey;          // self-signed CA (PEM)
  std::string serverCert, serverKey;  // signed by the CA; SANs from generate()
  std::string clientCert, clientKey;  // signed by the CA; extendedKeyUsage clientAuth

  // Generates fresh EC P-256 keys and certificates valid from an hour ago for a day.
  // serverNames become subjectAltNames: entries that parse as IPv4/IPv6 addresses are IP SANs,
  // the rest DNS SANs. Throws std::runtime_error on OpenSSL failure (tests only).
  static TlsMaterial generate(const std::vector<std::string>& serverNames = {"localhost",
                                                                             "127.0.0.1"},
                              const std::string& caName = "ocpv-dr test CA");

  struct Files {
    std::filesystem::path caCert, caKey, serverCert, serverKey, clientCert, clientKey;
  };
  // Writes every PEM into `dir` (ca.crt, ca.key, server.crt, server.key, client.crt, client.key).
  Files writeTo(const std::filesystem::path& dir) const;
};

}  // namespace ocpvdr::testing
