// hsanet predict on folders (CSV, embeddings as .npy and .safetensors) and hsanet verify (two faces,
// and the ROC over a run's validation pairs), on a tiny checkpoint trained on five bundled faces.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

#include "apps/train/embedder.h"
#include "apps/train/embeddings_file.h"
#include "apps/train/image_list.h"
#include "apps/train/npy_file.h"
#include "apps/train/tools.h"
#include "autograd/node.h"
#include "base/random.h"
#include "io/safetensors.h"
#include "models/resnet.h"
#include "python_finder.h"
#include "test_train_util.h"

namespace hsanet::train {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

// One tiny run shared by the tests: 5 identities x 10 faces, 10 of them for validation.
class PredictVerify : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir;
    testing::copy_faces(*tmp_ / "faces", 5);
    const testing::RunResult r = testing::run_cpu_train(testing::concat(
        {"--data", *tmp_ / "faces", "--out", *tmp_ / "run", "--epochs", "2", "--batch-size", "8", "--lr", "0.02",
         "--threads", "1", "--seed", "1"},
        testing::tiny_model_args()));
    ASSERT_EQ(r.code, 0) << r.err << r.out;
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }
  static std::string path(const std::string& name) { return *tmp_ / name; }
  static std::string checkpoint() { return path("run/best.safetensors"); }
  static TempDir* tmp_;
};
TempDir* PredictVerify::tmp_ = nullptr;

TEST(Features, AreWhatTheClassifierReads) {
  models::ModelConfig cfg;
  cfg.name = "hsanet_3x3";
  cfg.num_classes = 4;
  cfg.height = cfg.width = 32;
  cfg.width_mult = 0.0625;
  cfg.blocks = {1, 1, 1, 1};
  auto model = models::build_model(cfg, /*seed=*/3);
  model->eval();
  NoGradGuard no_grad;
  Tensor x = Tensor::empty({2, 32, 32, 3});
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = static_cast<float>((i * 37 % 101) / 101.0 - 0.5);
  const Tensor f = model->features(x);
  ASSERT_EQ(f.shape(), (std::vector<int64_t>{2, model->fc->weight.size(1)}));
  EXPECT_EQ(f.size(1), 128);  // 2048 x 0.0625
  const Tensor a = (*model->fc)(f), b = model->forward(x);
  ASSERT_EQ(a.numel(), b.numel());
  for (int64_t i = 0; i < a.numel(); ++i) EXPECT_FLOAT_EQ(a.data()[i], b.data()[i]);
  for (int64_t i = 0; i < f.numel(); ++i) EXPECT_GE(f.data()[i], 0.0f);  // pooled after a ReLU
}

TEST(ImageList, WalksFoldersSortedAndKeepsFilesAsGiven) {
  TempDir tmp;
  for (const char* d : {"b/inner", "a", ".hidden"}) fs::create_directories(tmp / d);
  for (const char* f : {"b/2.png", "b/inner/1.JPG", "a/9.pgm", "a/README.txt", ".hidden/x.png", "a/.y.png"})
    std::ofstream(tmp / f) << "x";
  // A file named on its own is kept whatever its extension; the folder gives its images only
  // (no README, nothing hidden), recursively, sorted by path.
  const std::vector<std::string> got = list_images({tmp / "a/README.txt", tmp.path().string()});
  const std::string root = tmp.path().string();
  EXPECT_EQ(got, (std::vector<std::string>{tmp / "a/README.txt", root + "/a/9.pgm", root + "/b/2.png",
                                           root + "/b/inner/1.JPG"}));
  EXPECT_EQ(parent_folder_name(root + "/b/inner/1.JPG"), "inner");
}

TEST(ImageList, ErrorsNameTheInput) {
  TempDir tmp;
  fs::create_directories(tmp / "empty");
  std::ofstream(tmp / "empty/notes.txt") << "x";
  // A missing input is kept: predict reports it by name when decoding fails and goes on.
  EXPECT_EQ(list_images({tmp / "missing"}), std::vector<std::string>{tmp / "missing"});
  try {
    list_images({tmp / "empty"});
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("empty: the folder holds no image file"), std::string::npos) << e.what();
  }
}

