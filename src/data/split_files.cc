// split.csv and classes.txt: their text and reading them back, with RFC 4180 quoting for odd file
// names. Writing the text to disk is the caller's (crash-safely: io/atomic_file.h).
#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>

#include "data/data_error.h"
#include "data/split.h"

namespace hsanet::data {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

namespace {

// Splits one CSV record; `in` supplies further lines when a quoted field spans a newline.
bool read_csv_record(std::istream& in, std::vector<std::string>& fields, int& line_no) {
  std::string line;
  if (!std::getline(in, line)) return false;
  ++line_no;
  fields.assign(1, "");
  bool quoted = false;
  for (size_t i = 0;; ++i) {
    if (i == line.size()) {
      if (!quoted) break;
      std::string more;  // the newline was inside quotes
      if (!std::getline(in, more)) throw std::runtime_error("unterminated quoted field");
      ++line_no;
      fields.back() += '\n';
      line = more;
      i = static_cast<size_t>(-1);
      continue;
    }
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  return true;
}

}  // namespace

std::string format_split_csv(const ImageFolder& dataset, const Split& split) {
  std::string out = "path,label,subset\n";
  for (const auto& [indices, subset] : {std::pair{&split.train, "train"}, std::pair{&split.val, "val"}})
    for (int i : *indices) {
      const Sample& s = dataset.samples().at(i);
      out += csv_field(s.path) + ',' + std::to_string(s.label) + ',' + subset + '\n';
    }
  return out;
}

Split read_split_csv(const std::string& file, const ImageFolder& dataset) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DataError(file, "cannot open the split file");
  std::map<std::string, int> index_of;
  for (int i = 0; i < dataset.size(); ++i) index_of[dataset.samples()[i].path] = i;

  Split split;
  std::vector<char> seen(dataset.size(), 0);
  std::vector<std::string> f;
  int line_no = 0;
  try {
    if (!read_csv_record(in, f, line_no) || f != std::vector<std::string>{"path", "label", "subset"})
      throw DataError(file, "not a split file: the first line must be \"path,label,subset\"");
    while (read_csv_record(in, f, line_no)) {
      const std::string where = "line " + std::to_string(line_no) + ": ";
      if (f.size() == 1 && f[0].empty()) continue;  // blank line
      if (f.size() != 3) throw DataError(file, where + "expected 3 fields, found " + std::to_string(f.size()));
      auto it = index_of.find(f[0]);
      if (it == index_of.end()) throw DataError(file, where + f[0] + " is not in the data set");
      const int i = it->second;
      const std::string expected = std::to_string(dataset.samples()[i].label);
      if (f[1] != expected)
        throw DataError(file, where + f[0] + " has label " + f[1] + " here but " + expected +
                                  " in the data set (the class list changed)");
      if (seen[i]) throw DataError(file, where + f[0] + " appears twice");
      seen[i] = 1;
      if (f[2] == "train") split.train.push_back(i);
      else if (f[2] == "val") split.val.push_back(i);
      else throw DataError(file, where + "unknown subset \"" + f[2] + "\" (train or val)");
    }
  } catch (const std::runtime_error& e) {
    if (dynamic_cast<const DataError*>(&e)) throw;
    throw DataError(file, "line " + std::to_string(line_no) + ": " + e.what());
  }
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.val.begin(), split.val.end());
  return split;
}

std::string format_class_list(const std::vector<std::string>& classes, const std::string& file) {
  std::string out;
  for (const std::string& c : classes) {
    if (c.find_first_of("\r\n") != std::string::npos) throw DataError(file, "class name with a line break: " + c);
    out += c + '\n';
  }
  return out;
}

std::vector<std::string> read_class_list(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw DataError(file, "cannot open the class list");
  std::vector<std::string> classes;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) classes.push_back(line);
  }
  return classes;
}

}  // namespace hsanet::data
