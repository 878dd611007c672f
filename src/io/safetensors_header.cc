#include "io/safetensors_header.h"

#include <set>
#include <vector>

#include "io/safetensors.h"

namespace hsanet::io {

namespace {

using json = nlohmann::json;

// Builds the document as nlohmann's DOM parser does, with the header's own checks on the way.
class HeaderBuilder {
 public:
  explicit HeaderBuilder(const std::string& source) : source_(source) {}
  json take() { return std::move(root_); }

  bool null() { return put(json(nullptr)); }
  bool boolean(bool v) { return put(json(v)); }
  bool number_integer(json::number_integer_t v) { return put(json(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return put(json(v)); }
  bool number_float(json::number_float_t v, const std::string&) { return put(json(v)); }
  bool string(std::string& v) { return put(json(std::move(v))); }
  bool binary(json::binary_t&) { fail("binary values are not JSON"); }
  bool start_object(size_t) { return open(json::object()); }
  bool start_array(size_t) { return open(json::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(std::string& k) {
    if (stack_.size() == 1) entry_ = k;
    if (!keys_.back().insert(k).second) {
      if (stack_.size() == 1) fail("duplicate tensor name '" + k + "'");
      fail("duplicate key '" + k + "' inside '" + entry_ + "'");
    }
    key_ = std::move(k);
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception& e) {
    fail(std::string("header is not valid JSON (") + e.what() + ")");
  }

 private:
  [[noreturn]] void fail(const std::string& reason) { throw SafetensorsError(source_ + ": " + reason); }

  // Places a value in the open container (or as the root) and returns where it went.
  json* place(json v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    json& top = *stack_.back();
    if (top.is_object()) return &(top[key_] = std::move(v));
    if (top.size() >= kMaxHeaderArray)
      fail("header array of more than " + std::to_string(kMaxHeaderArray) + " values inside '" + entry_ +
           "' (no safetensors field holds that many)");
    top.push_back(std::move(v));
    return &top.back();
  }
  bool put(json v) {
    place(std::move(v));
    return true;
  }
  bool open(json container) {
    if (stack_.size() > 4) fail("header is nested deeper than a safetensors header can be");
    // A container inside an array stays the array's last element until it closes: nothing is
    // added to that array meanwhile, so the pointer stays valid.
    stack_.push_back(place(std::move(container)));
    keys_.emplace_back();
    return true;
  }
  bool close() {
    stack_.pop_back();
    keys_.pop_back();
    return true;
  }

  const std::string& source_;
  json root_;
  std::vector<json*> stack_;                // open containers, outermost first
  std::vector<std::set<std::string>> keys_;  // keys seen, one set per open container
  std::string key_;                         // the key of the next value in an object
  std::string entry_;                       // the top-level key we are inside
};

}  // namespace

json parse_header_json(const std::string& text, const std::string& source) {
  HeaderBuilder builder(source);
  json::sax_parse(text, &builder);
  return builder.take();
}

}  // namespace hsanet::io
