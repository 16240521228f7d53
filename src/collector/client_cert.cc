#include "collector/client_cert.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "picket/common/wire.h"

namespace picket::collector {

namespace {

std::string Asn1Text(const ASN1_STRING* s) {
  if (s == nullptr) return {};
  const unsigned char* data = ASN1_STRING_get0_data(s);
  const int size = ASN1_STRING_length(s);
  if (data == nullptr || size <= 0) return {};
  return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
}

std::string CommonName(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  if (subject == nullptr) return {};
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return {};
  // Two CNs are ambiguous: trust neither.
  if (X509_NAME_get_index_by_NID(subject, NID_commonName, index) >= 0) return {};
  return Asn1Text(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
}

std::string FirstDeviceDnsName(X509* cert) {
  using Names = std::unique_ptr<GENERAL_NAMES, decltype(&GENERAL_NAMES_free)>;
  Names names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)),
      &GENERAL_NAMES_free);
  if (!names) return {};
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_DNS) continue;
    std::string dns = Asn1Text(name->d.dNSName);
    if (wire::IsValidDeviceId(dns)) return dns;
  }
  return {};
}

}  // namespace

std::string DeviceFromVerifiedPeer(SSL* ssl) {
  if (ssl == nullptr) return {};
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  std::string cn = CommonName(cert);
  if (wire::IsValidDeviceId(cn)) return cn;
  return FirstDeviceDnsName(cert);
}

}  // namespace picket::collector
