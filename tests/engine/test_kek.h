// tests/engine/test_kek.h: a key-encryption key for tests (never a real one), `fill` repeated 64 times.
#pragma once

#include <string>

#include <gtest/gtest.h>

#include "engine/privacy/kek.h"

namespace otinish::engine::testing {

inline privacy::KeyEncryptionKey test_kek(char fill = 'a') {
  auto k = privacy::kek_from_hex(std::string(64, fill), "test key " + std::string(1, fill));
  EXPECT_TRUE(k.ok());
  return *k;
}

}  // namespace otinish::engine::testing
