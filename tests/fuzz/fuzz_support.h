// What the collector fuzz targets share: a private temporary directory that
// lives as long as the process (libFuzzer runs every input in one process)
// and is removed at exit. /dev/shm when it exists, so SQLite's syncs cost no
// disk writes.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace picket::fuzz {

class ScratchDir {
 public:
  ScratchDir() {
    std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string pattern = base + "/picket-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace picket::fuzz
