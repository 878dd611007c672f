// hsanet explain on a tiny HSANet(x) checkpoint trained on a few bundled faces: the files it
// writes and their names, the options' effect, the errors for bad choices, and that every option
// is in --help and docs/explain.md.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "apps/train/explain_tool.h"
#include "data/decode.h"
#include "test_train_util.h"

namespace hsanet::train {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

class ExplainTool : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir;
    testing::copy_faces(*tmp_ / "faces", 3);
    const testing::RunResult r = testing::run_cpu_train(
        {"--data", *tmp_ / "faces", "--out", *tmp_ / "run", "--model", "hsanet_x", "--epochs", "1", "--batch-size",
         "8", "--threads", "1", "--seed", "1", "--width-mult", "0.125", "--blocks", "1", "1", "1", "1", "--img-size",
         "64"});
    ASSERT_EQ(r.code, 0) << r.err << r.out;
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }
  static std::string path(const std::string& name) { return *tmp_ / name; }
  static ExplainOptions options(const std::string& out) {
    ExplainOptions o;
    o.checkpoint = path("run/best.safetensors");
    o.images = {path("faces/s1/1.pgm")};
    o.out = path(out);
    return o;
  }
  static std::string error_of(const ExplainOptions& o) {
    std::ostringstream out, err;
    try {
      explain_command(o, out, err);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  }
  static TempDir* tmp_;
};
TempDir* ExplainTool::tmp_ = nullptr;

