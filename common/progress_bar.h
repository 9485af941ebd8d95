// common/progress_bar.h: the progress bar of long command-line operations (rules simulate, projections rebuild).
//
// Usage:
//   ProgressBar bar(std::cerr, isatty(STDERR_FILENO));
//   for (...) bar.update("rebuilding", done, total);
//
// On a terminal (`redraw`) one bar per label, redrawn in place with '\r' at each new percent and ended with a
// newline at 100%; elsewhere (a log, a pipe) one line per label at 25, 50, 75 and 100%, so that logs stay
// readable.
//
// Thread-safe: callers on several threads may report out of order; a bar never goes back.
#pragma once

#include <cstdint>
#include <mutex>
#include <ostream>
#include <string>
#include <string_view>

namespace otinish {

class ProgressBar {
 public:
  // REQUIRES: `out` outlives the bar.
  ProgressBar(std::ostream& out, bool redraw) : out_(out), redraw_(redraw) {}
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Shows `done` of `total` (total 0 counts as done) under `label`; a new label starts a new bar.
  void update(std::string_view label, std::uint64_t done, std::uint64_t total);

 private:
  std::ostream& out_;
  const bool redraw_;
  std::mutex mu_;
  std::string label_;  // GUARDED_BY(mu_)
  int shown_ = -1;     // GUARDED_BY(mu_): the percentage (redraw) or quarter (lines) last shown of `label_`
};

}  // namespace otinish
