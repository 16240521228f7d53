// mTLS (--client-ca): which device a verified client certificate names.
#pragma once

#include <openssl/ssl.h>

#include <string>

namespace picket::collector {

// The device id named by the peer certificate of a finished handshake: its
// subject CN when that is a valid device id, else its first DNS SAN that is
// one. "" when there is no certificate, it did not verify against the
// --client-ca bundle, or it names no device.
std::string DeviceFromVerifiedPeer(SSL* ssl);

}  // namespace picket::collector
