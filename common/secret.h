// common/secret.h: secret material that comes from outside the data directory: a file, an environment
// variable or a systemd credential. The key-encryption key and the checkpoint signing key are read this way.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace otinish {

// Text read from a secret source; wiped from memory when destroyed.
struct SecretText {
  std::string text;    // trailing newlines, carriage returns and spaces removed
  std::string source;  // for messages: "file /etc/otinish/kek", "environment variable X", "systemd credential Y"
  SecretText() = default;
  SecretText(std::string t, std::string s) : text(std::move(t)), source(std::move(s)) {}
  SecretText(SecretText&&) noexcept = default;
  SecretText& operator=(SecretText&&) noexcept = default;
  ~SecretText();
};

// Reads `spec`: "file:PATH", "env:NAME" or "credential:NAME" (a file in $CREDENTIALS_DIRECTORY). `what` names
// the secret in messages ("key-encryption key"). A file inside `data_dir` is refused: a key stored beside the
// data it protects protects nothing.
// Errors: kInvalidArgument (a malformed spec, a file in the data directory), kNotFound (no such file, variable
// or credential). Each message names the source.
Result<SecretText> load_secret(std::string_view spec, std::string_view what, std::string_view data_dir);

// Writes `text` and a newline to a new file `path`, mode 0600, synced; never overwrites.
// Errors: kAlreadyExists, kIOError, kInvalidArgument (a path inside `data_dir`).
Status write_secret_file(const std::string& path, std::string_view text, std::string_view what,
                         std::string_view data_dir);

// Whether `file` lies inside `dir` (both made absolute and normal; symbolic links resolved where they exist).
bool path_inside(const std::string& file, std::string_view dir);

}  // namespace otinish
