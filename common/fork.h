// common/fork.h: telling a forked child from its parent without a system call.
#pragma once

#include <cstdint>

namespace otinish {

// A number that changes in a child process right after fork() (a pthread_atfork handler) and nowhere else.
// Per-thread pools of random bytes remember the number they were filled under and refill when it changed, so a
// child never hands out the bytes its parent will also hand out. Cheaper than comparing getpid(), which is a
// system call on every call since glibc 2.25 (it was one per appended event).
std::uint64_t fork_generation() noexcept;

}  // namespace otinish
