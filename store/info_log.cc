#include "store/info_log.h"

#include <sys/time.h>

#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <mutex>

namespace otinish::store {
namespace {

class InfoLog final : public rocksdb::Logger {
 public:
  explicit InfoLog(std::string dir) : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL), dir_(std::move(dir)) {}
  ~InfoLog() override {
    if (file_ != nullptr) std::fclose(file_);
  }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char line[2048];
    timeval now{};
    gettimeofday(&now, nullptr);
    std::tm t{};
    gmtime_r(&now.tv_sec, &t);
    int n = std::snprintf(line, sizeof line, "%04d/%02d/%02d-%02d:%02d:%02d.%06ld ", t.tm_year + 1900, t.tm_mon + 1,
                          t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, static_cast<long>(now.tv_usec));
    va_list copy;
    va_copy(copy, ap);
    const int body = std::vsnprintf(line + n, sizeof line - static_cast<std::size_t>(n) - 1, format, copy);
    va_end(copy);
    if (body < 0) return;
    n = std::min<int>(n + body, static_cast<int>(sizeof line) - 2);
    line[n++] = '\n';
    std::lock_guard lock(mu_);
    // Opened at the first line, when RocksDB has made the directory (a database that is not there must stay
    // not there: the key store's open relies on it).
    if (file_ == nullptr) open_file();
    if (file_ == nullptr) return;
    if (written_ + static_cast<std::size_t>(n) > kMaxBytes) rotate();
    if (file_ != nullptr && std::fwrite(line, 1, static_cast<std::size_t>(n), file_) == static_cast<std::size_t>(n)) {
      written_ += static_cast<std::size_t>(n);
      std::fflush(file_);  // a line that cannot be written (a full disk) is dropped; clearerr lets the next try
    }
    if (file_ != nullptr) std::clearerr(file_);
  }
  std::size_t GetLogFileSize() const override { return written_; }

 private:
  static constexpr std::size_t kMaxBytes = 16 << 20;

  void open_file() {
    file_ = std::fopen((dir_ + "/LOG").c_str(), "a");
    if (file_ == nullptr) return;
    const long at = std::ftell(file_);
    written_ = at > 0 ? static_cast<std::size_t>(at) : 0;
  }
  void rotate() {
    std::fclose(file_);
    file_ = nullptr;
    std::error_code ec;
    std::filesystem::rename(dir_ + "/LOG", dir_ + "/LOG.old", ec);
    open_file();
    written_ = 0;
  }

  const std::string dir_;
  std::mutex mu_;
  std::FILE* file_ = nullptr;  // guarded by mu_
  std::size_t written_ = 0;    // guarded by mu_ (read unguarded by GetLogFileSize: an estimate)
};

}  // namespace

std::shared_ptr<rocksdb::Logger> open_info_log(const std::string& dir) { return std::make_shared<InfoLog>(dir); }

}  // namespace otinish::store
