// The verification summary (apps/train/roc.h) against small examples worked by hand.
#include <gtest/gtest.h>

#include "apps/train/roc.h"

namespace hsanet::train {
namespace {

// Same-identity scores 0.9 0.6 0.4, different 0.7 0.5 0.3 0.2. Accepting scores >= t:
//   t     FAR   FRR
//   >0.9  0     1
//   0.9   0     2/3
//   0.7   1/4   2/3
//   0.6   1/4   1/3   <- |FAR - FRR| smallest (1/12): EER = (1/4 + 1/3) / 2 = 7/24
//   0.5   1/2   1/3
//   0.4   1/2   0
// AUC: 0.9 beats all 4, 0.6 beats 3, 0.4 beats 2: 9 of 12 pairs = 0.75.
TEST(Roc, HandWorkedExample) {
  const std::vector<double> scores{0.9, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2};
  const std::vector<bool> same{true, false, true, false, true, false, false};
  const RocSummary s = roc_summary(scores, same, {0.25, 0.1});
  EXPECT_EQ(s.same_pairs, 3);
  EXPECT_EQ(s.different_pairs, 4);
  EXPECT_DOUBLE_EQ(s.auc, 0.75);
  EXPECT_DOUBLE_EQ(s.eer, 7.0 / 24.0);
  EXPECT_DOUBLE_EQ(s.eer_threshold, 0.6);
  ASSERT_EQ(s.tar_at_far.size(), 2u);
  EXPECT_TRUE(s.tar_at_far[0].available);  // 4 different pairs allow FAR 1/4
  EXPECT_DOUBLE_EQ(s.tar_at_far[0].tar, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(s.tar_at_far[0].threshold, 0.6);
  EXPECT_FALSE(s.tar_at_far[1].available);  // FAR 1/10 needs 10 different pairs
  const std::string text = roc_text(s);
  EXPECT_NE(text.find("pairs: 3 same identity, 4 different"), std::string::npos) << text;
  EXPECT_NE(text.find("EER  0.2917 at threshold 0.6000"), std::string::npos) << text;
  EXPECT_NE(text.find("TAR  n/a at FAR 0.1 (needs at least 10 different pairs)"), std::string::npos) << text;
  const nlohmann::json j = roc_json(s);
  EXPECT_DOUBLE_EQ(j["auc"].get<double>(), 0.75);
  EXPECT_TRUE(j["tar_at_far"][1]["tar"].is_null());
}

TEST(Roc, TiesCountHalfAndSeparationIsPerfect) {
  // One same and one different pair at the same score: half the orderings are right.
  RocSummary s = roc_summary({0.5, 0.5}, {true, false});
  EXPECT_DOUBLE_EQ(s.auc, 0.5);
  EXPECT_DOUBLE_EQ(s.eer, 0.5);  // accept none: FAR 0, FRR 1; accept both: FAR 1, FRR 0
  // Perfectly separated: AUC 1, EER 0 at the lowest same-identity score.
  s = roc_summary({0.1, 0.9, 0.2, 0.8}, {false, true, false, true});
  EXPECT_DOUBLE_EQ(s.auc, 1.0);
  EXPECT_DOUBLE_EQ(s.eer, 0.0);
  EXPECT_DOUBLE_EQ(s.eer_threshold, 0.8);
  // Reversed: AUC 0.
  s = roc_summary({0.9, 0.1}, {false, true});
  EXPECT_DOUBLE_EQ(s.auc, 0.0);
}

TEST(Roc, RefusesPairsOfOneKind) {
  EXPECT_THROW(roc_summary({0.1, 0.2}, {true, true}), std::invalid_argument);
  EXPECT_THROW(roc_summary({0.1}, {true, false}), std::invalid_argument);
  try {
    roc_summary({0.3}, {false});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("0 same, 1 different"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace hsanet::train
