// Text for HTML pages: escaping, and the small building blocks the run report and the comparison
// page share (a table from rows of cells, a table from a markdown table).
#pragma once

#include <string>
#include <vector>

namespace hsanet::train {

// & < > " ' become entities, so any text (class names, file names, config values) is safe both
// between tags and inside quoted attribute values.
std::string html_escape(const std::string& text);

// <table> with a header row and body rows; every cell is escaped.
std::string html_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

// A markdown document as written by hsanet compare (a caption line, a blank line, then a table
// of "| a | b |" rows with a "|---|" separator) as HTML: captions become <p>, tables <table>.
std::string markdown_tables_to_html(const std::string& markdown);

}  // namespace hsanet::train
