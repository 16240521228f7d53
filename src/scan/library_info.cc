#include "picket/scan/library_info.h"

#include <boost/asio/version.hpp>
#include <boost/version.hpp>

#include <string>

namespace picket::scan {

LibraryVersion AsioLibraryVersion() {
  return {"boost.asio", std::to_string(BOOST_ASIO_VERSION / 100000) + "." +
                            std::to_string(BOOST_ASIO_VERSION / 100 % 1000) + "." +
                            std::to_string(BOOST_ASIO_VERSION % 100) + " (boost " +
                            std::to_string(BOOST_VERSION / 100000) + "." +
                            std::to_string(BOOST_VERSION / 100 % 1000) + ")"};
}

}  // namespace picket::scan
