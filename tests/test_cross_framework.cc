// `hsanet run`, the cross-framework tool, end to end: the golden files' weights and input (written
// by float64 PyTorch, scripts/make_golden.py) go in as safetensors files, and the tool's output
// file must hold PyTorch's logits, loss, input gradient and parameter gradients (NCHW, PyTorch
// names and shapes), and after --train PyTorch's running statistics, value by value.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "gradcheck.h"
#include "io/safetensors.h"

namespace hsanet {
namespace {

namespace fs = std::filesystem;

std::string source_dir() {
  const char* s = std::getenv("HSANET_SOURCE_DIR");
  return s ? s : ".";
}

std::vector<double> as_double(const io::TensorRecord& r) {
  if (r.dtype != "F64") return testing::to_double(r.to_float_tensor().to_vector());
  std::vector<double> v(static_cast<size_t>(r.numel()));
  std::memcpy(v.data(), r.bytes.data(), v.size() * sizeof(double));
  return v;
}

TEST(CrossFramework, HsanetRunReproducesPyTorch) {
  const std::string tool = std::string(HSANET_BIN_DIR) + "/hsanet";
  ASSERT_TRUE(fs::exists(tool)) << tool;
  const io::SafeTensorsFile g = io::read_safetensors(source_dir() + "/tests/golden/tiny_hsanet_3x3.safetensors");
  const fs::path dir = fs::temp_directory_path() / ("hsanet_xf_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<std::pair<std::string, io::TensorRecord>> weights, input;
  for (const auto& [name, rec] : g.tensors)
    if (!name.starts_with("golden.")) weights.emplace_back(name, rec);
  input.emplace_back("input", g.at("golden.input"));
  input.emplace_back("labels", g.at("golden.labels"));
  io::write_safetensors((dir / "w.safetensors").string(), weights);
  io::write_safetensors((dir / "x.safetensors").string(), input);

  const auto opts = nlohmann::json::parse(g.metadata.at("options"));
  std::string blocks, stages;
  for (int b : opts["blocks"]) blocks += " " + std::to_string(b);
  for (int s : opts["attention_stages"]) stages += " " + std::to_string(s);
  const std::string cmd = tool + " run --model hsanet_3x3 --classes 5 --width-mult 0.0625 --blocks" +
                          blocks + " --attention-stages" + stages + " --weights " +
                          (dir / "w.safetensors").string() + " --input " +
                          (dir / "x.safetensors").string() + " --out " +
                          (dir / "o.safetensors").string() + " --train > " +
                          (dir / "log.txt").string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const io::SafeTensorsFile o = io::read_safetensors((dir / "o.safetensors").string());

  testing::expect_close(o.at("logits").to_float_tensor().to_vector(), as_double(g.at("golden.logits")),
                        1e-4, 1e-3, "logits");
  EXPECT_NEAR(o.at("loss").to_float_tensor().item(), as_double(g.at("golden.losses"))[0], 1e-4);
  EXPECT_EQ(o.at("input.grad").shape, g.at("golden.input").shape);  // NCHW, as PyTorch's
  testing::expect_close(o.at("input.grad").to_float_tensor().to_vector(),
                        as_double(g.at("golden.input_grad")), 1e-5, 5e-3, "input.grad");
  int grads = 0;
  for (const auto& [name, rec] : g.tensors) {
    if (!name.starts_with("golden.grad.")) continue;
    const std::string pname = name.substr(std::strlen("golden.grad."));
    ASSERT_TRUE(o.contains(pname + ".grad")) << pname;
    EXPECT_EQ(o.at(pname + ".grad").shape, rec.shape) << pname;
    const std::vector<double> ref = as_double(rec);
    double scale = 0;
    for (double v : ref) scale = std::max(scale, std::fabs(v));
    testing::expect_close(o.at(pname + ".grad").to_float_tensor().to_vector(), ref,
                          1e-4 * scale + 1e-6, 5e-3, pname + ".grad");
    ++grads;
  }
  EXPECT_GT(grads, 50);
  // --train used batch statistics: every running mean and variance is PyTorch's after one forward
  // pass in training mode (momentum 0.1, unbiased batch variance), as exact as the activations
  // they average (1e-4 of the tensor's scale, as the golden test).
  int stats = 0;
  for (const auto& [name, rec] : g.tensors) {
    if (!name.starts_with("golden.step0.") || name.find(".running_") == std::string::npos) continue;
    const std::string buffer = name.substr(std::strlen("golden.step0."));
    ASSERT_TRUE(o.contains(buffer)) << buffer;
    const std::vector<double> ref = as_double(rec);
    double scale = 0;
    for (double v : ref) scale = std::max(scale, std::fabs(v));
    testing::expect_close(o.at(buffer).to_float_tensor().to_vector(), ref, 1e-4 * scale + 1e-7, 0, buffer);
    ++stats;
  }
  EXPECT_GT(stats, 40) << "the golden file lacks the statistics after the first step";
  fs::remove_all(dir);
}

// The tool's exit status and what it printed (stdout and stderr together).
struct ToolResult {
  int status = -1;
  std::string output;
};

ToolResult run_tool(const std::string& args, const fs::path& dir) {
  const std::string log = (dir / "tool_output.txt").string();
  const std::string cmd = std::string(HSANET_BIN_DIR) + "/hsanet " + args + " > " + log + " 2>&1";
  ToolResult r;
  r.status = std::system(cmd.c_str());
  std::ifstream in(log);
  r.output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return r;
}

// Each bad input fails with a message that names the file and the problem.
TEST(CrossFramework, HsanetRunRefusesBadInputsClearly) {
  const fs::path dir = fs::temp_directory_path() / ("hsanet_xf_bad_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string missing = (dir / "missing.safetensors").string();
  ToolResult r = run_tool("run --model resnet50 --weights " + missing + " --input " + missing + " --out " +
                              (dir / "o.safetensors").string(), dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(missing), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;

  // Labels are int64 in the file: one that does not fit the head is refused, not truncated to
  // int32 (2^32 + 1 would become class 1).
  const io::SafeTensorsFile g = io::read_safetensors(source_dir() + "/tests/golden/tiny_hsanet_3x3.safetensors");
  std::vector<std::pair<std::string, io::TensorRecord>> weights, input;
  for (const auto& [name, rec] : g.tensors)
    if (!name.starts_with("golden.")) weights.emplace_back(name, rec);
  const io::TensorRecord& x = g.at("golden.input");
  std::vector<int64_t> labels(static_cast<size_t>(x.shape[0]), 0);
  labels.back() = (int64_t{1} << 32) + 1;
  input.emplace_back("input", x);
  input.emplace_back("labels", io::TensorRecord::from_int64(labels));
  const std::string w = (dir / "w.safetensors").string(), in = (dir / "x.safetensors").string();
  io::write_safetensors(w, weights);
  io::write_safetensors(in, input);
  const auto opts = nlohmann::json::parse(g.metadata.at("options"));
  std::string model = "--model hsanet_3x3 --classes 5 --width-mult 0.0625 --blocks";
  for (int b : opts["blocks"]) model += " " + std::to_string(b);
  model += " --attention-stages";
  for (int s : opts["attention_stages"]) model += " " + std::to_string(s);
  r = run_tool("run " + model + " --weights " + w + " --input " + in + " --out " + (dir / "o.safetensors").string(),
               dir);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find(in + ": labels[" + std::to_string(labels.size() - 1) + "] = 4294967297 is not a class"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir / "o.safetensors"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace hsanet
