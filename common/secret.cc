#include "common/secret.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace otinish {

namespace fs = std::filesystem;

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

Result<SecretText> read_file(const fs::path& path, std::string source, std::string_view what,
                             std::string_view data_dir) {
  if (path_inside(path.string(), data_dir)) {
    return Status::InvalidArgument(source + " is inside the data directory " + std::string(data_dir) + ": keep the " +
                                   std::string(what) + " elsewhere (a key beside the data protects nothing)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(source + " cannot be read: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  std::string raw = text.str();
  SecretText out(trim(raw), std::move(source));
  sodium_memzero(raw.data(), raw.size());
  return out;
}

}  // namespace

SecretText::~SecretText() {
  if (!text.empty()) sodium_memzero(text.data(), text.size());
}

bool path_inside(const std::string& file, std::string_view dir) {
  if (dir.empty()) return false;
  std::error_code ec;
  fs::path f = fs::weakly_canonical(fs::absolute(file, ec), ec);
  fs::path d = fs::weakly_canonical(fs::absolute(fs::path(dir), ec), ec);
  auto [di, fi] = std::mismatch(d.begin(), d.end(), f.begin(), f.end());
  // A trailing empty element (a path ending in '/') does not count.
  while (di != d.end() && di->empty()) ++di;
  return di == d.end();
}

Result<SecretText> load_secret(std::string_view spec, std::string_view what, std::string_view data_dir) {
  const auto colon = spec.find(':');
  const std::string_view kind = colon == std::string_view::npos ? std::string_view() : spec.substr(0, colon);
  const std::string arg(colon == std::string_view::npos ? std::string_view() : spec.substr(colon + 1));
  if (kind == "file" && !arg.empty()) return read_file(arg, std::string(what) + " file " + arg, what, data_dir);
  if (kind == "env" && !arg.empty()) {
    const std::string source = "environment variable " + arg;
    const char* value = std::getenv(arg.c_str());
    if (!value) return Status::NotFound(source + " is not set");
    return SecretText(trim(value), source);
  }
  if (kind == "credential" && !arg.empty()) {
    const std::string source = "systemd credential " + arg;
    const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
    if (!dir) return Status::NotFound(source + ": $CREDENTIALS_DIRECTORY is not set (is LoadCredential= configured?)");
    return read_file(fs::path(dir) / arg, source + " (" + (fs::path(dir) / arg).string() + ")", what, data_dir);
  }
  return Status::InvalidArgument(std::string(what) + " source '" + std::string(spec) +
                                 "' is not file:PATH, env:NAME or credential:NAME");
}

Status write_secret_file(const std::string& path, std::string_view text, std::string_view what,
                         std::string_view data_dir) {
  if (path_inside(path, data_dir)) {
    return Status::InvalidArgument(std::string(what) + " file " + path + " is inside the data directory " +
                                   std::string(data_dir) + ": keep it elsewhere");
  }
  std::string line = std::string(text) + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    sodium_memzero(line.data(), line.size());
    if (err == EEXIST) return Status::AlreadyExists(path + " already exists; a " + std::string(what) + " is never overwritten");
    return Status::IOError("cannot create " + path + ": " + std::strerror(err));
  }
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  sodium_memzero(line.data(), line.size());
  if (!written) return Status::IOError("cannot write " + path + ": " + std::strerror(err));
  return Status::Ok();
}

}  // namespace otinish
