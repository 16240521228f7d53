// Collectors addressed by IP over TLS when libcurl's TLS library is mbedTLS 2.28 (the static
// builds): mbedTLS compares the host only with the certificate's DNS names, so a certificate
// that names the collector's address (subjectAltName IP:…, what OpenSSL and browsers check)
// fails with "BADCERT_CN_MISMATCH". This adds that one comparison and nothing else.
#pragma once

#include <curl/curl.h>

#include <array>
#include <cstddef>
#include <string>

namespace picket::upload {

// The collector's address when its URL names one (4 or 16 bytes), else size 0.
struct TlsIpName {
  std::array<unsigned char, 16> bytes{};
  std::size_t size = 0;
};

// The address in `url`'s host ("https://10.0.0.5:8750", "https://[fd00::5]/"), if it is one.
TlsIpName IpNameOf(const std::string& url);

// Sets `h` (after curl_easy_reset) to accept a server certificate whose iPAddress SAN equals
// `name`, where mbedTLS reported only a name mismatch for it; every other check stays. `name`
// must outlive the transfer. Does nothing where libcurl's TLS library checks IP SANs itself.
void AcceptIpSubjectAltName(CURL* h, const TlsIpName* name);

}  // namespace picket::upload
