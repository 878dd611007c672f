// Reading the run directory's CSV files (confusion.csv, predictions.csv) back: RFC 4180 fields,
// quoted ones with commas, doubled quotes or line breaks included, as data::csv_field writes them.
#pragma once

#include <string>
#include <vector>

namespace hsanet::train {

using CsvRow = std::vector<std::string>;

// Every row of the file, the header first. Throws std::runtime_error naming the file when it
// cannot be read or a quoted field is not closed.
std::vector<CsvRow> read_csv_file(const std::string& path);

// Rows from text; `name` is used in error messages.
std::vector<CsvRow> parse_csv(const std::string& text, const std::string& name);

}  // namespace hsanet::train
