// Crash safety: a child process appends with many writers and reports every acknowledged append through a pipe;
// the parent kills it with SIGKILL at a random moment, reopens the log, and checks that every acknowledged
// event is present and unchanged and that the chain verifies.
//
// The suite runs 20 rounds. OTINISH_CRASH_ROUNDS=1000 runs more (outside CI).
// The child is this same binary re-executed with --crash-child (a fork alone would inherit RocksDB's
// background thread pool without its threads).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "store/rocks_store.h"
#include "tests/store/store_test_util.h"

namespace otinish::store {
namespace {

// One acknowledged append, as the child reports it. Fixed size so that a pipe write of it is atomic.
struct Ack {
  std::uint64_t position;
  std::uint64_t stream_version;
  std::uint32_t writer;
  std::uint32_t sequence;  // the writer's n-th append; the payload and stream derive from (writer, sequence)
};
static_assert(sizeof(Ack) <= PIPE_BUF);

std::string stream_of(std::uint32_t writer, std::uint32_t sequence) {
  return "appeal-" + std::to_string(writer) + "-" + std::to_string(sequence % 7);
}
std::string payload_of(std::uint32_t writer, std::uint32_t sequence) {
  std::string p = "writer " + std::to_string(writer) + " append " + std::to_string(sequence) + " ";
  p.resize(300, static_cast<char>('a' + (writer + sequence) % 26));
  return p;
}

[[noreturn]] void run_child(const char* dir, int fd) {
  auto opened = open_rocks_store(dir);
  if (!opened.ok()) {
    std::fprintf(stderr, "crash child: %s\n", opened.status().ToString().c_str());
    _exit(3);
  }
  auto store = std::move(opened).value();
  constexpr std::uint32_t kWriters = 16;
  std::vector<std::thread> writers;
  for (std::uint32_t w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (std::uint32_t seq = 0;; ++seq) {
        EventData e = testing::make_event("CrashTestEvent", payload_of(w, seq));
        auto r = store->append(stream_of(w, seq), ExpectedVersion::any(), {&e, 1});
        if (!r.ok()) {
          std::fprintf(stderr, "crash child: %s\n", r.status().ToString().c_str());
          _exit(4);
        }
        Ack ack{r->first_position, r->stream_version, w, seq};
        if (write(fd, &ack, sizeof ack) != sizeof ack) _exit(5);
      }
    });
  }
  for (auto& t : writers) t.join();
  _exit(0);
}

std::string self_exe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : std::string();
}

int rounds() {
  const char* env = std::getenv("OTINISH_CRASH_ROUNDS");
  return env ? std::max(1, std::atoi(env)) : 20;
}

TEST(CrashTest, EveryAcknowledgedAppendSurvivesSigkill) {
  testing::TempDir dir;
  const std::string exe = self_exe();
  ASSERT_FALSE(exe.empty());
  std::mt19937 rng(std::random_device{}());
  std::map<std::uint64_t, Ack> acked;  // over all rounds: every position ever acknowledged
  for (int round = 0; round < rounds(); ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      const std::string fd = std::to_string(fds[1]);
      execl(exe.c_str(), exe.c_str(), "--crash-child", dir.path().c_str(), fd.c_str(), nullptr);
      _exit(6);
    }
    close(fds[1]);
    std::atomic<bool> done{false};
    std::thread reader([&] {
      Ack ack;
      while (read(fds[0], &ack, sizeof ack) == sizeof ack) acked[ack.position] = ack;
      done = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 300)(rng)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    reader.join();  // the pipe closes with the child: every ack written before the kill is read
    close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child ended on its own (status " << status << ") in round " << round;

    auto opened = open_rocks_store(dir.path());
    ASSERT_TRUE(opened.ok()) << "round " << round << ": " << opened.status().ToString();
    auto store = std::move(opened).value();
    for (const auto& [position, ack] : acked) {
      ASSERT_LE(position, store->head_position()) << "round " << round << ": acknowledged position lost";
      auto got = store->read_all(position, 1);
      ASSERT_TRUE(got.ok() && got->size() == 1) << "round " << round << ": position " << position;
      const RecordedEvent& e = got->front();
      ASSERT_EQ(e.stream, stream_of(ack.writer, ack.sequence)) << "position " << position;
      ASSERT_EQ(e.stream_version, ack.stream_version) << "position " << position;
      ASSERT_EQ(e.payload, payload_of(ack.writer, ack.sequence)) << "position " << position;
    }
    auto report = verify_chain(*store);
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    ASSERT_TRUE(report->ok) << "round " << round << ": " << report->to_string();
  }
  EXPECT_GT(acked.size(), 0u) << "no append was acknowledged in any round: the test proved nothing";
}

}  // namespace
}  // namespace otinish::store

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--crash-child") == 0) {
    otinish::store::run_child(argv[2], std::atoi(argv[3]));
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
