#include <unistd.h>

#include "picket/common/c_handle.h"

namespace picket {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace picket
