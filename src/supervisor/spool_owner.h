// The buffer (SQLite files, chunk spool) belongs to the unprivileged user the
// worker becomes (security.user): the root supervisor hands it over before the
// first worker starts, so the worker can still write chunks and rows after its
// switch. Nobody else may read it: directories 0700, files without group/other bits.
#pragma once

#include <sys/types.h>

#include <string>

#include "picket/common/status.h"

namespace picket::supervisor {

// Changes the owner of `dir` and everything below it to uid:gid (symbolic links
// themselves, never their targets) and clears group/other permission bits.
Status GiveSpoolTo(const std::string& dir, uid_t uid, gid_t gid);

// FailedPrecondition naming the first directory above `dir` that uid:gid
// cannot search (the worker opens chunk files by path after its switch, with
// no capability that bypasses permissions), or OK.
Status CheckReachable(const std::string& dir, uid_t uid, gid_t gid, const std::string& user);

}  // namespace picket::supervisor
