// The worked example of docs/attention.md (section 5) against the engine.
//
// The test reads the example's matrices out of the doc itself: the inputs (q, k, v, rel_h,
// rel_w, dO) are the ones the doc prints, and every printed result must equal what the engine
// computes to the printed number of decimals. Editing the doc or the code alone breaks it.
//  - the fast path (ops/attention.h) on every compiled SIMD target, and the scalar reference in
//    float and in double, give the doc's P, O, dV, dQ, dK, drel_h and drel_w;
//  - the doc's intermediate steps (logit, dP, dlogit, dT, dR), formed by the formulas of
//    section 4 from the engine's P, match the printed ones, and lead back to the engine's
//    dQ, dK and drel: section 4 is the algebra the code runs.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "highway_targets.h"
#include "ops/attention.h"
#include "ops/attention_ref.h"

#ifndef HSANET_DOCS_DIR
#error "HSANET_DOCS_DIR (the docs/ folder) must be defined by the build"
#endif

namespace hsanet {
namespace {

// One printed matrix: values row-major, and the decimals each was printed with.
struct Printed {
  int rows = 0, cols = 0;
  std::vector<double> value;
  std::vector<int> decimals;
};

// Every block "name [r x c]" followed by r lines of c numbers. A name printed twice is an error
// (the test could silently read the wrong one).
std::map<std::string, Printed> read_worked_example(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::map<std::string, Printed> blocks;
  const std::regex header(R"(^(\w+) \[(\d+) x (\d+)\]\s*$)");
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (!std::regex_match(line, m, header)) continue;
    const std::string name = m[1];
    if (blocks.count(name)) throw std::runtime_error(name + " is printed twice in " + path);
    Printed p;
    p.rows = std::stoi(m[2]);
    p.cols = std::stoi(m[3]);
    for (int r = 0; r < p.rows; ++r) {
      if (!std::getline(in, line)) throw std::runtime_error(name + ": the doc ends early");
      std::istringstream row(line);
      std::string word;
      int c = 0;
      for (; row >> word; ++c) {
        const size_t dot = word.find('.');
        p.decimals.push_back(dot == std::string::npos ? 0 : int(word.size() - dot - 1));
        p.value.push_back(std::stod(word));
      }
      if (c != p.cols) throw std::runtime_error(name + ": a row without " + std::to_string(p.cols) + " numbers");
    }
    blocks[name] = p;
  }
  return blocks;
}

// The example's geometry: one image, one head, a 2x3 map, d = 2, global attention.
constexpr int kH = 2, kW = 3, kN = kH * kW, kD = 2, kRh = 2 * kH - 1, kRw = 2 * kW - 1;

ops::AttentionDims example_dims() {
  ops::AttentionDims dims;
  dims.batch = 1, dims.height = kH, dims.width = kW, dims.heads = 1, dims.head_dim = kD;
  return dims;
}

class WorkedExample : public ::testing::Test {
 protected:
  void SetUp() override {
    doc_ = read_worked_example(std::string(HSANET_DOCS_DIR) + "/attention.md");
    const std::map<std::string, std::pair<int, int>> expected_shapes = {
        {"q", {kN, kD}},       {"k", {kN, kD}},         {"v", {kN, kD}},     {"rel_h", {kRh, kD}},
        {"rel_w", {kRw, kD}},  {"dO", {kN, kD}},        {"logit", {kN, kN}}, {"P", {kN, kN}},
        {"O", {kN, kD}},       {"dV", {kN, kD}},        {"dP", {kN, kN}},    {"dlogit", {kN, kN}},
        {"dT", {kN, kN}},      {"dR", {kN, kRh + kRw}}, {"dQ", {kN, kD}},    {"dK", {kN, kD}},
        {"drel_h", {kRh, kD}}, {"drel_w", {kRw, kD}}};
    for (const auto& [name, shape] : expected_shapes) {
      ASSERT_TRUE(doc_.count(name)) << "the doc prints no block " << name;
      ASSERT_EQ(doc_[name].rows, shape.first) << name;
      ASSERT_EQ(doc_[name].cols, shape.second) << name;
    }
  }

