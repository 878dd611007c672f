// Embeddings on disk: an [N, D] float32 matrix (.npy, or .safetensors when the name ends so, as
// the tensor "embeddings") and beside it an index, "<name without extension>.index.csv", with one
// row per matrix row: row, path, label (the identity, empty when unknown).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace hsanet::train {

struct EmbeddingRows {
  int64_t dim = 0;
  std::vector<float> values;        // rows * dim, row-major
  std::vector<std::string> paths;   // one per row
  std::vector<std::string> labels;  // one per row ("" when unknown)
};

// The index file's name for an embeddings file: "emb.npy" -> "emb.index.csv".
std::string embeddings_index_path(const std::string& path);

// Writes the matrix and its index; `metadata` goes into a safetensors file's header (a .npy has
// no room for it). Returns the index file's name. Throws std::runtime_error naming the file.
std::string write_embeddings(const std::string& path, const EmbeddingRows& rows,
                             const std::map<std::string, std::string>& metadata);

}  // namespace hsanet::train
