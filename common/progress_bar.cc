#include "common/progress_bar.h"

#include <algorithm>

namespace otinish {

void ProgressBar::update(std::string_view label, std::uint64_t done, std::uint64_t total) {
  std::lock_guard lock(mu_);
  if (label != label_) label_ = label, shown_ = -1;
  const int pct = total ? static_cast<int>(100 * std::min(done, total) / total) : 100;
  if (redraw_) {
    if (pct <= shown_) return;
    shown_ = pct;
    out_ << "\r" << label_ << " [" << std::string(static_cast<std::size_t>(pct / 2), '#')
         << std::string(static_cast<std::size_t>(50 - pct / 2), ' ') << "] " << pct << "%" << (pct == 100 ? "\n" : "")
         << std::flush;
  } else {
    const int quarter = pct / 25;
    if (quarter <= shown_ || quarter == 0) return;
    shown_ = quarter;
    out_ << label_ << " " << quarter * 25 << "%\n" << std::flush;
  }
}

}  // namespace otinish
