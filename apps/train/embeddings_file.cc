#include "apps/train/embeddings_file.h"

#include <filesystem>
#include <stdexcept>

#include "apps/train/npy_file.h"
#include "data/split.h"
#include "io/atomic_file.h"
#include "io/safetensors.h"

namespace hsanet::train {

namespace fs = std::filesystem;

std::string embeddings_index_path(const std::string& path) {
  fs::path p(path);
  p.replace_extension(".index.csv");
  return p.string();
}

std::string write_embeddings(const std::string& path, const EmbeddingRows& rows,
                             const std::map<std::string, std::string>& metadata) {
  const int64_t n = static_cast<int64_t>(rows.paths.size());
  if (rows.labels.size() != rows.paths.size() || static_cast<int64_t>(rows.values.size()) != n * rows.dim)
    throw std::runtime_error(path + ": the embeddings and their index disagree in length");
  if (n == 0) throw std::runtime_error(path + ": no embeddings to write (no image could be read)");
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".safetensors") {
    Tensor t = Tensor::empty({n, rows.dim});
    std::copy(rows.values.begin(), rows.values.end(), t.data());
    io::Metadata meta(metadata.begin(), metadata.end());
    io::write_safetensors(path, {{"embeddings", io::TensorRecord::from_tensor(t)}}, meta);
  } else if (ext == ".npy") {
    write_npy_f32(path, rows.values, n, rows.dim);
  } else {
    throw std::runtime_error(path + ": --embeddings must end in .npy or .safetensors");
  }
  std::string index = "row,path,label\n";
  for (int64_t i = 0; i < n; ++i)
    index += std::to_string(i) + "," + data::csv_field(rows.paths[i]) + "," + data::csv_field(rows.labels[i]) + "\n";
  const std::string index_path = embeddings_index_path(path);
  io::write_file_atomically(index_path, index);
  return index_path;
}

}  // namespace hsanet::train
