#include "store/disk_space.h"

#include <filesystem>

namespace otinish::store {

DiskSpaceGuard::DiskSpaceGuard(std::string path, std::string what, std::uint64_t reserve_bytes)
    : path_(std::move(path)), what_(std::move(what)), reserve_(reserve_bytes) {}

Status DiskSpaceGuard::check() {
  if (reserve_ == 0) return Status::Ok();
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (now < next_) return last_;
  next_ = now + std::chrono::milliseconds(100);
  std::error_code ec;
  const std::filesystem::space_info space = std::filesystem::space(path_, ec);
  if (ec) {
    last_ = Status::Ok();  // a file system that cannot say is not refused over it; RocksDB reports real errors
  } else if (space.available < reserve_) {
    last_ = Status::Unavailable(
        "no space: the disk holding " + what_ + " at " + path_ + " has " + std::to_string(space.available >> 20) +
        " MiB free, under its reserve of " + std::to_string(reserve_ >> 20) +
        " MiB; nothing was written. Writes resume by themselves once space is freed; reads go on.");
  } else {
    last_ = Status::Ok();
  }
  return last_;
}

}  // namespace otinish::store