TEST(Npy, HeaderIsNumpyFormat1) {
  const std::string h = npy_header(3, 2048);
  ASSERT_EQ(h.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t len = static_cast<unsigned char>(h[8]) | static_cast<size_t>(static_cast<unsigned char>(h[9])) << 8;
  EXPECT_EQ(h.size(), 10 + len);
  EXPECT_EQ(h.size() % 64, 0u);  // the data starts aligned
  EXPECT_EQ(h.back(), '\n');
  EXPECT_NE(h.find("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2048), }"), std::string::npos) << h;

  TempDir tmp;
  const std::vector<float> v{1.5f, -2.0f, 0.25f, 3.0f, 4.0f, -0.5f};
  write_npy_f32(tmp / "m.npy", v, 2, 3);
  const std::string bytes = testing::slurp(tmp / "m.npy");
  const std::string h2 = npy_header(2, 3);
  ASSERT_EQ(bytes.size(), h2.size() + 6 * sizeof(float));
  EXPECT_EQ(bytes.substr(0, h2.size()), h2);
  EXPECT_EQ(std::memcmp(bytes.data() + h2.size(), v.data(), v.size() * sizeof(float)), 0);
  EXPECT_THROW(write_npy_f32(tmp / "bad.npy", v, 4, 3), std::runtime_error);
}

TEST(Npy, NumpyReadsItBack) {
  const std::string py = hsanet::testing::python_with("numpy");
  if (py.empty()) GTEST_SKIP() << "numpy is not installed (python3 -c 'import numpy' fails)";
  TempDir tmp;
  write_npy_f32(tmp / "m.npy", {1.5f, -2.0f, 0.25f, 3.0f, 4.0f, -0.5f}, 2, 3);
  const std::string cmd = py + " -c \"import numpy as np, sys; a = np.load(sys.argv[1]); "
                          "ok = a.dtype == np.float32 and a.shape == (2, 3) and a.flags.c_contiguous and "
                          "a.tolist() == [[1.5, -2.0, 0.25], [3.0, 4.0, -0.5]]; sys.exit(0 if ok else 1)\" " +
                          (tmp / "m.npy");
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

TEST_F(PredictVerify, FolderToCsvAndNpyEmbeddings) {
  PredictOptions pr;
  pr.checkpoint = checkpoint();
  pr.images = {path("faces")};
  pr.top_k = 3;
  pr.out = path("preds.csv");
  pr.embeddings = path("emb.npy");
  std::ostringstream out, err;
  ASSERT_EQ(predict_command(pr, out, err), 0) << err.str();
  EXPECT_NE(out.str().find("wrote 50 predictions (top 3) to"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("on the 50 images whose folder names an identity"), std::string::npos) << out.str();

  const std::vector<std::string> csv = lines_of(testing::slurp(path("preds.csv")));
  ASSERT_EQ(csv.size(), 51u);
  EXPECT_EQ(csv[0], "path,true,top1,p1,top2,p2,top3,p3");
  // Sorted by path: s1/1.pgm, s1/10.pgm, s1/2.pgm, ...; the true label is the folder's name.
  EXPECT_EQ(csv[1].rfind(path("faces/s1/1.pgm") + ",s1,", 0), 0u) << csv[1];
  EXPECT_EQ(csv[2].rfind(path("faces/s1/10.pgm") + ",s1,", 0), 0u) << csv[2];
  EXPECT_EQ(csv[50].rfind(path("faces/s13/9.pgm") + ",s13,", 0), 0u) << csv[50];

  Embedder e(checkpoint());
  const int d = e.dim();
  EXPECT_EQ(d, 256);  // 2048 x --width-mult 0.125
  const std::string bytes = testing::slurp(path("emb.npy"));
  const std::string header = npy_header(50, d);
  ASSERT_EQ(bytes.size(), header.size() + 50u * d * sizeof(float));
  EXPECT_EQ(bytes.substr(0, header.size()), header);
  // Row 1 is the second file in order, s1/10.pgm.
  const Tensor f = e.features(path("faces/s1/10.pgm"));
  EXPECT_EQ(std::memcmp(bytes.data() + header.size() + d * sizeof(float), f.data(), d * sizeof(float)), 0);

  const std::vector<std::string> index = lines_of(testing::slurp(path("emb.index.csv")));
  ASSERT_EQ(index.size(), 51u);
  EXPECT_EQ(index[0], "row,path,label");
  EXPECT_EQ(index[2], "1," + path("faces/s1/10.pgm") + ",s1");
}

TEST_F(PredictVerify, SafetensorsEmbeddingsAndUnlabelledFiles) {
  TempDir other;
  fs::create_directories(other / "stranger");
  fs::copy_file(path("faces/s12/3.pgm"), other / "stranger/a.pgm");
  PredictOptions pr;
  pr.checkpoint = checkpoint();
  pr.images = {path("faces/s11/2.pgm"), other.path().string()};
  pr.embeddings = other / "emb.safetensors";
  pr.json = true;
  std::ostringstream out, err;
  ASSERT_EQ(predict_command(pr, out, err), 0) << err.str();
  const std::vector<std::string> lines = lines_of(out.str());
  ASSERT_GE(lines.size(), 3u);
  const nlohmann::json j0 = nlohmann::json::parse(lines[0]), j1 = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(j0["true"], "s11");
  EXPECT_FALSE(j1.contains("true"));  // "stranger" is not one of the checkpoint's identities
  EXPECT_EQ(j1["top"].size(), 5u);
  const io::SafeTensorsFile st = io::read_safetensors(other / "emb.safetensors");
  EXPECT_EQ(st.at("embeddings").shape, (std::vector<int64_t>{2, 256}));
  EXPECT_EQ(st.metadata.at("dim"), "256");
  const std::vector<std::string> index = lines_of(testing::slurp(other / "emb.index.csv"));
  ASSERT_EQ(index.size(), 3u);
  EXPECT_EQ(index[1], "0," + path("faces/s11/2.pgm") + ",s11");
  EXPECT_EQ(index[2], "1," + (other / "stranger/a.pgm") + ",");
}

TEST_F(PredictVerify, PredictRefusesBadInputsClearly) {
  PredictOptions pr;
  pr.checkpoint = checkpoint();
  pr.images = {path("faces")};
  pr.embeddings = path("emb.txt");
  std::ostringstream out, err;
  try {
    predict_command(pr, out, err);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("emb.txt: the name must end in .npy or .safetensors"), std::string::npos);
  }
  pr.embeddings.clear();
  TempDir empty;
  try {
    pr.images = {empty.path().string()};
    predict_command(pr, out, err);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(": the folder holds no image file"), std::string::npos) << e.what();
  }
  // A broken or missing image is reported by name; the others are still predicted.
  std::ofstream(path("broken.pgm")) << "P5 not really";
  pr.images = {path("broken.pgm"), path("faces/nobody.pgm"), path("faces/s1/1.pgm")};
  out.str("");
  EXPECT_EQ(predict_command(pr, out, err), 1);
  EXPECT_NE(err.str().find("broken.pgm"), std::string::npos) << err.str();
  EXPECT_NE(err.str().find("nobody.pgm"), std::string::npos) << err.str();
  EXPECT_NE(out.str().find("s1/1.pgm  (true: s1)"), std::string::npos) << out.str();
}

TEST_F(PredictVerify, VerifyTwoFaces) {
  VerifyOptions vf;
  vf.checkpoint = checkpoint();
  vf.images = {path("faces/s1/1.pgm"), path("faces/s1/1.pgm")};
  std::ostringstream out, err;
  // No --threshold: the EER threshold over the run's 45 validation pairs (split.csv beside it).
  ASSERT_EQ(verify_command(vf, out, err), 0) << err.str();
  EXPECT_NE(out.str().find("cosine similarity 1.0000: same identity (threshold "), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("the EER threshold over the 45 pairs of the 10 validation images of " +
                           path("run/split.csv")),
            std::string::npos)
      << out.str();
  // ... the very threshold that --pairs-from-split reports.
  VerifyOptions pairs;
  pairs.checkpoint = checkpoint();
  pairs.pairs_from_split = path("run");
  pairs.json = true;
  std::ostringstream pout;
  ASSERT_EQ(verify_command(pairs, pout, err), 0);
  vf.json = true;
  out.str("");
  ASSERT_EQ(verify_command(vf, out, err), 0);
  EXPECT_EQ(nlohmann::json::parse(out.str())["threshold"], nlohmann::json::parse(pout.str())["eer_threshold"]);

  vf.images = {path("faces/s1/1.pgm"), path("faces/s13/4.pgm")};
  vf.json = true;
  vf.threshold = 1.0;  // nothing but an identical face reaches it
  out.str("");
  ASSERT_EQ(verify_command(vf, out, err), 0);
  const nlohmann::json j = nlohmann::json::parse(out.str());
  EXPECT_LT(j["cosine"].get<double>(), 1.0);
  EXPECT_GE(j["cosine"].get<double>(), 0.0);
  EXPECT_EQ(j["same"], false);
  EXPECT_EQ(j["threshold"], 1.0);
  EXPECT_EQ(j["threshold_from"], "--threshold");

  // A checkpoint with no run beside it: the fixed default, said so.
  TempDir alone;
  fs::copy_file(checkpoint(), alone / "model.safetensors");
  vf.checkpoint = alone / "model.safetensors";
  vf.threshold = std::numeric_limits<double>::quiet_NaN();
  out.str("");
  ASSERT_EQ(verify_command(vf, out, err), 0);
  const nlohmann::json k = nlohmann::json::parse(out.str());
  EXPECT_EQ(k["threshold"], 0.5);
  EXPECT_EQ(k["threshold_from"], "the default: no run beside the checkpoint to calibrate on");
  EXPECT_EQ(k["same"], k["cosine"].get<double>() >= 0.5);

  vf.images = {path("faces/s1/1.pgm")};
  EXPECT_THROW(verify_command(vf, out, err), std::invalid_argument);
  vf.images = {path("faces/s1/1.pgm"), path("faces/s1/2.pgm")};
  vf.threshold = 2;
  EXPECT_THROW(verify_command(vf, out, err), std::invalid_argument);
}

TEST_F(PredictVerify, VerifyPairsFromTheRunsSplit) {
  VerifyOptions vf;
  vf.checkpoint = checkpoint();
  vf.pairs_from_split = path("run");
  vf.out = path("verif");
  std::ostringstream out, err;
  ASSERT_EQ(verify_command(vf, out, err), 0) << err.str();
  // 10 validation images, 2 of each of 5 identities: 45 pairs, 5 of them the same identity.
  const std::string text = out.str();
  EXPECT_NE(text.find("all pairs of the 10 validation images"), std::string::npos) << text;
  EXPECT_NE(text.find("pairs: 5 same identity, 40 different"), std::string::npos) << text;
  EXPECT_NE(text.find("TAR  n/a at FAR 0.001 (needs at least 1000 different pairs)"), std::string::npos) << text;
  const nlohmann::json j = nlohmann::json::parse(testing::slurp(path("verif/verification.json")));
  EXPECT_EQ(j["same_pairs"], 5);
  EXPECT_EQ(j["different_pairs"], 40);
  EXPECT_EQ(j["dim"], 256);
  EXPECT_GE(j["auc"].get<double>(), 0.0);
  EXPECT_LE(j["auc"].get<double>(), 1.0);
  EXPECT_GE(j["eer"].get<double>(), 0.0);
  EXPECT_LE(j["eer"].get<double>(), 1.0);
  EXPECT_EQ(testing::slurp(path("verif/verification.txt")).rfind(checkpoint(), 0), 0u);

  vf.pairs_from_split = path("faces");  // not a run directory
  try {
    verify_command(vf, out, err);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no split.csv there"), std::string::npos) << e.what();
  }
}

// Every new option is in --help and in docs/training.md.
TEST(PredictVerifyDocs, OptionsAreInHelpAndDocs) {
  const std::string tool = std::string(HSANET_BIN_DIR) + "/hsanet";
  const std::string docs = testing::slurp(testing::source_dir() + "/docs/training.md");
  TempDir tmp;
  for (const auto& [sub, opts] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"predict", {"--out", "--embeddings", "--top-k", "--json"}},
           {"verify", {"--threshold", "--pairs-from-split", "--data", "--out", "--json"}}}) {
    ASSERT_EQ(std::system((tool + " " + sub + " --help > " + (tmp / "help.txt")).c_str()), 0);
    const std::string help = testing::slurp(tmp / "help.txt");
    for (const std::string& o : opts) {
      EXPECT_NE(help.find(o), std::string::npos) << sub << " --help lacks " << o;
      EXPECT_NE(docs.find("hsanet " + sub), std::string::npos) << sub;
      EXPECT_NE(docs.find("`" + o), std::string::npos) << "docs/training.md lacks " << o;
    }
  }
  EXPECT_NE(docs.find("load_hsanet_in_torch.py"), std::string::npos);
}

}  // namespace
}  // namespace hsanet::train
