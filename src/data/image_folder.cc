#include "data/image_folder.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <ostream>
#include <set>
#include <thread>
#include <tuple>

#include "data/data_error.h"

namespace hsanet::data {

namespace fs = std::filesystem;

namespace {

std::string lower_extension(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos || dot == 0) return "";
  std::string ext = name.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return ext;
}

bool is_image_extension(const std::string& ext) {
  static const std::set<std::string> accepted = {"jpg", "jpeg", "png", "bmp", "pgm", "ppm", "pnm"};
  return accepted.count(ext) > 0;
}

// Extensions of image formats we do not decode: reported, since silently skipping them would
// quietly shrink a class.
bool is_foreign_image_extension(const std::string& ext) {
  static const std::set<std::string> foreign = {"gif", "tif", "tiff", "webp", "heic", "heif", "avif", "psd",
                                                "tga", "hdr", "pbm", "pam", "jp2", "jxl", "ico"};
  return foreign.count(ext) > 0;
}

bool hidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

struct Entry {
  std::string name;
  bool is_dir;
};

// The non-hidden entries of `dir`, sorted by name. Directory status follows symbolic links (a
// linked class folder counts); a dangling link is a non-directory and fails later, in decoding.
std::vector<Entry> list_dir(const fs::path& dir, std::error_code& ec) {
  std::vector<Entry> entries;
  fs::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (hidden(name)) continue;
    std::error_code status_ec;
    entries.push_back({std::move(name), it->is_directory(status_ec)});
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return entries;
}

}  // namespace

bool is_image_file_name(const std::string& name) { return is_image_extension(lower_extension(name)); }

const char* subset_name(Subset subset) {
  switch (subset) {
    case Subset::None: return "";
    case Subset::Train: return "train";
    case Subset::Val: return "val";
  }
  return "";
}

std::string format_offenders(const std::vector<Offender>& offenders) {
  std::string text = std::to_string(offenders.size()) + (offenders.size() == 1 ? " unusable file:" : " unusable files:");
  for (const Offender& o : offenders) text += "\n  " + o.file + ": " + o.reason;
  return text;
}

ImageFolder::ImageFolder(std::string root, ImageFolderOptions options)
    : root_(std::move(root)), options_(std::move(options)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  std::error_code ec;
  const fs::file_status st = fs::status(root_, ec);
  if (!fs::exists(st)) throw DataError(root_, "data root does not exist");
  if (!fs::is_directory(st)) throw DataError(root_, "data root is not a folder");
  std::vector<Entry> top = list_dir(root_, ec);
  if (ec) throw DataError(root_, "cannot list the data root: " + ec.message());

  std::vector<std::string> top_dirs;
  for (const Entry& e : top)
    if (e.is_dir) top_dirs.push_back(e.name);
  explicit_split_ = options_.layout == FolderLayout::TrainVal ||
                    (options_.layout == FolderLayout::Auto && top_dirs == std::vector<std::string>{"train", "val"});
  if (explicit_split_) {
    for (const char* sub : {"train", "val"})
      if (!fs::is_directory(fs::path(root_) / sub, ec))
        throw DataError(root_, std::string("the train/val layout needs a ") + sub + "/ folder");
    list_flat("train", "train/", Subset::Train, classes_, false);
    list_flat("val", "val/", Subset::Val, classes_, true);
  } else {
    list_flat("", "", Subset::None, classes_, false);
  }
  if (classes_.empty())
    throw DataError(root_, std::string("no class folders under the data root (expected ") +
                               (explicit_split_ ? "train/<class>/<image>" : "<class>/<image>") + ")");
  std::sort(samples_.begin(), samples_.end(), [](const Sample& a, const Sample& b) {
    return std::tie(a.subset, a.label, a.path) < std::tie(b.subset, b.label, b.path);
  });
}

