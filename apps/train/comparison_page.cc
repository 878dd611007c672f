#include "apps/train/comparison_page.h"

#include "apps/train/html_text.h"
#include "apps/train/report_page.h"

namespace hsanet::train {

std::string comparison_html(const std::vector<std::string>& run_labels, const std::string& tables_markdown,
                            const std::vector<std::string>& figures) {
  std::string runs;
  for (const std::string& l : run_labels) runs += (runs.empty() ? "" : ", ") + l;
  std::string svgs = "<div class=\"figures two\">\n";  // two to a row, scaled by their viewBox
  for (const std::string& f : figures) svgs += f;
  svgs += "</div>\n";
  return html_page("Run comparison", runs,
                   {{"tables", "Tables 1 and 2", markdown_tables_to_html(tables_markdown)},
                    {"figures", "Figures 5-8: loss and accuracy per epoch", svgs}});
}

}  // namespace hsanet::train
