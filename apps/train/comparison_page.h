// comparison.html (hsanet compare --html): the paper's Tables 1 and 2 and Figures 5-8 for several
// runs on one self-contained page (sections "tables" and "figures").
#pragma once

#include <string>
#include <vector>

namespace hsanet::train {

// `tables_markdown`: comparison.md's text; `figures`: the four SVG documents, in figure order.
std::string comparison_html(const std::vector<std::string>& run_labels, const std::string& tables_markdown,
                            const std::vector<std::string>& figures);

}  // namespace hsanet::train
