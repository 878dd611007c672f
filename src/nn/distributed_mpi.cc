// The MPI world: MPI_COMM_WORLD through Open MPI (or any MPI-3 library). Built only with
// HSANET_HAVE_MPI. Collectives run on the calling thread only (MPI_THREAD_FUNNELED): OpenMP
// threads compute, the training thread communicates.
#include <mpi.h>

#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "nn/distributed.h"

namespace hsanet::nn {

namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw std::runtime_error(std::string(what) + " failed: " + std::string(text, len));
}

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      std::atexit(finalize_at_exit);
    }
    // Errors come back as codes (and become exceptions), not as a silent abort inside MPI.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiCommunicator() override { wait_all(); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }

  void all_reduce_sum(float* data, int64_t n) override { reduce(data, n, MPI_FLOAT); }
  void all_reduce_sum(double* data, int64_t n) override { reduce(data, n, MPI_DOUBLE); }

  void start_all_reduce_sum(float* data, int64_t n) override {
    if (n > INT32_MAX) throw std::invalid_argument("all_reduce_sum: a bucket of over 2^31 floats");
    MPI_Request req;
    check(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req),
          "MPI_Iallreduce");
    pending_.push_back(req);
  }
  void progress() override {
    if (pending_.empty()) return;
    int done = 0;
    check(MPI_Testall(static_cast<int>(pending_.size()), pending_.data(), &done, MPI_STATUSES_IGNORE),
          "MPI_Testall");
    if (done) pending_.clear();
  }
  void wait_all() override {
    if (pending_.empty()) return;
    const int rc = MPI_Waitall(static_cast<int>(pending_.size()), pending_.data(), MPI_STATUSES_IGNORE);
    pending_.clear();
    check(rc, "MPI_Waitall");
  }

  void broadcast(float* data, int64_t n, int root) override { bcast(data, n, MPI_FLOAT, root); }
  void broadcast(int64_t* data, int64_t n, int root) override { bcast(data, n, MPI_INT64_T, root); }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

  [[noreturn]] void abort(const std::string& message, int code) override {
    std::cerr << message << "\n" << std::flush;
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; this is for the compiler
  }

 private:
  void reduce(void* data, int64_t n, MPI_Datatype type) {
    if (n > INT32_MAX) throw std::invalid_argument("all_reduce_sum: over 2^31 values");
    check(MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(n), type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  }
  void bcast(void* data, int64_t n, MPI_Datatype type, int root) {
    if (n > INT32_MAX) throw std::invalid_argument("broadcast: over 2^31 values");
    check(MPI_Bcast(data, static_cast<int>(n), type, root, MPI_COMM_WORLD), "MPI_Bcast");
  }

  int rank_ = 0, size_ = 1;
  std::vector<MPI_Request> pending_;
};

}  // namespace

bool mpi_available() { return true; }
std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

}  // namespace hsanet::nn
