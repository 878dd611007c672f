#include "apps/train/html_text.h"

#include <sstream>

namespace hsanet::train {

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string html_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::string t = "<table>\n<tr>";
  for (const std::string& h : header) t += "<th>" + html_escape(h) + "</th>";
  t += "</tr>\n";
  for (const auto& row : rows) {
    t += "<tr>";
    for (const std::string& c : row) t += "<td>" + html_escape(c) + "</td>";
    t += "</tr>\n";
  }
  return t + "</table>\n";
}

namespace {

// "| a | b |" -> {"a", "b"}
std::vector<std::string> markdown_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::string inner = line.substr(1);
  if (!inner.empty() && inner.back() == '|') inner.pop_back();
  std::istringstream ss(inner);
  std::string cell;
  while (std::getline(ss, cell, '|')) {
    const size_t a = cell.find_first_not_of(' '), b = cell.find_last_not_of(' ');
    cells.push_back(a == std::string::npos ? "" : cell.substr(a, b - a + 1));
  }
  return cells;
}

}  // namespace

std::string markdown_tables_to_html(const std::string& markdown) {
  std::string html;
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  bool in_table = false;
  auto flush = [&] {
    if (in_table) html += html_table(header, rows);
    in_table = false;
    header.clear();
    rows.clear();
  };
  std::istringstream in(markdown);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] == '|') {
      if (!in_table) {
        in_table = true;
        header = markdown_cells(line);
      } else if (line.rfind("|---", 0) != 0) {
        rows.push_back(markdown_cells(line));
      }
      continue;
    }
    flush();
    if (!line.empty()) html += "<p class=\"caption\">" + html_escape(line) + "</p>\n";
  }
  flush();
  return html;
}

}  // namespace hsanet::train
