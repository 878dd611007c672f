// report.html and its pieces: base64 and HTML escaping against known answers, top-5 against a
// worked example, metrics.csv in its old and new form, the confusion SVG, the page's sections
// built from a run directory written here by hand (no training), the page after the run directory
// and the data are moved away, and hsanet compare --html.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "apps/train/base64.h"
#include "apps/train/confusion_svg.h"
#include "apps/train/csv_table.h"
#include "apps/train/evaluation.h"
#include "apps/train/history.h"
#include "apps/train/html_text.h"
#include "apps/train/run_report.h"
#include "apps/train/thumbnail.h"
#include "apps/train/tools.h"
#include "test_train_util.h"

namespace hsanet::train {
namespace {

using testing::TempDir;
namespace fs = std::filesystem;

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

TEST(Base64, MatchesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  const uint8_t high[] = {0xff, 0xfe, 0x00, 0x3e, 0x3f};  // the last two alphabet letters, zeros
  EXPECT_EQ(base64_encode(high, sizeof high), "//4APj8=");
}

TEST(HtmlEscape, EscapesMarkupAndQuotes) {
  EXPECT_EQ(html_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(html_escape("plain s1"), "plain s1");
  const std::string t = html_table({"<h>"}, {{"x&y"}});
  EXPECT_NE(t.find("<th>&lt;h&gt;</th>"), std::string::npos) << t;
  EXPECT_NE(t.find("<td>x&amp;y</td>"), std::string::npos) << t;
}

TEST(TopK, MatchesAWorkedExample) {
  // Logits of 7 classes; ranked: 3 (0.9), then 0 and 5 tied at 0.5 (0 first, as argmax breaks
  // ties), 1 (0.4), 6 (0.3), 2 (0.1), 4 (-1).
  const float row[] = {0.5f, 0.4f, 0.1f, 0.9f, -1.0f, 0.5f, 0.3f};
  EXPECT_TRUE(in_top_k(row, 7, 3, 1));
  EXPECT_FALSE(in_top_k(row, 7, 0, 1));
  EXPECT_TRUE(in_top_k(row, 7, 0, 2));
  EXPECT_FALSE(in_top_k(row, 7, 5, 2));  // tied with 0 but after it
  EXPECT_TRUE(in_top_k(row, 7, 5, 3));
  EXPECT_TRUE(in_top_k(row, 7, 6, 5));   // fifth
  EXPECT_FALSE(in_top_k(row, 7, 2, 5));  // sixth
  EXPECT_FALSE(in_top_k(row, 7, 4, 5));
  // Top 1 is argmax for every label.
  for (int label = 0; label < 7; ++label) EXPECT_EQ(in_top_k(row, 7, label, 1), argmax(row, 7) == label);
  // Fewer classes than 5: always in the top 5.
  const float two[] = {1.0f, 2.0f};
  EXPECT_TRUE(in_top_k(two, 2, 0, 5));
  // Softmax of {0, ln 3}: 1/4 and 3/4.
  const float p[] = {0.0f, std::log(3.0f)};
  EXPECT_NEAR(softmax_probability(p, 2, 1), 0.75f, 1e-6f);
  EXPECT_NEAR(softmax_probability(p, 2, 0), 0.25f, 1e-6f);
}

TEST(MetricsCsv, NewFormatRoundTripsTop5) {
  TempDir tmp;
  History h = {{1, 2.5, 0.1, 2.4, 0.2, 0.01, 3.5, 0.6}, {2, 1.5, 0.4, 1.6, 0.5, 0.005, 3.25, 0.875}};
  write_metrics_csv(tmp / "metrics.csv", h);
  EXPECT_EQ(testing::slurp(tmp / "metrics.csv").rfind("epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,val_top5\n", 0), 0u);
  const History back = read_metrics_csv(tmp / "metrics.csv");
  ASSERT_EQ(back.size(), 2u);
  EXPECT_DOUBLE_EQ(back[0].val_top5, 0.6);
  EXPECT_DOUBLE_EQ(back[1].val_top5, 0.875);
  EXPECT_DOUBLE_EQ(back[1].val_acc, 0.5);
  // The checkpoint's JSON form too, with an unknown top-5 kept unknown.
  h[0].val_top5 = std::nan("");
  const History j = history_from_json(history_to_json(h));
  EXPECT_TRUE(std::isnan(j[0].val_top5));
  EXPECT_DOUBLE_EQ(j[1].val_top5, 0.875);
}

TEST(MetricsCsv, OldSevenColumnFilesStillRead) {
  TempDir tmp;
  write(tmp / "old.csv", "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n1,2.0,0.1,2.1,0.2,0.01,4.00\n");
  const History h = read_metrics_csv(tmp / "old.csv");
  ASSERT_EQ(h.size(), 1u);
  EXPECT_DOUBLE_EQ(h[0].val_acc, 0.2);
  EXPECT_TRUE(std::isnan(h[0].val_top5));
  // Rewritten (a resumed old run), the unknown epoch says nan and reads back as unknown.
  write_metrics_csv(tmp / "new.csv", h);
  EXPECT_NE(testing::slurp(tmp / "new.csv").find(",nan\n"), std::string::npos);
  EXPECT_TRUE(std::isnan(read_metrics_csv(tmp / "new.csv")[0].val_top5));
  // Old checkpoints hold 7 numbers per epoch.
  const History j = history_from_json(nlohmann::json::parse("[[1,2.0,0.1,2.1,0.2,0.01,4.0]]"));
  ASSERT_EQ(j.size(), 1u);
  EXPECT_TRUE(std::isnan(j[0].val_top5));
  // A row whose length disagrees with the header is named.
  write(tmp / "bad.csv", "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,val_top5\n1,2,0.1,2,0.2,0.01,4\n");
  try {
    read_metrics_csv(tmp / "bad.csv");
    FAIL() << "accepted a short row";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv:2: expected 8 columns"), std::string::npos) << e.what();
  }
}

TEST(ConfusionSvg, ShadesCellsAndEscapesNames) {
  const std::string svg = svg_confusion_matrix({"a<1>", "b"}, {{3, 1}, {0, 4}});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("a&lt;1&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("a<1>"), std::string::npos);
  EXPECT_NE(svg.find("<title>a&lt;1&gt; as b: 1</title>"), std::string::npos);
  EXPECT_NE(svg.find(">4</text>"), std::string::npos);
}

TEST(CsvTable, ReadsQuotedFields) {
  const auto rows = parse_csv("file,true\n\"a,b.png\",\"say \"\"hi\"\"\"\r\nc.png,d\n", "x.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1][0], "a,b.png");
  EXPECT_EQ(rows[1][1], "say \"hi\"");
  EXPECT_EQ(rows[2][1], "d");
  EXPECT_THROW(parse_csv("a,\"b\n", "x.csv"), std::runtime_error);
}

// A binary PPM of w x h pixels in one colour.
std::string ppm(int w, int h, int r, int g, int b) {
  std::string s = "P6\n" + std::to_string(w) + " " + std::to_string(h) + "\n255\n";
  for (int i = 0; i < w * h; ++i) s += {static_cast<char>(r), static_cast<char>(g), static_cast<char>(b)};
  return s;
}

// A finished run's files, written by hand: two identities, one named with markup.
void make_run(const std::string& run, const std::string& data) {
  write(data + "/s1/1.ppm", ppm(40, 48, 200, 30, 30));
  write(data + "/s1/2.ppm", ppm(40, 48, 180, 40, 40));
  write(data + "/<b>&x/1.ppm", ppm(40, 48, 30, 30, 200));
  nlohmann::json config = {{"data", data}, {"model", "hsanet_3x3"}, {"epochs", 2}, {"lr", 0.05}};
  write(run + "/config.json", config.dump(1));
  write_metrics_csv(run + "/metrics.csv", {{1, 1.2, 0.4, 1.1, 0.5, 0.05, 2, 1.0}, {2, 0.8, 0.7, 0.9, 0.667, 0.025, 2, 1.0}});
  nlohmann::json report = {
      {"accuracy", 0.6667}, {"top5_accuracy", 1.0}, {"loss", 0.9}, {"val_acc_avg", 0.58}, {"val_acc_max", 0.667},
      {"val_acc_max_epoch", 2}, {"model", "hsanet_3x3"}, {"classes", {"<b>&x", "s1"}},
      {"per_class", {{"<b>&x", {{"precision", 0.5}, {"recall", 1.0}, {"f1", 0.667}, {"support", 1}}},
                     {"s1", {{"precision", 1.0}, {"recall", 0.5}, {"f1", 0.667}, {"support", 2}}}}},
      {"macro_avg", {{"precision", 0.75}, {"recall", 0.75}, {"f1", 0.667}, {"support", 3}}},
      {"weighted_avg", {{"precision", 0.833}, {"recall", 0.667}, {"f1", 0.667}, {"support", 3}}}};
  write(run + "/report.json", report.dump(1));
  write(run + "/confusion.csv", "true\\predicted,<b>&x,s1\n<b>&x,1,0\ns1,1,1\n");
  write(run + "/predictions.csv",
        "file,true,pred,confidence\n<b>&x/1.ppm,<b>&x,<b>&x,0.9\ns1/1.ppm,s1,s1,0.8\ns1/2.ppm,s1,<b>&x,0.55\n");
}

std::string section(const std::string& html, const std::string& id) {
  const size_t a = html.find("<section id=\"" + id + "\">");
  if (a == std::string::npos) return "";
  return html.substr(a, html.find("</section>", a) - a);
}

TEST(RunReport, HasEverySectionWithEscapedText) {
  TempDir tmp;
  make_run(tmp / "run", tmp / "faces");
  std::vector<std::string> notes;
  const std::string path = write_run_report(tmp / "run", {}, &notes);
  EXPECT_EQ(path, tmp / "run" + "/report.html");
  const std::string html = testing::slurp(path);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  for (const char* id : {"config", "curves", "accuracy", "classification", "confusion", "confused-pairs", "gallery", "explain"})
    EXPECT_NE(section(html, id), "") << "no section " << id;
  // The class named "<b>&x" never appears as markup.
  EXPECT_EQ(html.find("<b>&x"), std::string::npos);
  EXPECT_NE(section(html, "classification").find("&lt;b&gt;&amp;x"), std::string::npos);
  EXPECT_NE(section(html, "config").find("hsanet_3x3"), std::string::npos);
  EXPECT_NE(section(html, "accuracy").find("top-5 1.0000"), std::string::npos);
  EXPECT_NE(section(html, "accuracy").find("top-1 0.6667"), std::string::npos);
  EXPECT_NE(section(html, "curves").find("Learning rate"), std::string::npos);
  EXPECT_NE(section(html, "curves").find("validation top-5"), std::string::npos);
  EXPECT_NE(section(html, "confusion").find("<svg"), std::string::npos);
  // The one confusion: s1 predicted as <b>&x.
  EXPECT_NE(section(html, "confused-pairs").find("<td>s1</td><td>&lt;b&gt;&amp;x</td><td>1</td>"), std::string::npos)
      << section(html, "confused-pairs");
  // Gallery: three thumbnails, the wrong one (s1/2.ppm) first, with its confidence.
  const std::string g = section(html, "gallery");
  size_t thumbs = 0;
  for (size_t at = g.find("src=\"data:image/png;base64,"); at != std::string::npos; at = g.find("src=\"data:image/png;base64,", at + 1)) ++thumbs;
  EXPECT_EQ(thumbs, 3u) << g.substr(0, 2000);
  EXPECT_LT(g.find("s1/2.ppm"), g.find("s1/1.ppm"));
  EXPECT_NE(g.find("tile wrong"), std::string::npos);
  EXPECT_NE(g.find("(55.0%)"), std::string::npos);
  // No explain/ folder: the section says how to make one.
  EXPECT_NE(section(html, "explain").find("hsanet explain"), std::string::npos);
  EXPECT_TRUE(notes.empty()) << notes[0];
}

TEST(RunReport, ListsTheExplainFolder) {
  TempDir tmp;
  make_run(tmp / "run", tmp / "faces");
  data::Image im(8, 8);
  write(tmp / "run/explain/gradcam_s1_1.png", encode_png(im));
  write(tmp / "run/explain/notes.txt", "not an image");
  const std::string html = run_report_html(tmp / "run", {}, nullptr);
  const std::string e = section(html, "explain");
  EXPECT_NE(e.find("gradcam_s1_1.png"), std::string::npos) << e;
  EXPECT_NE(e.find("src=\"data:image/png;base64,iVBORw0KGgo"), std::string::npos);  // the PNG signature
  EXPECT_EQ(e.find("notes.txt"), std::string::npos);
}

TEST(RunReport, SurvivesMovingTheRunAndTheData) {
  TempDir tmp;
  make_run(tmp / "run", tmp / "faces");
  write_run_report(tmp / "run", {}, nullptr);
  fs::rename(tmp / "run", tmp / "moved");
  fs::remove_all(tmp / "faces");
  const std::string html = testing::slurp(tmp / "moved/report.html");
  // Every src and href is embedded data or an anchor within the page: nothing refers to a file.
  const std::regex ref("(src|href)\\s*=\\s*\"([^\"]*)\"");
  int refs = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), ref); it != std::sregex_iterator(); ++it, ++refs) {
    const std::string target = (*it)[2];
    EXPECT_TRUE(target.rfind("data:image/png;base64,", 0) == 0 || target.rfind("#", 0) == 0) << target;
  }
  EXPECT_GT(refs, 8);
  EXPECT_EQ(html.find("file:"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  // Rebuilt where it now lies, without the data folder: the gallery says why it has no pictures.
  std::vector<std::string> notes;
  const std::string again = run_report_html(tmp / "moved", {}, &notes);
  EXPECT_NE(section(again, "gallery").find("is not here"), std::string::npos);
  ASSERT_FALSE(notes.empty());
}

TEST(RunReport, NamesTheBadFile) {
  TempDir tmp;
  make_run(tmp / "run", tmp / "faces");
  write(tmp / "run/confusion.csv", "true\\predicted,a,b\na,1,x\nb,0,1\n");
  try {
    run_report_html(tmp / "run", {}, nullptr);
    FAIL() << "accepted a bad confusion.csv";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("confusion.csv: row 2: 'x' is not a count"), std::string::npos) << e.what();
  }
  EXPECT_THROW(run_report_html(tmp / "faces", {}, nullptr), std::runtime_error);  // not a run directory
}

TEST(Thumbnail, ShrinksToFitAndNeverEnlarges) {
  data::Image big(200, 100), small(20, 30);
  const data::Image a = shrink_to_fit(big, 96);
  EXPECT_EQ(a.width, 96);
  EXPECT_EQ(a.height, 48);
  const data::Image b = shrink_to_fit(small, 96);
  EXPECT_EQ(b.width, 20);
  EXPECT_EQ(b.height, 30);
}

TEST(CompareHtml, PutsTablesAndFiguresOnOnePage) {
  TempDir tmp;
  make_run(tmp / "runA", tmp / "faces");
  make_run(tmp / "runB", tmp / "faces");
  CompareOptions opt;
  opt.runs = {tmp / "runA", tmp / "runB"};
  opt.out = tmp / "cmp";
  opt.model_tables = false;
  opt.html = true;
  std::ostringstream out, err;
  ASSERT_EQ(compare_command(opt, out, err), 0);
  const std::string html = testing::slurp(tmp / "cmp/comparison.html");
  EXPECT_NE(section(html, "tables").find("<td>runA</td><td>hsanet_3x3</td><td>2</td>"), std::string::npos)
      << section(html, "tables");
  EXPECT_NE(section(html, "tables").find("Table 1"), std::string::npos);
  const std::string f = section(html, "figures");
  for (const char* title : {"Figure 5", "Figure 6", "Figure 7", "Figure 8"}) EXPECT_NE(f.find(title), std::string::npos) << title;
  opt.html = false;
  opt.out = tmp / "cmp2";
  ASSERT_EQ(compare_command(opt, out, err), 0);
  EXPECT_FALSE(fs::exists(tmp / "cmp2/comparison.html"));
}

// Every new option is in --help and in docs/training.md.
TEST(RunReportDocs, OptionsAreInHelpAndDocs) {
  const std::string tool = std::string(HSANET_BIN_DIR) + "/hsanet";
  const std::string docs = testing::slurp(testing::source_dir() + "/docs/training.md");
  TempDir tmp;
  for (const auto& [sub, opts] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"report", {"--data"}}, {"compare", {"--html"}}}) {
    ASSERT_EQ(std::system((tool + " " + sub + " --help > " + (tmp / "help.txt")).c_str()), 0);
    const std::string help = testing::slurp(tmp / "help.txt");
    EXPECT_NE(docs.find("hsanet " + sub), std::string::npos) << sub;
    for (const std::string& o : opts) {
      EXPECT_NE(help.find(o), std::string::npos) << sub << " --help lacks " << o;
      EXPECT_NE(docs.find("`" + o), std::string::npos) << "docs/training.md lacks " << o;
    }
  }
  for (const char* s : {"report.html", "val_top5", "confusion.svg", "check_report.sh", "--with-chromium"})
    EXPECT_NE(docs.find(s), std::string::npos) << "docs/training.md lacks " << s;
}

}  // namespace
}  // namespace hsanet::train
