// common/version.h: the version of otinish this header came with.
//
// Semantic versioning (https://semver.org): a release that changes a public header (common/, store/, rules/,
// engine/) incompatibly, the HTTP API's /v1, or what a data directory holds without `otinish upgrade` bumps
// the major number; new features bump the minor; fixes the patch. CHANGELOG.md says what each release changed.
// Before 1.0.0 a minor release may still break: read its entry in CHANGELOG.md.
//
// The top-level CMakeLists.txt reads these three numbers: they are the project's only version, so the installed
// otinishConfigVersion.cmake, otinish.pc, the Debian packages and `otinish --version` all say the same.
#pragma once

#define OTINISH_VERSION_MAJOR 0
#define OTINISH_VERSION_MINOR 1
#define OTINISH_VERSION_PATCH 0

// The same as one number, for #if: OTINISH_VERSION >= OTINISH_MAKE_VERSION(0, 2, 0).
#define OTINISH_MAKE_VERSION(major, minor, patch) ((major) * 10000 + (minor) * 100 + (patch))
#define OTINISH_VERSION OTINISH_MAKE_VERSION(OTINISH_VERSION_MAJOR, OTINISH_VERSION_MINOR, OTINISH_VERSION_PATCH)

namespace otinish {

#define OTINISH_VERSION_STRINGIFY_(x) #x
#define OTINISH_VERSION_STRINGIFY(x) OTINISH_VERSION_STRINGIFY_(x)

// "0.1.0": the version of the headers the program was compiled against.
inline constexpr const char* kVersionString = OTINISH_VERSION_STRINGIFY(OTINISH_VERSION_MAJOR) "." OTINISH_VERSION_STRINGIFY(
    OTINISH_VERSION_MINOR) "." OTINISH_VERSION_STRINGIFY(OTINISH_VERSION_PATCH);

}  // namespace otinish
