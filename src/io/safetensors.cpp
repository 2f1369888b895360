// safetensors.cpp — the safetensors writer and a reader that validates before it allocates
// (format and rules in safetensors.h).
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "io/atomic_file.h"
#include "io/checksum.h"

// Tensor bytes are copied between memory and file as they are, and the format is little-endian.
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.cpp writes tensors' in-memory bytes and needs a little-endian host"
#endif

namespace nn::io {
namespace {

// ordered_json keeps keys in the order they were inserted (writing) or read (reading), so the
// header lists tensors in buffer order and ties between zero-byte tensors keep the file's order.
using Json = nlohmann::ordered_json;

constexpr uint64_t kHeaderLengthBytes = 8;
constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit
constexpr size_t kHeaderAlignment = 8;
// A valid header nests three deep (object > entry > shape array); anything much deeper is not a
// safetensors header, and refusing it early bounds the parser's memory on hostile input.
constexpr int kMaxHeaderDepth = 8;
const char* const kMetadataKey = "__metadata__";
// The checksum entries of __metadata__ (safetensors.h, "Checksums").
const char* const kChecksumAlgorithmKey = "nn.checksum.algorithm";
const char* const kTensorChecksumsKey = "nn.checksum.tensors";
const char* const kHeaderChecksumKey = "nn.checksum.header";
const char* const kChecksumAlgorithm = "xxh64";
bool is_checksum_key(const std::string& key) {
  return key == kChecksumAlgorithmKey || key == kTensorChecksumsKey || key == kHeaderChecksumKey;
}

struct DTypeName {
  DType dtype;
  const char* name;
};
constexpr DTypeName kDTypeNames[] = {
    {DType::F32, "F32"}, {DType::F64, "F64"}, {DType::U8, "U8"}, {DType::I32, "I32"}, {DType::I64, "I64"},
};

const char* safetensors_dtype_name(DType dtype) {
  for (const DTypeName& d : kDTypeNames)
    if (d.dtype == dtype) return d.name;
  throw_error("safetensors: unhandled dtype");  // unreachable: the table covers nn::DType
}

bool parse_dtype_name(const std::string& name, DType* dtype) {
  for (const DTypeName& d : kDTypeNames) {
    if (name == d.name) {
      *dtype = d.dtype;
      return true;
    }
  }
  return false;
}

// Text taken from a possibly corrupt file, made safe for a one-line message: printable ASCII kept,
// other bytes shown as '?', long text cut.
std::string printable(const std::string& text, size_t max_chars) {
  std::string out;
  for (size_t i = 0; i < text.size() && i < max_chars; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (text.size() > max_chars) out += "...";
  return out;
}

// A name from the file, printable and in single quotes: 'generator.main.0.weight'.
std::string quote_for_message(const std::string& name) { return "'" + printable(name, 80) + "'"; }

[[noreturn]] void throw_corrupt(const std::string& path, const std::string& reason) {
  throw_error(str_cat("checkpoint ", path, " is corrupt: ", reason));
}

// ------------------------------------------------------------------ checksums

// XXH64 of the canonical header (safetensors.h): the metadata without its header checksum, and
// each tensor's name, dtype and shape. nlohmann::json (not ordered_json) keeps keys sorted.
uint64_t canonical_header_checksum(const std::map<std::string, std::string>& metadata,
                                   const std::vector<std::pair<std::string, std::pair<DType, Shape>>>& tensors) {
  nlohmann::json canonical = nlohmann::json::object();
  nlohmann::json& meta = canonical["metadata"] = nlohmann::json::object();
  for (const auto& [key, value] : metadata)
    if (key != kHeaderChecksumKey) meta[key] = value;
  nlohmann::json& entries = canonical["tensors"] = nlohmann::json::object();
  for (const auto& [name, dtype_shape] : tensors)
    entries[name] = {{"dtype", safetensors_dtype_name(dtype_shape.first)}, {"shape", dtype_shape.second}};
  const std::string text = canonical.dump();
  return xxh64(text.data(), text.size());
}

// ------------------------------------------------------------------ reading: the checks

// Closes the file however load_safetensors leaves.
struct FileDescriptor {
  int fd = -1;
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
};

// Reads exactly `size` bytes. Throws "cannot read" on an I/O error and "truncated" when the file
// ends early, which can only happen if it shrank after we measured it.
void read_exactly(int fd, void* dst, size_t size, const std::string& path) {
  char* p = static_cast<char*>(dst);
  while (size > 0) {
    const ssize_t n = ::read(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_error(str_cat("cannot read checkpoint ", path, ": ", std::strerror(errno)));
    }
    if (n == 0) throw_corrupt(path, "truncated: the file ended while it was being read (did it change?)");
    p += n;
    size -= static_cast<size_t>(n);
  }
}

Json parse_header(const std::string& path, const std::string& text) {
  // nlohmann keeps the last of two equal keys silently; a checkpoint with two tensors of one name
  // is corrupt, so the parse callback tracks the keys of each object that is open.
  std::vector<std::set<std::string>> open_objects;
  bool has_duplicate = false;
  std::string duplicate;
  auto on_event = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth > kMaxHeaderDepth)
      throw_corrupt(path, str_cat("the header nests deeper than ", kMaxHeaderDepth, " levels"));
    if (event == Json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == Json::parse_event_t::key && !open_objects.empty()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && !has_duplicate) has_duplicate = true, duplicate = key;
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(text, on_event);
  } catch (const Json::exception& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 9: ..." -> drop the tag.
    std::string what = e.what();
    const size_t tag_end = what.find("] ");
    if (tag_end != std::string::npos) what = what.substr(tag_end + 2);
    throw_corrupt(path, "the header is not valid JSON: " + printable(what, 200));
  }
  if (has_duplicate) throw_corrupt(path, "the header has the key " + quote_for_message(duplicate) + " twice");
  if (!header.is_object()) throw_corrupt(path, str_cat("the header is a JSON ", header.type_name(), ", not an object"));
  return header;
}

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0, end = 0;
};