  std::vector<float> input(const std::string& name) const {
    const std::vector<double>& v = doc_.at(name).value;
    return std::vector<float>(v.begin(), v.end());
  }

  // |computed - printed| within half a unit of the last printed decimal, plus float rounding.
  template <typename T>
  void expect_printed(const std::string& name, const std::vector<T>& computed,
                      const std::string& who) const {
    const Printed& p = doc_.at(name);
    ASSERT_EQ(computed.size(), p.value.size()) << name;
    for (size_t i = 0; i < computed.size(); ++i) {
      const double tol = 0.5 * std::pow(10.0, -p.decimals[i]) + 2e-6;
      EXPECT_NEAR(double(computed[i]), p.value[i], tol)
          << who << ": " << name << "[" << i / p.cols << ", " << i % p.cols << "]";
    }
  }

  // Runs one implementation (forward then backward) and checks every output it gives.
  template <typename T, class Forward, class Backward>
  void check_engine(const std::string& who, Forward forward, Backward backward) const {
    auto in = [&](const std::string& name) {
      const std::vector<double>& v = doc_.at(name).value;
      return std::vector<T>(v.begin(), v.end());
    };
    const std::vector<T> q = in("q"), k = in("k"), v = in("v"), rh = in("rel_h"),
                         rw = in("rel_w"), dout = in("dO");
    std::vector<T> out(kN * kD), probs(kN * kN), dq(kN * kD), dk(kN * kD), dv(kN * kD),
        drh(kRh * kD), drw(kRw * kD);
    const ops::AttentionDims dims = example_dims();
    forward(dims, q.data(), k.data(), v.data(), rh.data(), rw.data(), out.data(), probs.data());
    backward(dims, q.data(), k.data(), v.data(), rh.data(), rw.data(), probs.data(), dout.data(),
             dq.data(), dk.data(), dv.data(), drh.data(), drw.data());
    expect_printed("P", probs, who);
    expect_printed("O", out, who);
    expect_printed("dV", dv, who);
    expect_printed("dQ", dq, who);
    expect_printed("dK", dk, who);
    expect_printed("drel_h", drh, who);
    expect_printed("drel_w", drw, who);
  }

