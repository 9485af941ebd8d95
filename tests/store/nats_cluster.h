// tests/store/nats_cluster.h: a three-server NATS JetStream cluster on loopback for a test program
// (scripts/nats-cluster.sh), started on first use and stopped when the program ends.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "tests/store/store_test_util.h"

namespace otinish::store::testing {

// One cluster for the whole test program, started on first use.
class Cluster {
 public:
  static Cluster& get() {
    static Cluster c;
    return c;
  }
  const std::string& urls() const { return urls_; }
  bool ok() const { return !urls_.empty(); }
  const std::string& error() const { return error_; }
  // The cluster's directory: server N keeps its JetStream files in dir()/nN (scripts/nats-cluster.sh).
  std::string dir() const { return dir_.sub("cluster"); }
  // scripts/nats-cluster.sh's server commands: "kill 2", "stopsig 1", "cont 1", "restart 2".
  bool signal(const std::string& what) {
    return std::system((script_ + " " + what.substr(0, what.find(' ')) + " " + dir_.sub("cluster") + " " +
                        what.substr(what.find(' ') + 1) + " >/dev/null 2>&1").c_str()) == 0;
  }
  ~Cluster() { stop(); }
  void stop() {
    if (urls_.empty()) return;
    std::system((script_ + " stop " + dir_.sub("cluster") + " >/dev/null 2>&1").c_str());
    urls_.clear();
  }

 private:
  Cluster() {
    const char* root = std::getenv("OTINISH_SOURCE_DIR");
    script_ = "bash " + std::string(root ? root : ".") + "/scripts/nats-cluster.sh";
    // Ports from the process id: ctest runs several test programs (and cases) at once, each with its cluster.
    for (int attempt = 0; attempt < 3 && urls_.empty(); ++attempt) {
      const int base = 10000 + static_cast<int>((getpid() * 7 + attempt * 331) % 2000) * 3;  // routes at +8000
      const std::string out = dir_.sub("urls");
      const int rc = std::system((script_ + " start " + dir_.sub("cluster") + " " + std::to_string(base) + " >" +
                                  out + " 2>&1").c_str());
      std::ifstream in(out);
      std::string line;
      std::getline(in, line);
      if (rc == 0 && line.starts_with("nats://")) {
        urls_ = line;
      } else {
        error_ = line;
        std::system((script_ + " stop " + dir_.sub("cluster") + " >/dev/null 2>&1").c_str());
      }
    }
  }
  TempDir dir_;
  std::string script_, urls_, error_;
};

}  // namespace otinish::store::testing
