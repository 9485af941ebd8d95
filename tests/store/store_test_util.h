// Helpers shared by the store tests: a temporary directory and quick event builders.
#pragma once

#include <filesystem>
#include <random>
#include <string>

#include "store/event_store.h"

namespace otinish::store::testing {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("otinish-test-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path() const { return path_.string(); }
  std::string sub(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline EventData make_event(std::string type, std::string payload) {
  EventData e;
  e.type = std::move(type);
  e.payload = std::move(payload);
  e.actor = Actor{"operator:test", "operator", ""};
  return e;
}

}  // namespace otinish::store::testing