TensorEntry parse_entry(const std::string& path, const std::string& name, const Json& value) {
  const std::string tensor = "tensor " + quote_for_message(name);
  auto bad = [&](const std::string& reason) { throw_corrupt(path, tensor + " " + reason); };
  if (!value.is_object()) bad(str_cat("is a JSON ", value.type_name(), ", not an object"));
  auto field = [&](const char* key) -> const Json& {
    const auto it = value.find(key);
    if (it == value.end()) bad(str_cat("has no \"", key, "\""));
    return *it;
  };

  TensorEntry entry;
  entry.name = name;
  const Json& dtype = field("dtype");
  if (!dtype.is_string()) bad(str_cat("has a \"dtype\" that is a ", dtype.type_name(), ", not a string"));
  if (!parse_dtype_name(dtype.get_ref<const std::string&>(), &entry.dtype))
    bad("has unknown or unsupported dtype " + quote_for_message(dtype.get_ref<const std::string&>()) +
        " (this engine reads F32, F64, U8, I32, I64)");

  const Json& shape = field("shape");
  if (!shape.is_array()) bad(str_cat("has a \"shape\" that is a ", shape.type_name(), ", not an array"));
  // numel is kept within int64 at every step, so nn::shape_numel cannot overflow on it later.
  constexpr uint64_t kMaxElements = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  uint64_t numel = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    const Json& dim = shape[i];
    if (!dim.is_number_unsigned()) bad(str_cat("has shape[", i, "] that is not a non-negative integer"));
    const uint64_t d = dim.get<uint64_t>();
    if (d > kMaxElements || (d != 0 && numel > kMaxElements / d))
      bad("has a shape with more elements than fit in int64");
    numel *= d;
    entry.shape.push_back(static_cast<int64_t>(d));
  }
  const uint64_t element = dtype_size(entry.dtype);
  if (numel > std::numeric_limits<uint64_t>::max() / element) bad("has a shape too large to address in bytes");
  const uint64_t bytes = numel * element;

  const Json& offsets = field("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    bad("has \"data_offsets\" that are not [begin, end] with two non-negative integers");
  entry.begin = offsets[0].get<uint64_t>();
  entry.end = offsets[1].get<uint64_t>();
  if (entry.begin > entry.end) bad(str_cat("has data_offsets [", entry.begin, ", ", entry.end, "] with begin > end"));
  if (entry.end - entry.begin != bytes)
    bad(str_cat("of dtype ", dtype.get_ref<const std::string&>(), " and shape ", shape_str(entry.shape), " needs ",
                bytes, " bytes but its data_offsets [", entry.begin, ", ", entry.end, "] span ",
                entry.end - entry.begin));
  return entry;
}

