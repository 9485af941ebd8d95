// Crash safety of checkpointing: a child process appends events while signing checkpoints as fast as it can;
// the parent kills it with SIGKILL at a random moment, reopens the log, and checks that every checkpoint kept
// in the directory is whole, signed, and extended by the log (its root is the log's root at its size): a
// checkpoint is only ever of a durable size, and its file is renamed into place whole. 10 rounds per run;
// OTINISH_CRASH_ROUNDS=N runs more. The child is this binary re-executed with --crash-child.
#include <gtest/gtest.h>

#include "tests/crash_support.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "engine/proof/checkpoint_service.h"
#include "store/rocks_store.h"

namespace otinish::engine::proof {
namespace {

NoteSigner signer() {
  return *NoteSigner::parse("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz");
}

// `ready_fd`: the child writes a byte there once its first checkpoint is kept, so that the parent's random
// delay starts when checkpointing does, however slowly this build (a sanitized one, a loaded machine) starts.
[[noreturn]] void child(const std::string& dir, int ready_fd) {
  auto store = store::open_rocks_store(dir + "/log");  // syncs on: the published head is durable
  if (!store.ok()) std::_Exit(3);
  CheckpointService service(**store, signer(), CheckpointDirectory(dir + "/checkpoints"),
                            {.interval = std::chrono::milliseconds(1), .origin = "crash.109.kz/log"});
  std::atomic<bool> ready{false};
  std::thread appender([&] {
    for (std::uint64_t i = 0;; ++i) {
      store::EventData e;
      e.type = "E";
      e.payload = "event " + std::to_string(i);
      if (!(*store)->append("appeal-" + std::to_string(i % 13), store::ExpectedVersion::any(), {&e, 1}).ok()) std::_Exit(4);
      ready = true;
    }
  });
  while (!ready) std::this_thread::yield();
  service.start();
  bool told = false;
  for (;;) {
    // Besides the service's own thread: two writers of one directory.
    if (service.checkpoint_now().ok() && !told) {
      told = write(ready_fd, "r", 1) == 1;
    }
  }
}

int rounds() { return otinish::testing::crash_rounds(10); }

TEST(ProofCrash, EveryKeptCheckpointMatchesTheLogAfterAKill) {
  const std::string dir = (std::filesystem::temp_directory_path() / ("otinish-proof-crash-" + std::to_string(getpid()))).string();
  std::filesystem::remove_all(dir);
  std::mt19937 rng(std::random_device{}());
  const std::vector<NoteVerifier> key = {signer().verifier()};
  std::size_t checked = 0;
  for (int round = 0; round < rounds(); ++round) {
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(ready[0]);
      const std::string exe = otinish::testing::self_exe();
      const std::string fd = std::to_string(ready[1]);
      execl(exe.c_str(), exe.c_str(), "--crash-child", dir.c_str(), fd.c_str(), static_cast<char*>(nullptr));
      std::_Exit(5);
    }
    close(ready[1]);
    // Every other round is killed at a random moment from its start (the log opening, the first checkpoint);
    // the others at a random moment once checkpoints are being written.
    if (round % 2 == 1) {
      pollfd p{.fd = ready[0], .events = POLLIN, .revents = 0};
      ASSERT_EQ(poll(&p, 1, 120'000), 1) << "round " << round << ": the child kept no checkpoint in 120 s";
    }
    close(ready[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 400)(rng)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child ended by itself, status " << status;

    auto store = store::open_rocks_store(dir + "/log");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    CheckpointDirectory kept(dir + "/checkpoints");
    auto sizes = kept.sizes();
    ASSERT_TRUE(sizes.ok());
    // Killed before its first checkpoint (the log still opening): nothing to check this round.
    for (std::uint64_t size : *sizes) {
      auto bytes = kept.at(size);
      ASSERT_TRUE(bytes.ok());
      auto opened = open_checkpoint(*bytes, key);
      ASSERT_TRUE(opened.ok()) << "round " << round << ", size " << size << ": " << opened.status().ToString();
      EXPECT_EQ(opened->checkpoint.size, size);
      auto report = check_consistency(**store, opened->checkpoint);
      ASSERT_TRUE(report.ok());
      EXPECT_TRUE(report->ok) << "round " << round << ": " << report->to_string();
      ++checked;
    }
    auto verified = store::verify_log(**store, {.indexes = true});
    ASSERT_TRUE(verified.ok());
    EXPECT_TRUE(verified->ok) << verified->to_string();
  }
  EXPECT_GT(checked, static_cast<std::size_t>(rounds())) << "the child was always killed before checkpointing";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace otinish::engine::proof

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--crash-child") == 0) {
    otinish::engine::proof::child(argv[2], std::atoi(argv[3]));
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