TEST_F(ExplainTool, DefaultsWriteEachHeadsMapsAndBothGradCams) {
  std::ostringstream out, err;
  ASSERT_EQ(explain_command(options("default"), out, err), 0) << err.str();
  const std::string dir = path("default");
  // layer4.0.mhsa attends over the 4x4 map at 64 pixels (its block pools after); the default
  // layer4 holds only that MHSA here; centre cell (2, 2) and the mean, four heads.
  for (int h = 0; h < 4; ++h)
    for (const std::string q : {"2-2", "mean"}) {
      const std::string name = dir + "/s1_1_attention_layer4.0.mhsa_head" + std::to_string(h) + "_query" + q;
      ASSERT_TRUE(fs::exists(name + ".png")) << name;
      ASSERT_TRUE(fs::exists(name + ".csv")) << name;
      const data::Image png = data::decode_image_file(name + ".png");
      EXPECT_EQ(png.width, 64);
      EXPECT_EQ(png.height, 64);
      EXPECT_EQ(testing::slurp(name + ".csv").size() > 0, true);
    }
  EXPECT_TRUE(fs::exists(dir + "/s1_1_gradcam_layer4_true-s1.png"));
  EXPECT_TRUE(fs::exists(dir + "/s1_1_gradcam_layer4_true-s1.csv"));
  const std::string csv = testing::slurp(dir + "/maps.csv");
  EXPECT_EQ(csv.rfind("image,kind,layer,head,query,class,png,csv\n", 0), 0u) << csv;
  EXPECT_NE(csv.find(",gradcam,layer4,,,s1,s1_1_gradcam_layer4_true-s1.png,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",attention,layer4.0.mhsa,3,mean,,"), std::string::npos) << csv;
  EXPECT_NE(csv.find(",attention,layer4.0.mhsa,0,\"2,2\",,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("_gradcam_layer4_pred-"), std::string::npos) << csv;
  EXPECT_NE(out.str().find("(true: s1)"), std::string::npos) << out.str();
  // 8 attention maps and 2 Grad-CAMs.
  EXPECT_NE(out.str().find("wrote 10 maps"), std::string::npos) << out.str();
  // The Grad-CAM CSV is the 2x2 grid of the last stage, normalised to a maximum of 1.
  const std::string cam = testing::slurp(dir + "/s1_1_gradcam_layer4_true-s1.csv");
  EXPECT_EQ(std::count(cam.begin(), cam.end(), '\n'), 2) << cam;
}

TEST_F(ExplainTool, OptionsChooseHeadQueryClassAndLayer) {
  ExplainOptions o = options("chosen");
  o.head = "1";
  o.queries = {"0,3"};
  o.classes = {"s10", "0"};
  o.layer = "layer3";
  std::ostringstream out, err;
  ASSERT_EQ(explain_command(o, out, err), 0) << err.str();
  const std::string dir = path("chosen");
  EXPECT_TRUE(fs::exists(dir + "/s1_1_attention_layer4.0.mhsa_head1_query0-3.png"));
  EXPECT_FALSE(fs::exists(dir + "/s1_1_attention_layer4.0.mhsa_head0_query0-3.png"));
  EXPECT_FALSE(fs::exists(dir + "/s1_1_attention_layer4.0.mhsa_head1_querymean.png"));
  EXPECT_TRUE(fs::exists(dir + "/s1_1_gradcam_layer3_s10.png"));
  EXPECT_TRUE(fs::exists(dir + "/s1_1_gradcam_layer3_s1.png"));  // class index 0 is s1
  const std::string cam = testing::slurp(dir + "/s1_1_gradcam_layer3_s10.csv");
  EXPECT_EQ(std::count(cam.begin(), cam.end(), '\n'), 4) << cam;  // layer3: 4x4 at 64 pixels
  EXPECT_NE(out.str().find("wrote 3 maps"), std::string::npos) << out.str();
}

TEST_F(ExplainTool, BadChoicesAreNamed) {
  ExplainOptions o = options("bad");
  o.layer = "layer7";
  std::string e = error_of(o);
  EXPECT_NE(e.find("--layer layer7"), std::string::npos) << e;
  EXPECT_NE(e.find("valid: "), std::string::npos) << e;
  EXPECT_NE(e.find("layer4.0.mhsa"), std::string::npos) << e;
  o = options("bad");
  o.head = "4";
  e = error_of(o);
  EXPECT_NE(e.find("--head 4: the attention has heads 0..3"), std::string::npos) << e;
  o = options("bad");
  o.queries = {"4,0"};
  e = error_of(o);
  EXPECT_NE(e.find("--query 4,0: the attention map is 4x4"), std::string::npos) << e;
  o.queries = {"middle"};
  e = error_of(o);
  EXPECT_NE(e.find("--query 'middle': expected Y,X or mean"), std::string::npos) << e;
  o = options("bad");
  o.classes = {"nobody"};
  e = error_of(o);
  EXPECT_NE(e.find("--class nobody: not pred, true, one of the checkpoint's identities or an index 0..2"),
            std::string::npos)
      << e;
  o = options("bad");
  o.images = {path("missing.png")};
  std::ostringstream out, err;
  EXPECT_EQ(explain_command(o, out, err), 1);
  EXPECT_NE(err.str().find("missing.png"), std::string::npos) << err.str();
}

// The command line: repeated --query and --class take one value each, so an image may follow.
TEST_F(ExplainTool, CommandLineTakesRepeatedChoices) {
  const std::string tool = std::string(HSANET_BIN_DIR) + "/hsanet";
  const std::string cmd = tool + " --threads 1 explain " + path("run/best.safetensors") +
                          " --head 2 --query 0,1 --query mean --class pred " + path("faces/s1/1.pgm") + " --out " +
                          path("cli") + " > " + path("cli.txt") + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << testing::slurp(path("cli.txt"));
  EXPECT_TRUE(fs::exists(path("cli/s1_1_attention_layer4.0.mhsa_head2_query0-1.png")));
  EXPECT_TRUE(fs::exists(path("cli/s1_1_attention_layer4.0.mhsa_head2_querymean.png")));
  EXPECT_NE(testing::slurp(path("cli.txt")).find("wrote 3 maps"), std::string::npos) << testing::slurp(path("cli.txt"));
  const std::string bad = tool + " explain " + path("run/best.safetensors") + " " + path("faces/s1/1.pgm") +
                          " --out " + path("cli") + " --layer layer4.0.bn1 > " + path("bad.txt") + " 2>&1";
  EXPECT_NE(std::system(bad.c_str()), 0);
  EXPECT_NE(testing::slurp(path("bad.txt")).find("hsanet: error: --layer layer4.0.bn1:"), std::string::npos)
      << testing::slurp(path("bad.txt"));
}

// Every option is in --help and in docs/explain.md.
TEST(ExplainDocs, OptionsAreInHelpAndDocs) {
  const std::string tool = std::string(HSANET_BIN_DIR) + "/hsanet";
  const std::string docs = testing::slurp(testing::source_dir() + "/docs/explain.md");
  TempDir tmp;
  ASSERT_EQ(std::system((tool + " explain --help > " + (tmp / "help.txt")).c_str()), 0);
  const std::string help = testing::slurp(tmp / "help.txt");
  for (const std::string o : {"--out", "--layer", "--head", "--query", "--class"}) {
    EXPECT_NE(help.find(o), std::string::npos) << "explain --help lacks " << o;
    EXPECT_NE(docs.find("`" + o), std::string::npos) << "docs/explain.md lacks " << o;
  }
  EXPECT_NE(docs.find("hsanet explain"), std::string::npos);
}

}  // namespace
}  // namespace hsanet::train