  std::map<std::string, Printed> doc_;
};

TEST_F(WorkedExample, FastPathPrintsTheDocsNumbersOnEveryTarget) {
  testing::for_each_target([&] {
    check_engine<float>("fast path", ops::attention_forward, ops::attention_backward);
  });
}

TEST_F(WorkedExample, ScalarReferencePrintsTheDocsNumbers) {
  check_engine<float>("reference<float>", ops::ref::attention_forward<float>,
                      ops::ref::attention_backward<float>);
  check_engine<double>("reference<double>", ops::ref::attention_forward<double>,
                       ops::ref::attention_backward<double>);
}

// Section 4 step by step, in double, starting from the engine's P: each intermediate the doc
// prints, and the engine's gradients as the end of the chain.
TEST_F(WorkedExample, SectionFourStepsLeadToTheEnginesGradients) {
  const std::vector<float> q = input("q"), k = input("k"), v = input("v"), rh = input("rel_h"),
                           rw = input("rel_w"), dout = input("dO");
  std::vector<float> out(kN * kD), P(kN * kN), dq(kN * kD), dk(kN * kD), dv(kN * kD),
      drh(kRh * kD), drw(kRw * kD);
  const ops::AttentionDims dims = example_dims();
  ops::attention_forward(dims, q.data(), k.data(), v.data(), rh.data(), rw.data(), out.data(),
                         P.data());
  ops::attention_backward(dims, q.data(), k.data(), v.data(), rh.data(), rw.data(), P.data(),
                          dout.data(), dq.data(), dk.data(), dv.data(), drh.data(), drw.data());
  const double s = 1.0 / std::sqrt(double(kD));
  // E = [rel_h; rel_w], [kRh + kRw, d]
  std::vector<double> E(rh.begin(), rh.end());
  E.insert(E.end(), rw.begin(), rw.end());
  auto row_h = [](int n, int m) { return m / kW - n / kW + kH - 1; };        // x' - x + H - 1
  auto row_w = [](int n, int m) { return kRh + m % kW - n % kW + kW - 1; };  // Rh + y' - y + W - 1
  auto dotd = [](const float* a, const double* b) {
    double acc = 0;
    for (int c = 0; c < kD; ++c) acc += double(a[c]) * b[c];
    return acc;
  };

  // Forward: T = S + gather(R) unscaled, logit = s T.
  std::vector<double> logit(kN * kN);
  for (int n = 0; n < kN; ++n)
    for (int m = 0; m < kN; ++m) {
      double km[kD];
      for (int c = 0; c < kD; ++c) km[c] = k[m * kD + c] + E[row_h(n, m) * kD + c] + E[row_w(n, m) * kD + c];
      logit[n * kN + m] = s * dotd(&q[n * kD], km);
    }
  expect_printed("logit", logit, "section 4");

  // dP = dO v^T;  dlogit = P (dP - rowsum(P dP));  dT = s dlogit.
  std::vector<double> dP(kN * kN), dlogit(kN * kN), dT(kN * kN);
  for (int n = 0; n < kN; ++n) {
    double rowdot = 0;
    for (int m = 0; m < kN; ++m) {
      double vm[kD];
      for (int c = 0; c < kD; ++c) vm[c] = v[m * kD + c];
      dP[n * kN + m] = dotd(&dout[n * kD], vm);
      rowdot += P[n * kN + m] * dP[n * kN + m];
    }
    for (int m = 0; m < kN; ++m) {
      dlogit[n * kN + m] = P[n * kN + m] * (dP[n * kN + m] - rowdot);
      dT[n * kN + m] = s * dlogit[n * kN + m];
    }
  }
  expect_printed("dP", dP, "section 4");
  expect_printed("dlogit", dlogit, "section 4");
  expect_printed("dT", dT, "section 4");

  // dR: the adjoint of the gather.
  const int nrel = kRh + kRw;
  std::vector<double> dR(kN * nrel, 0.0);
  for (int n = 0; n < kN; ++n)
    for (int m = 0; m < kN; ++m) {
      dR[n * nrel + row_h(n, m)] += dT[n * kN + m];
      dR[n * nrel + row_w(n, m)] += dT[n * kN + m];
    }
  expect_printed("dR", dR, "section 4");

  // dQ = dT k + dR E;  dK = dT^T q;  [drel_h; drel_w] = dR^T q: the engine's own gradients.
  for (int i = 0; i < kN; ++i)
    for (int c = 0; c < kD; ++c) {
      double gq = 0, gk = 0;
      for (int m = 0; m < kN; ++m) gq += dT[i * kN + m] * k[m * kD + c];
      for (int t = 0; t < nrel; ++t) gq += dR[i * nrel + t] * E[t * kD + c];
      for (int n = 0; n < kN; ++n) gk += dT[n * kN + i] * q[n * kD + c];
      EXPECT_NEAR(gq, dq[i * kD + c], 1e-5) << "dQ[" << i << ", " << c << "]";
      EXPECT_NEAR(gk, dk[i * kD + c], 1e-5) << "dK[" << i << ", " << c << "]";
    }
  for (int t = 0; t < nrel; ++t)
    for (int c = 0; c < kD; ++c) {
      double g = 0;
      for (int n = 0; n < kN; ++n) g += dR[n * nrel + t] * q[n * kD + c];
      const float engine = t < kRh ? drh[t * kD + c] : drw[(t - kRh) * kD + c];
      EXPECT_NEAR(g, engine, 1e-5) << "drel row " << t << ", " << c;
    }
}

}  // namespace
}  // namespace hsanet
