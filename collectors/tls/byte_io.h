// Bounds-checked big-endian readers and writers for TLS wire structures (RFC 8446 §3). The
// reader never reads past its span: every accessor reports failure instead, and a failed
// reader stays failed, so parsers can check once at the end of a structure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <vector>

namespace tlsaudit::collectors::tls {

class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> data) : data_(data) {}

  bool ok() const { return ok_; }
  size_t remaining() const { return ok_ ? data_.size() - pos_ : 0; }
  bool empty() const { return remaining() == 0; }
  size_t position() const { return pos_; }

  uint8_t u8() { return static_cast<uint8_t>(read(1)); }
  uint16_t u16() { return static_cast<uint16_t>(read(2)); }
  uint32_t u24() { return read(3); }
  uint32_t u32() { return read(4); }

  // The next n bytes; an empty span (and a failed reader) when fewer remain.
  std::span<const uint8_t> bytes(size_t n) {
    if (!ok_ || n > data_.size() - pos_) {
      ok_ = false;
      return {};
    }
    auto out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  // A sub-reader over a vector whose length prefix is `len_bytes` (1, 2 or 3) wide.
  ByteReader vector(int len_bytes) {
    uint32_t n = read(len_bytes);
    return ByteReader(bytes(n), ok_);
  }

 private:
  ByteReader(std::span<const uint8_t> data, bool ok) : data_(data), ok_(ok) {}
  uint32_t read(int n) {
    auto b = bytes(static_cast<size_t>(n));
    if (b.size() != static_cast<size_t>(n)) return 0;
    uint32_t v = 0;
    for (uint8_t c : b) v = (v << 8) | c;
    return v;
  }

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

class ByteWriter {
 public:
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) {
    out_.push_back(static_cast<uint8_t>(v >> 8));
    out_.push_back(static_cast<uint8_t>(v));
  }
  void u24(uint32_t v) {
    out_.push_back(static_cast<uint8_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }

  // Opens a length-prefixed vector of `len_bytes` width; close it with end(). Nesting works
  // because each open vector remembers its own start.
  size_t begin(int len_bytes) {
    size_t at = out_.size();
    out_.insert(out_.end(), static_cast<size_t>(len_bytes), 0);
    open_.push_back({at, len_bytes});
    return at;
  }
  void end() {
    auto [at, width] = open_.back();
    open_.pop_back();
    size_t n = out_.size() - at - static_cast<size_t>(width);
    if (n >> (8 * width)) throw std::length_error("TLS vector too long for its length prefix");
    for (int i = 0; i < width; ++i) {
      out_[at + static_cast<size_t>(i)] = static_cast<uint8_t>(n >> (8 * (width - 1 - i)));
    }
  }

  size_t size() const { return out_.size(); }
  std::vector<uint8_t>& data() { return out_; }
  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  struct Open {
    size_t at;
    int width;
  };
  std::vector<uint8_t> out_;
  std::vector<Open> open_;
};

}  // namespace tlsaudit::collectors::tls
