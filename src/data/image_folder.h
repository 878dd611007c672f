// ImageFolder: a face data set laid out as one folder per identity.
//
//   ROOT/<class>/<image>             one folder per class; the split is drawn later (split.h)
//   ROOT/train/<class>/<image>       or an explicit split, given by the folders
//   ROOT/val/<class>/<image>
//
// Classes are the sub-folders of ROOT (or of ROOT/train) sorted by name (byte order, as Python's
// sorted()), so class i is the same identity on every machine. Files directly under ROOT (a README)
// are ignored, as are hidden entries (names starting with '.') and files whose extension is not an
// image. Images: .jpg .jpeg .png .bmp .pgm .ppm .pnm (case-insensitive). Files with the extension
// of an image format we do not read (.gif, .tif, .webp...) are reported rather than skipped.
//
// Opening is two steps: the constructor lists the folders (cheap; throws DataError only when
// ROOT itself is unusable), validate() decodes every file and returns every offender. open()
// does both and, by default, refuses a data set with any offender, listing them all; with
// skip_bad it drops them (and classes left empty) with one warning line each.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "data/decode.h"
#include "data/image.h"

namespace hsanet::data {

enum class Subset { None, Train, Val };
const char* subset_name(Subset subset);  // "", "train", "val"

struct Sample {
  std::string path;  // relative to the root, '/'-separated: "s1/1.pgm" or "train/s1/1.pgm"
  int label = 0;     // index into classes()
  Subset subset = Subset::None;  // set only by the train/ + val/ layout
};

// Whether a file name has the extension of an image ImageFolder reads (.jpg .jpeg .png .bmp .pgm
// .ppm .pnm, case-insensitive): the same rule the listing applies, for tools that walk folders.
bool is_image_file_name(const std::string& name);

// A file (or folder) that cannot be used, and why.
struct Offender {
  std::string file;  // full path
  std::string reason;
};
// "3 unusable files:\n  a/b.jpg: empty file (0 bytes)\n  ..." for error messages and logs.
std::string format_offenders(const std::vector<Offender>& offenders);

enum class FolderLayout {
  Auto,      // train/ + val/ when ROOT holds exactly those two folders (and nothing else that is a
             // folder), else flat
  Flat,      // ROOT/<class>/<image>
  TrainVal,  // ROOT/train/<class>/<image> and ROOT/val/<class>/<image>
};

struct ImageFolderOptions {
  FolderLayout layout = FolderLayout::Auto;
  DecodeLimits limits;       // applied by validate() and load()
  bool skip_bad = false;     // open(): drop offenders with a warning instead of failing
  // open(): how the caller's user asks for skip_bad (a program's flag), named in the error.
  std::string skip_hint = "the skip_bad option";
  int validate_threads = 1;  // open(): threads that decode during validation
};

class ImageFolder {
 public:
  // Lists ROOT. Throws DataError when ROOT does not exist, is not a folder, or has no class folders.
  explicit ImageFolder(std::string root, ImageFolderOptions options = {});

  // List + validate; throws DataError with the full list of offenders unless options.skip_bad,
  // in which case each offender is written to `warn` and dropped (then classes left with no
  // images are dropped too and the labels renumbered).
  static ImageFolder open(const std::string& root, ImageFolderOptions options, std::ostream& warn);

  const std::string& root() const { return root_; }
  const std::vector<std::string>& classes() const { return classes_; }
  const std::vector<Sample>& samples() const { return samples_; }
  int num_classes() const { return static_cast<int>(classes_.size()); }
  int size() const { return static_cast<int>(samples_.size()); }
  bool has_explicit_split() const { return explicit_split_; }
  const ImageFolderOptions& options() const { return options_; }

  std::string full_path(int index) const;  // root + "/" + samples()[index].path
  Image load(int index) const;             // decode_image_file(full_path(index), options().limits)
  std::vector<int> class_counts() const;   // [num_classes] samples per class

  // Problems found while listing (empty class folders, unsupported formats, ...) followed by
  // every sample that does not decode, ordered by path. Decodes with `threads` std::threads.
  std::vector<Offender> validate(int threads = 1) const;

  // Drops the samples named by `offenders` (matched on full path) and the listing problems, then
  // drops classes that have no samples left and renumbers labels in class order.
  void remove(const std::vector<Offender>& offenders);

 private:
  void list_flat(const std::string& dir, const std::string& prefix, Subset subset,
                 std::vector<std::string>& class_names, bool classes_fixed);

  std::string root_;
  ImageFolderOptions options_;
  bool explicit_split_ = false;
  std::vector<std::string> classes_;
  std::vector<Sample> samples_;
  std::vector<Offender> listing_problems_;
};

}  // namespace hsanet::data