// Lists the class folders of ROOT/dir. With classes_fixed the class list already exists (from
// train/) and each folder must be one of them; otherwise the folders found become the classes.
void ImageFolder::list_flat(const std::string& dir, const std::string& prefix, Subset subset,
                            std::vector<std::string>& class_names, bool classes_fixed) {
  const fs::path base = dir.empty() ? fs::path(root_) : fs::path(root_) / dir;
  std::error_code ec;
  std::vector<Entry> entries = list_dir(base, ec);
  if (ec) {
    listing_problems_.push_back({base.string(), "cannot list folder: " + ec.message()});
    return;
  }
  for (const Entry& cls : entries) {
    if (!cls.is_dir) continue;  // files next to the class folders (README, split files) are not data
    const std::string class_dir = (base / cls.name).string();
    int label;
    if (classes_fixed) {
      auto it = std::find(class_names.begin(), class_names.end(), cls.name);
      if (it == class_names.end()) {
        listing_problems_.push_back({class_dir, "class folder exists in " + dir + "/ but not in train/"});
        continue;
      }
      label = static_cast<int>(it - class_names.begin());
    } else {
      label = static_cast<int>(class_names.size());
      class_names.push_back(cls.name);
    }
    std::vector<Entry> files = list_dir(base / cls.name, ec);
    if (ec) {
      listing_problems_.push_back({class_dir, "cannot list folder: " + ec.message()});
      continue;
    }
    int found = 0;
    for (const Entry& f : files) {
      const std::string ext = lower_extension(f.name);
      if (is_image_extension(ext)) {
        // Listed even when it is a folder or a dangling link: validate() reports it by name.
        samples_.push_back({prefix + cls.name + "/" + f.name, label, subset});
        ++found;
      } else if (!f.is_dir && is_foreign_image_extension(ext)) {
        listing_problems_.push_back({class_dir + "/" + f.name, "." + ext + " images are not supported (convert to "
                                                                          "PNG or JPEG)"});
      }
    }
    if (found == 0) listing_problems_.push_back({class_dir, "class folder has no images"});
  }
}

std::string ImageFolder::full_path(int index) const { return root_ + "/" + samples_.at(index).path; }

Image ImageFolder::load(int index) const { return decode_image_file(full_path(index), options_.limits); }

std::vector<int> ImageFolder::class_counts() const {
  std::vector<int> counts(classes_.size(), 0);
  for (const Sample& s : samples_) counts[s.label]++;
  return counts;
}

std::vector<Offender> ImageFolder::validate(int threads) const {
  const int n = size();
  threads = std::max(1, std::min(threads, n));
  // Each thread takes every threads-th sample and writes only its own result slots.
  std::vector<std::string> reasons(n);
  std::vector<char> bad(n, 0);
  auto work = [&](int t) {
    for (int i = t; i < n; i += threads) {
      try {
        (void)load(i);
      } catch (const DataError& e) {
        bad[i] = 1;
        reasons[i] = e.reason();
      } catch (const std::bad_alloc&) {
        bad[i] = 1;
        reasons[i] = "out of memory while decoding";
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (std::thread& th : pool) th.join();

  std::vector<Offender> offenders = listing_problems_;
  for (int i = 0; i < n; ++i)
    if (bad[i]) offenders.push_back({full_path(i), reasons[i]});
  std::sort(offenders.begin(), offenders.end(),
            [](const Offender& a, const Offender& b) { return a.file < b.file; });
  return offenders;
}

void ImageFolder::remove(const std::vector<Offender>& offenders) {
  std::set<std::string> drop;
  for (const Offender& o : offenders) drop.insert(o.file);
  std::vector<Sample> kept;
  for (int i = 0; i < size(); ++i)
    if (!drop.count(full_path(i))) kept.push_back(samples_[i]);
  listing_problems_.erase(std::remove_if(listing_problems_.begin(), listing_problems_.end(),
                                         [&](const Offender& o) { return drop.count(o.file) > 0; }),
                          listing_problems_.end());

  // Renumber: classes keep their order, empty ones disappear.
  std::vector<int> count(classes_.size(), 0);
  for (const Sample& s : kept) count[s.label]++;
  std::vector<int> new_label(classes_.size(), -1);
  std::vector<std::string> classes;
  for (size_t c = 0; c < classes_.size(); ++c) {
    if (count[c] == 0) continue;
    new_label[c] = static_cast<int>(classes.size());
    classes.push_back(classes_[c]);
  }
  for (Sample& s : kept) s.label = new_label[s.label];
  classes_ = std::move(classes);
  samples_ = std::move(kept);
}

ImageFolder ImageFolder::open(const std::string& root, ImageFolderOptions options, std::ostream& warn) {
  ImageFolder folder(root, options);
  std::vector<Offender> offenders = folder.validate(options.validate_threads);
  if (offenders.empty()) return folder;
  if (!options.skip_bad)
    throw DataError(folder.root(), "the data set has " + format_offenders(offenders) +
                                       "\n(fix or remove them, or skip them with " + options.skip_hint + ")");
  const int classes_before = folder.num_classes();
  for (const Offender& o : offenders) warn << "warning: skipping " << o.file << ": " << o.reason << "\n";
  folder.remove(offenders);
  if (folder.num_classes() < classes_before)
    warn << "warning: " << classes_before - folder.num_classes() << " class(es) left without images were dropped; "
         << folder.num_classes() << " remain\n";
  if (folder.size() == 0) throw DataError(folder.root(), "no usable images left after skipping bad files");
  return folder;
}

}  // namespace hsanet::data