// The format requires the tensors to tile the data buffer: sorted by offset, each begins where the
// previous one ends, the first at 0 and the last at the buffer's end.
void check_tiling(const std::string& path, std::vector<TensorEntry>& entries, uint64_t buffer_bytes) {
  std::stable_sort(entries.begin(), entries.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;  // bytes [0, covered) belong to the tensors seen so far
  for (const TensorEntry& e : entries) {
    if (e.begin < covered)
      throw_corrupt(path, str_cat("tensor ", quote_for_message(e.name), " at data bytes [", e.begin, ", ", e.end,
                                  ") overlaps the tensor before it, which ends at ", covered));
    if (e.begin > covered)
      throw_corrupt(path, str_cat("data bytes [", covered, ", ", e.begin, ") before tensor ", quote_for_message(e.name),
                                  " belong to no tensor (the format allows no holes)"));
    if (e.end > buffer_bytes)
      throw_corrupt(path, str_cat("truncated: tensor ", quote_for_message(e.name), " ends at data byte ", e.end,
                                  " but the file holds only ", buffer_bytes, " bytes of data"));
    covered = e.end;
  }
  if (covered < buffer_bytes)
    throw_corrupt(path, str_cat(buffer_bytes - covered, " bytes at the end of the file belong to no tensor"));
}

// Checks the checksum entries of a file's metadata and the header's checksum. Returns each tensor's
// stored checksum by name, or nothing for a file without checksums (none of the three keys).
std::map<std::string, uint64_t> verify_header_checksum(const std::string& path, const std::vector<TensorEntry>& entries,
                                                       const std::map<std::string, std::string>& metadata) {
  const int present = static_cast<int>(metadata.count(kChecksumAlgorithmKey) + metadata.count(kTensorChecksumsKey) +
                                       metadata.count(kHeaderChecksumKey));
  if (present == 0) return {};
  if (present != 3)
    throw_corrupt(path, str_cat("its metadata has ", present, " of the 3 checksum entries (", kChecksumAlgorithmKey, ", ",
                                kTensorChecksumsKey, ", ", kHeaderChecksumKey, ")"));
  const std::string& algorithm = metadata.at(kChecksumAlgorithmKey);
  if (algorithm != kChecksumAlgorithm)
    throw_corrupt(path, str_cat("its checksums use ", quote_for_message(algorithm), ", not ", kChecksumAlgorithm,
                                " (the one this engine knows)"));
  uint64_t stored_header = 0;
  if (!parse_checksum_hex(metadata.at(kHeaderChecksumKey), &stored_header))
    throw_corrupt(path, str_cat("its header checksum ", quote_for_message(metadata.at(kHeaderChecksumKey)),
                                " is not 16 hexadecimal digits"));
  std::vector<std::pair<std::string, std::pair<DType, Shape>>> described;
  for (const TensorEntry& e : entries) described.push_back({e.name, {e.dtype, e.shape}});
  const uint64_t computed_header = canonical_header_checksum(metadata, described);
  if (computed_header != stored_header)
    throw_corrupt(path, str_cat("its header fails its checksum (xxh64 ", checksum_hex(computed_header), ", stored ",
                                checksum_hex(stored_header), "): the metadata or a tensor's name, dtype or shape is damaged"));

  // The header is intact, so what follows was written as it is; it is still checked, since a
  // file may come from another writer.
  Json sums;
  try {
    sums = Json::parse(metadata.at(kTensorChecksumsKey));
  } catch (const Json::exception&) {
    throw_corrupt(path, str_cat("its metadata ", kTensorChecksumsKey, " is not JSON"));
  }
  if (!sums.is_object() || sums.size() != entries.size())
    throw_corrupt(path, str_cat("its metadata ", kTensorChecksumsKey, " does not list one checksum per tensor"));
  std::map<std::string, uint64_t> result;
  for (const TensorEntry& e : entries) {
    const auto it = sums.find(e.name);
    uint64_t value = 0;
    if (it == sums.end() || !it->is_string() || !parse_checksum_hex(it->get<std::string>(), &value))
      throw_corrupt(path, str_cat("its metadata ", kTensorChecksumsKey, " has no valid checksum for tensor ",
                                  quote_for_message(e.name)));
    result[e.name] = value;
  }
  if (result.empty()) result[""] = 0;  // a verified file without tensors: still "has checksums"
  return result;
}

}  // namespace

