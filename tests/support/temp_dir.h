// A fresh directory under $TMPDIR (or /tmp) for one test, removed with
// everything in it (owner permissions restored first, for tests that make it
// unusable on purpose) when the object goes away.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace picket::testing {

class TempDir {
 public:
  TempDir();  // aborts when mkdtemp fails: no test can run without it
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Join(std::string_view name) const { return path_ + "/" + std::string(name); }
  // Writes `content` to Join(name) and returns that path.
  std::string Write(std::string_view name, std::string_view content) const;
  // Names in the directory, sorted (dot files included).
  std::vector<std::string> List() const;

 private:
  std::string path_;
};

}  // namespace picket::testing
