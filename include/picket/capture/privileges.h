// Least privilege for the capture worker: once its capture handle is open, the
// worker needs nothing but CAP_NET_RAW (kept so it can reopen the interface
// after it goes away). Everything else — CAP_SYS_ADMIN, CAP_DAC_OVERRIDE, ... —
// is dropped, so a parser bug in the worker cannot be turned into root.
#pragma once

#include "picket/common/status.h"

namespace picket::capture {

// Keeps only CAP_NET_RAW in the permitted and effective sets, clears the
// inheritable and ambient sets and, when CAP_SETPCAP allows it, removes every
// other capability from the bounding set (an exec cannot bring them back).
// The uid does not change. PermissionDenied when CAP_NET_RAW is not permitted
// in the first place. Affects the calling thread only: call it before starting
// other threads.
Status RetainOnlyCapNetRaw();

}  // namespace picket::capture
