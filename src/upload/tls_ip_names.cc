#include "tls_ip_names.h"

#include <arpa/inet.h>

#include <cstring>

#include "picket/common/c_handle.h"

#ifdef PICKET_CURL_MBEDTLS
#include <mbedtls/asn1.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#endif

namespace picket::upload {

TlsIpName IpNameOf(const std::string& url) {
  TlsIpName name;
  CHandle<CURLU, curl_url_cleanup> parsed{curl_url()};
  char* host = nullptr;
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK ||
      curl_url_get(parsed.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    return name;
  }
  std::string text(host);
  curl_free(host);
  if (text.size() > 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
    // A zone ("fe80::1%eth0") is no part of the address a certificate names.
    if (auto zone = text.find('%'); zone != std::string::npos) text.resize(zone);
    if (inet_pton(AF_INET6, text.c_str(), name.bytes.data()) == 1) name.size = 16;
  } else if (inet_pton(AF_INET, text.c_str(), name.bytes.data()) == 1) {
    name.size = 4;
  }
  return name;
}

#ifdef PICKET_CURL_MBEDTLS
namespace {

// mbedTLS calls this for each certificate of the verified chain, with the flags it found.
int VerifyIpName(void* data, mbedtls_x509_crt* crt, int depth, std::uint32_t* flags) {
  const auto* name = static_cast<const TlsIpName*>(data);
  if (depth != 0 || name->size == 0 || !(*flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)) return 0;
  constexpr int kIpAddressTag = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7;  // GeneralName iPAddress [7]
  for (const mbedtls_x509_sequence* san = &crt->subject_alt_names; san; san = san->next) {
    if (san->buf.tag == kIpAddressTag && san->buf.len == name->size &&
        std::memcmp(san->buf.p, name->bytes.data(), name->size) == 0) {
      *flags &= ~static_cast<std::uint32_t>(MBEDTLS_X509_BADCERT_CN_MISMATCH);
      break;
    }
  }
  return 0;
}

CURLcode InstallVerify(CURL*, void* ssl_config, void* data) {
  mbedtls_ssl_conf_verify(static_cast<mbedtls_ssl_config*>(ssl_config), &VerifyIpName, data);
  return CURLE_OK;
}

}  // namespace

void AcceptIpSubjectAltName(CURL* h, const TlsIpName* name) {
  if (name->size == 0) return;
  curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, &InstallVerify);
  curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, const_cast<TlsIpName*>(name));
}
#else
void AcceptIpSubjectAltName(CURL*, const TlsIpName*) {}
#endif

}  // namespace picket::upload