// ------------------------------------------------------------------ writing

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::string cannot = str_cat("cannot write checkpoint ", path, ": ");
  std::set<std::string> names;
  std::vector<Tensor> host;  // the CPU copies must live until the bytes are written
  host.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    NN_CHECK(tensor.defined(), cannot, "tensor ", quote_for_message(name), " is undefined");
    NN_CHECK(name != kMetadataKey, cannot, "\"", kMetadataKey, "\" is reserved for the metadata, not a tensor name");
    NN_CHECK(names.insert(name).second, cannot, "two tensors are named ", quote_for_message(name));
    host.push_back(tensor.to(Device::CPU));
  }
  for (const auto& entry : metadata)
    NN_CHECK(!is_checksum_key(entry.first), cannot, "metadata key '", entry.first, "' is reserved for the checksums");

  // Checksums: each tensor's bytes, then the canonical header over everything else.
  std::map<std::string, std::string> full_metadata = metadata;
  {
    nlohmann::json sums = nlohmann::json::object();
    std::vector<std::pair<std::string, std::pair<DType, Shape>>> described;
    for (size_t i = 0; i < host.size(); ++i) {
      sums[tensors[i].first] = checksum_hex(xxh64(host[i].raw(), host[i].nbytes()));
      described.push_back({tensors[i].first, {host[i].dtype(), host[i].shape()}});
    }
    full_metadata[kChecksumAlgorithmKey] = kChecksumAlgorithm;
    try {
      full_metadata[kTensorChecksumsKey] = sums.dump();
      full_metadata[kHeaderChecksumKey] = checksum_hex(canonical_header_checksum(full_metadata, described));
    } catch (const nlohmann::json::exception& e) {
      throw_error(str_cat(cannot, "a tensor name or metadata string is not valid UTF-8 (", e.what(), ")"));
    }
  }

  // Larger elements first, so that every tensor starts at a multiple of its element size.
  std::vector<size_t> order(host.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return dtype_size(host[a].dtype()) > dtype_size(host[b].dtype()); });

  Json header = Json::object();
  {
    Json meta = Json::object();
    for (const auto& [key, value] : full_metadata) meta[key] = value;
    header[kMetadataKey] = std::move(meta);
  }
  std::vector<ByteSpan> pieces(2);  // [0] length, [1] header, then the tensors
  uint64_t offset = 0;
  for (size_t i : order) {
    const Tensor& t = host[i];
    Json entry = Json::object();
    entry["dtype"] = safetensors_dtype_name(t.dtype());
    entry["shape"] = t.shape();
    entry["data_offsets"] = {offset, offset + t.nbytes()};
    header[tensors[i].first] = std::move(entry);
    offset += t.nbytes();
    if (t.nbytes() > 0) pieces.push_back({t.raw(), t.nbytes()});
  }

  std::string text;
  try {
    text = header.dump();  // compact, like the reference
  } catch (const Json::exception& e) {
    // The one way dump() fails: a name or metadata string that is not valid UTF-8.
    throw_error(str_cat(cannot, "a tensor name or metadata string is not valid UTF-8 (", e.what(), ")"));
  }
  text.append((kHeaderAlignment - text.size() % kHeaderAlignment) % kHeaderAlignment, ' ');
  NN_CHECK(text.size() <= kMaxHeaderBytes, cannot, "the header would be ", text.size(), " bytes, over the ",
           kMaxHeaderBytes, "-byte limit readers enforce (too much metadata?)");

  uint8_t length[kHeaderLengthBytes];
  for (size_t i = 0; i < kHeaderLengthBytes; ++i) length[i] = static_cast<uint8_t>(uint64_t{text.size()} >> (8 * i));
  pieces[0] = {length, sizeof(length)};
  pieces[1] = {text.data(), text.size()};
  write_file_atomically(path, pieces, "checkpoint");
}

// ------------------------------------------------------------------ reading

