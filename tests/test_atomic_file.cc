// Crash-safe file replacement: a writer that fails, runs out of space, or is SIGKILLed at a random
// moment never leaves the previous file damaged.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "io/atomic_file.h"
#include "io/checkpoint_io.h"
#include "kill_writer.h"

namespace hsanet::io {
namespace {

namespace fs = std::filesystem;

class AtomicFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "hsanet_af_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // Names in the directory other than `keep`: temporary files that should not be there.
  std::vector<std::string> strays(const std::string& keep) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().filename() != keep) out.push_back(e.path().filename().string());
    return out;
  }
  fs::path dir_;
};

std::string slurp(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_F(AtomicFile, ReplacesContentAndLeavesNoTemporary) {
  const std::string p = path("f.txt");
  write_file_atomically(p, std::string("one"));
  EXPECT_EQ(slurp(p), "one");
  // While the new bytes are produced, the old file is still whole and the temporary is beside it.
  write_file_atomically(p, [&](AtomicWriter& w) {
    w.write("tw");
    EXPECT_EQ(slurp(p), "one");
    EXPECT_TRUE(fs::exists(atomic_temp_path(p)));
    EXPECT_EQ(atomic_temp_path(p), p + ".tmp." + std::to_string(::getpid()));
    w.write(std::string(3 << 20, 'x'));  // bigger than the writer's buffer: the direct path
    w.write("o");
    EXPECT_EQ(w.bytes_written(), 3u + (3u << 20));
  });
  std::string got = slurp(p);
  EXPECT_EQ(got.size(), 3u + (3u << 20));
  EXPECT_EQ(got.substr(0, 2), "tw");
  EXPECT_EQ(got.back(), 'o');
  EXPECT_TRUE(strays("f.txt").empty());
}

// A producer that throws half-way: its exception comes through unchanged, the temporary file is
// removed, and the previous checkpoint still loads.
TEST_F(AtomicFile, WriterFailingHalfWayKeepsThePreviousFile) {
  const std::string p = path("ck.safetensors");
  StateDict good = {{"w", Tensor::full({1000}, 3.f)}};
  save_state_dict(p, good, {{"step", "1"}});
  struct Boom : std::runtime_error {
    Boom() : std::runtime_error("boom") {}
  };
  EXPECT_THROW(write_file_atomically(p,
                                     [](AtomicWriter& w) {
                                       w.write(std::string(5000, 'z'));
                                       throw Boom();
                                     }),
               Boom);
  EXPECT_TRUE(strays("ck.safetensors").empty());
  SafeTensorsFile f = read_safetensors(p);
  EXPECT_EQ(f.metadata.at("step"), "1");
  EXPECT_EQ(f.at("w").to_float_tensor().to_vector(), std::vector<float>(1000, 3.f));
}

TEST_F(AtomicFile, ErrorsNameThePathAndTheReason) {
  const std::string p = path("no/such/dir/f.txt");
  try {
    write_file_atomically(p, std::string("x"));
    ADD_FAILURE();
  } catch (const FileError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(p + ".tmp."), std::string::npos) << msg;
    EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  }
  // rename over a non-empty directory fails after the data was written: temp must go.
  fs::create_directories(path("d/inner"));
  try {
    write_file_atomically(path("d"), std::string("x"));
    ADD_FAILURE();
  } catch (const FileError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot rename"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(strays("d").empty()) << "temporary left behind";
}

// Out of space (simulated with a file-size limit, in a child so the limit dies with it): the
// write fails with the system's reason and the old file is untouched.
TEST_F(AtomicFile, DiskFullKeepsThePreviousFile) {
  const std::string p = path("big.bin");
  write_file_atomically(p, std::string(100, 'a'));
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);  // get EFBIG from write() instead of being killed
    rlimit lim{64 << 10, 64 << 10};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    int code = 1;
    try {
      write_file_atomically(p, std::string(1 << 20, 'b'));
    } catch (const FileError& e) {
      code = std::string(e.what()).find("File too large") != std::string::npos ? 0 : 2;
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: write succeeded, 2: wrong message, 3: wrong type";
  EXPECT_EQ(slurp(p), std::string(100, 'a'));
  EXPECT_TRUE(strays("big.bin").empty());
}

// A child writes checkpoints in a loop and is SIGKILLed at random moments; after each kill the
// file must load and be one whole checkpoint (every value equals the step in its metadata).
TEST_F(AtomicFile, SigkilledWriterLeavesALoadableCheckpoint) {
  const std::string p = path("ckpt.safetensors");
  auto checkpoint = [&](int64_t step) {
    const float v = static_cast<float>(step);
    StateDict d = {{"w", Tensor::full({1 << 18}, v)}, {"b", Tensor::full({1000}, v)}};
    save_state_dict(p, d, {{"step", std::to_string(step)}});
  };
  checkpoint(0);
  std::mt19937 gen(20240607);
  std::uniform_int_distribution<int> delay_ms(5, 150);
  int64_t last = 0;
  for (int round = 0; round < 8; ++round) {
    ASSERT_TRUE(kill_writer_midway(checkpoint, last + 1, delay_ms(gen)));

    SafeTensorsFile f = read_safetensors(p);  // throws if torn
    const int64_t step = std::stoll(f.metadata.at("step"));
    EXPECT_GE(step, last);
    for (const char* name : {"w", "b"}) {
      const std::vector<float> vals = f.at(name).to_float_tensor().to_vector();
      for (float x : vals) ASSERT_EQ(x, static_cast<float>(step)) << name << " round " << round;
    }
    last = step;
  }
  // The killed writers' temporaries are theirs to have left; the sweep removes them.
  remove_stale_temp_files(p);
  EXPECT_TRUE(strays("ckpt.safetensors").empty());
}

TEST_F(AtomicFile, StaleTemporariesOfLiveProcessesAreKept) {
  const std::string p = path("m.safetensors");
  write_file_atomically(p, std::string("x"));
  pid_t dead = ::fork();
  ASSERT_GE(dead, 0);
  if (dead == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
  const std::string mine = atomic_temp_path(p);
  const std::string parent = p + ".tmp." + std::to_string(::getppid());
  const std::string gone = p + ".tmp." + std::to_string(dead);
  const std::string other = p + ".tmp.notapid";
  for (const auto& s : {mine, parent, gone, other}) write_file_atomically(s, std::string("t"));
  EXPECT_EQ(remove_stale_temp_files(p), 1);
  EXPECT_FALSE(fs::exists(gone));
  EXPECT_TRUE(fs::exists(mine));
  EXPECT_TRUE(fs::exists(parent));
  EXPECT_TRUE(fs::exists(other));
}

}  // namespace
}  // namespace hsanet::io
