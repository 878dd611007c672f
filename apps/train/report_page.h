// The frame shared by report.html and comparison.html: one self-contained HTML page (inline CSS,
// no scripts, no external references), sections with ids that scripts/check_report.sh looks for.
#pragma once

#include <string>
#include <vector>

namespace hsanet::train {

struct PageSection {
  std::string id;     // the element id (and the table of contents' anchor)
  std::string title;  // plain text (escaped here)
  std::string body;   // HTML, already escaped by whoever built it
};

std::string html_page(const std::string& title, const std::string& subtitle, const std::vector<PageSection>& sections);

// A paragraph of plain text (escaped), class "note": what a section lacks and how to get it.
std::string html_note(const std::string& text);

}  // namespace hsanet::train