SafetensorsFile load_safetensors(const std::string& path) {
  FileDescriptor file;
  // O_NONBLOCK: a FIFO in place of the file must be refused at once (fstat below), not block the
  // open until some writer appears; on a regular file the flag changes nothing.
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (file.fd < 0) {
    if (errno == ENOENT) throw_error(str_cat("checkpoint ", path, " not found"));
    throw_error(str_cat("cannot read checkpoint ", path, ": ", std::strerror(errno)));
  }
  struct stat info;
  if (::fstat(file.fd, &info) != 0) throw_error(str_cat("cannot read checkpoint ", path, ": ", std::strerror(errno)));
  if (!S_ISREG(info.st_mode)) throw_error(str_cat("cannot read checkpoint ", path, ": not a regular file"));
  const uint64_t file_bytes = static_cast<uint64_t>(info.st_size);

  // Every size below is checked against the file's size before anything of that size is allocated.
  if (file_bytes < kHeaderLengthBytes)
    throw_corrupt(path, str_cat("truncated: the file has ", file_bytes, " bytes, fewer than the ", kHeaderLengthBytes,
                                "-byte header length"));
  uint8_t length_bytes[kHeaderLengthBytes];
  read_exactly(file.fd, length_bytes, sizeof(length_bytes), path);
  uint64_t header_bytes = 0;
  for (size_t i = 0; i < kHeaderLengthBytes; ++i) header_bytes |= uint64_t{length_bytes[i]} << (8 * i);
  if (header_bytes > kMaxHeaderBytes)
    throw_corrupt(path, str_cat("the header length ", header_bytes, " is over the ", kMaxHeaderBytes, "-byte limit"));
  if (header_bytes > file_bytes - kHeaderLengthBytes)
    throw_corrupt(path, str_cat("truncated: the header length is ", header_bytes, " bytes but only ",
                                file_bytes - kHeaderLengthBytes, " follow"));
  std::string header_text(header_bytes, '\0');
  read_exactly(file.fd, header_text.data(), header_text.size(), path);
  if (const size_t nul = header_text.find('\0'); nul != std::string::npos)
    throw_corrupt(path, str_cat("the header has a NUL byte at header byte ", nul, " (JSON has none)"));
  const Json header = parse_header(path, header_text);

  SafetensorsFile result;
  result.path = path;
  std::vector<TensorEntry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key != kMetadataKey) {
      entries.push_back(parse_entry(path, key, value));
      continue;
    }
    if (value.is_null()) continue;  // the reference writes no key, but reads null as "no metadata"
    if (!value.is_object())
      throw_corrupt(path, str_cat("\"", kMetadataKey, "\" is a JSON ", value.type_name(), ", not an object"));
    for (const auto& [meta_key, meta_value] : value.items()) {
      if (!meta_value.is_string())
        throw_corrupt(path, str_cat("metadata ", quote_for_message(meta_key), " is a JSON ", meta_value.type_name(),
                                    ", not a string (safetensors metadata maps strings to strings)"));
      result.metadata[meta_key] = meta_value.get<std::string>();
    }
  }
  const std::map<std::string, uint64_t> tensor_sums = verify_header_checksum(path, entries, result.metadata);
  result.verified = !tensor_sums.empty();
  for (const char* key : {kChecksumAlgorithmKey, kTensorChecksumsKey, kHeaderChecksumKey}) result.metadata.erase(key);
  check_tiling(path, entries, file_bytes - kHeaderLengthBytes - header_bytes);

  // The entries now tile the rest of the file in order, so one sequential pass reads them all.
  result.tensors.reserve(entries.size());
  for (const TensorEntry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype, Device::CPU);
    read_exactly(file.fd, t.raw(), t.nbytes(), path);
    if (result.verified) {
      const uint64_t computed = xxh64(t.raw(), t.nbytes()), stored = tensor_sums.at(e.name);
      if (computed != stored)
        throw_corrupt(path, str_cat("tensor ", quote_for_message(e.name), " fails its checksum (xxh64 ",
                                    checksum_hex(computed), ", stored ", checksum_hex(stored),
                                    "): its data is damaged"));
    }
    result.tensors.emplace_back(e.name, std::move(t));
  }
  return result;
}

std::string unverified_note(const SafetensorsFile& file) {
  return str_cat("note: ", file.path, " has no checksums (written by PyTorch or an older gan_train): its contents are unverified");
}

bool SafetensorsFile::has(const std::string& name) const {
  for (const auto& entry : tensors)
    if (entry.first == name) return true;
  return false;
}

const Tensor& SafetensorsFile::get(const std::string& name) const {
  for (const auto& entry : tensors)
    if (entry.first == name) return entry.second;
  // Name a few of the tensors that are there: a mismatch is usually a renamed layer.
  std::string some;
  const size_t shown = std::min<size_t>(tensors.size(), 8);
  for (size_t i = 0; i < shown; ++i) some += (i ? ", " : "") + quote_for_message(tensors[i].first);
  if (tensors.size() > shown) some += ", ...";
  throw_error(str_cat("checkpoint ", path, " has no tensor ", quote_for_message(name), " (it has ", tensors.size(),
                      " tensors", tensors.empty() ? "" : ": ", some, ")"));
}

}  // namespace nn::io
