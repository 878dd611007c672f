// Train/validation split, and the run files that pin a run to its data.
//
// stratified_split draws the same split as the PyTorch reference (train_torch.py) for the same
// seed: classes in order, each class's files in path order, shuffled by one Python-compatible
// Mersenne Twister seeded once (python_random.h); the first max(1, round_half_up(f * n)) files of
// each class go to validation, the rest to training. With an explicit train/ + val/ layout the
// folders decide instead. Indices are into ImageFolder::samples().
//
// split.csv ("path,label,subset", one row per sample) and classes.txt (one class name per line)
// are written with every run, so evaluation and resume read exactly the same images and labels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/image_folder.h"
#include "data/round.h"

namespace hsanet::data {

struct Split {
  std::vector<int> train;  // sample indices, ascending
  std::vector<int> val;    // sample indices, ascending
};

// Throws DataError if a class has too few images to give both subsets at least one.
// A data set with an explicit train/ + val/ layout returns that split (val_fraction, seed unused).
Split stratified_split(const ImageFolder& dataset, double val_fraction = 0.2, uint64_t seed = 1);

// The text of split.csv: a "path,label,subset" header, then one row per sample: its path relative
// to the data root, its label (class index), and "train" or "val". Fields with commas or quotes
// are quoted as in RFC 4180. (This layer writes no run files: the program writes the text
// crash-safely.)
std::string format_split_csv(const ImageFolder& dataset, const Split& split);

// One CSV field as written here: `s` itself, or RFC 4180-quoted (doubled quotes) when it holds
// a comma, a quote or a line break. The run's other CSV files (predictions, confusion) use it too.
std::string csv_field(const std::string& s);

// Reads a split in format_split_csv's form against `dataset`. Throws DataError(file, reason) when
// a row names a path the data set lacks, a label that disagrees with the data set's (the class
// list changed), an unknown subset, or a path twice.
Split read_split_csv(const std::string& file, const ImageFolder& dataset);

// The text of classes.txt: one name per line. Throws DataError(file, ...) for a name with a line break.
std::string format_class_list(const std::vector<std::string>& classes, const std::string& file);
std::vector<std::string> read_class_list(const std::string& file);

}  // namespace hsanet::data
