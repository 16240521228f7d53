// A TCP port on 127.0.0.1 for a server a test starts.
#pragma once

namespace picket::testing {

// A port that was free a moment ago (bound to port 0, then released); 0 when
// none. Another process may take it before the server binds it: servers that
// can listen on port 0 and report their port should do that instead.
int FreeLoopbackPort();

}  // namespace picket::testing
