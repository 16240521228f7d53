#include "support/temp_dir.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace picket::testing {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "picket-test-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) std::abort();
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::add, ec);
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::Write(std::string_view name, std::string_view content) const {
  std::string p = Join(name);
  std::ofstream(p, std::ios::binary) << content;
  // Private like every secret picket reads (ReadPrivateFile refuses others).
  std::filesystem::permissions(p, std::filesystem::perms::owner_read |
                                      std::filesystem::perms::owner_write);
  return p;
}

std::vector<std::string> TempDir::List() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(path_, ec)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace picket::testing
