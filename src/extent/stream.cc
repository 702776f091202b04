// The extent mover's framed stream: writer and strict parser (see stream.h for the format).
#include "extent/stream.h"

#include <openssl/sha.h>

#include <cstring>
#include <optional>

#include "extent/fs.h"

namespace ocpvdr::extent {

namespace {

constexpr size_t kFlushAt = 4u << 20;

void putU8(std::string& s, uint8_t v) {
  s.push_back(static_cast<char>(v));
}
void putU16(std::string& s, uint16_t v) {
  for (int i = 0; i < 2; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void putU32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void putU64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void putStr16(std::string& s, const std::string& v) {
  putU16(s, static_cast<uint16_t>(v.size()));
  s += v;
}

// Bounds-checked little-endian decoding of one payload.
class Decoder {
 public:
  Decoder(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool u8(uint8_t* v) {
    if (!need(1)) return false;
    *v = p_[pos_++];
    return true;
  }
  bool u16(uint16_t* v) {
    uint64_t x = 0;
    if (!le(2, &x)) return false;
    *v = static_cast<uint16_t>(x);
    return true;
  }
  bool u32(uint32_t* v) {
    uint64_t x = 0;
    if (!le(4, &x)) return false;
    *v = static_cast<uint32_t>(x);
    return true;
  }
  bool u64(uint64_t* v) { return le(8, v); }
  bool i64(int64_t* v) {
    uint64_t x = 0;
    if (!le(8, &x)) return false;
    *v = static_cast<int64_t>(x);
    return true;
  }
  bool str16(std::string* v) {
    uint16_t len = 0;
    if (!u16(&len) || !need(len)) return false;
    v->assign(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return true;
  }
  bool bytes(const uint8_t** v, size_t len) {
    if (!need(len)) return false;
    *v = p_ + pos_;
    pos_ += len;
    return true;
  }
  bool done() const { return pos_ == n_; }

 private:
  bool need(size_t k) const { return k <= n_ - pos_; }
  bool le(int k, uint64_t* v) {
    if (!need(static_cast<size_t>(k))) return false;
    uint64_t x = 0;
    for (int i = 0; i < k; ++i) x |= static_cast<uint64_t>(p_[pos_ + i]) << (8 * i);
    pos_ += static_cast<size_t>(k);
    *v = x;
    return true;
  }
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
};

std::string frameName(uint8_t t) {
  if (t >= 0x20 && t < 0x7f) return std::string("'") + static_cast<char>(t) + "'";
  return "0x" + std::to_string(t);
}

Error malformedFrame(uint8_t type, const std::string& what) {
  return invalidError("malformed " + frameName(type) + " frame: " + what);
}

// The largest payload a frame of `type` may have; nullopt for an unknown type.
std::optional<uint32_t> maxFrameLength(uint8_t type) {
  switch (type) {
    case 'E':
      return kMaxEntryPayload;
    case 'D':
      return 8 + 4 + 32 + kMaxDataChunk;
    case 'H':
      return 16;
    case 'Z':
      return 0;
    case 'T':
      return 24;
    default:
      return std::nullopt;
  }
}

}  // namespace

Sha256 sha256(const uint8_t* data, size_t n) {
  Sha256 out{};
  ::SHA256(data, n, out.data());
  return out;
}

// ---- writer ----

Status StreamWriter::flush() {
  if (buf_.empty()) return {};
  OCPVDR_TRY(writeAll(fd_, buf_.data(), buf_.size()));
  written_ += buf_.size();
  buf_.clear();
  return {};
}

Status StreamWriter::frame(char type, const std::string& payload) {
  putU8(buf_, static_cast<uint8_t>(type));
  putU32(buf_, static_cast<uint32_t>(payload.size()));
  buf_ += payload;
  if (buf_.size() >= kFlushAt) return flush();
  return {};
}

Status StreamWriter::header(const StreamHeader& h) {
  std::string body;
  putStr16(body, h.pv);
  putStr16(body, h.snapshotId);
  putStr16(body, h.baseId);
  putU64(body, static_cast<uint64_t>(h.dataTimeNs));
  buf_.append(kStreamMagic, sizeof kStreamMagic);
  putU32(buf_, h.version);
  putU32(buf_, static_cast<uint32_t>(body.size()));
  buf_ += body;
  return {};
}

Status StreamWriter::entry(const Entry& e, bool fresh) {
  std::string p;
  putU8(p, static_cast<uint8_t>(e.kind));
  putU8(p, fresh ? 1 : 0);
  putU32(p, e.mode);
  putU32(p, e.uid);
  putU32(p, e.gid);
  putU64(p, static_cast<uint64_t>(e.atimeSec));
  putU32(p, e.atimeNsec);
  putU64(p, static_cast<uint64_t>(e.mtimeSec));
  putU32(p, e.mtimeNsec);
  putU64(p, e.size);
  putStr16(p, e.path);
  putStr16(p, e.linkTarget);
  ++counts_.entries;
  return frame('E', p);
}

Status StreamWriter::data(uint64_t offset, const uint8_t* bytes, uint32_t length) {
  std::string p;
  p.reserve(8 + 4 + 32 + length);
  putU64(p, offset);
  putU32(p, length);
  Sha256 sum = sha256(bytes, length);
  p.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  p.append(reinterpret_cast<const char*>(bytes), length);
  ++counts_.dataFrames;
  counts_.dataBytes += length;
  return frame('D', p);
}

Status StreamWriter::hole(uint64_t offset, uint64_t length) {
  std::string p;
  putU64(p, offset);
  putU64(p, length);
  return frame('H', p);
}

Status StreamWriter::endEntry() {
  return frame('Z', {});
}

Status StreamWriter::trailer() {
  std::string p;
  putU64(p, counts_.entries);
  putU64(p, counts_.dataFrames);
  putU64(p, counts_.dataBytes);
  OCPVDR_TRY(frame('T', p));
  return flush();
}

// ---- reader ----

Result<StreamHeader> StreamReader::header() {
  uint8_t fixed[16];
  OCPVDR_ASSIGN_OR_RETURN(bool got, readExact(fd_, fixed, sizeof fixed));
  if (!got) return invalidError("empty stream (the sender wrote nothing)");
  read_ += sizeof fixed;
  if (std::memcmp(fixed, kStreamMagic, sizeof kStreamMagic) != 0)
    return invalidError("not an extent-mover stream (bad magic)");
  Decoder d(fixed + 8, 8);
  StreamHeader h;
  uint32_t bodyLen = 0;
  (void)d.u32(&h.version);
  (void)d.u32(&bodyLen);
  if (h.version != kStreamVersion)
    return invalidError("stream version " + std::to_string(h.version) + ", this side reads " +
                        std::to_string(kStreamVersion) + " (update ocpv-dr-mover)");
  if (bodyLen > kMaxHeaderBody)
    return invalidError("stream header of " + std::to_string(bodyLen) + " bytes (at most " +
                        std::to_string(kMaxHeaderBody) + ")");
  buf_.resize(bodyLen);
  OCPVDR_ASSIGN_OR_RETURN(bool gotBody, readExact(fd_, buf_.data(), bodyLen));
  if (!gotBody && bodyLen > 0) return invalidError("stream truncated inside its header");
  read_ += bodyLen;
  Decoder b(buf_.data(), bodyLen);
  uint64_t t = 0;
  if (!b.str16(&h.pv) || !b.str16(&h.snapshotId) || !b.str16(&h.baseId) || !b.u64(&t) || !b.done())
    return invalidError("malformed stream header");
  h.dataTimeNs = static_cast<int64_t>(t);
  if (!validName(h.pv)) return invalidError("stream header: invalid PV name");
  if (!validName(h.snapshotId)) return invalidError("stream header: invalid snapshot id");
  if (!h.baseId.empty() && !validName(h.baseId))
    return invalidError("stream header: invalid base id");
  return h;
}

// An entry frame: the next file, directory or symlink, checked against the entries so far.
Result<Frame> StreamReader::entryFrame(uint32_t len) {
  Decoder d(buf_.data(), len);
  Frame f;
  auto malformed = [](const std::string& what) { return malformedFrame('E', what); };
  if (inEntry_) return malformed("entry inside another entry (missing end marker)");
  uint8_t kind = 0, flags = 0;
  uint64_t at = 0, mt = 0;
  Entry& e = f.entry;
  if (!d.u8(&kind) || !d.u8(&flags) || !d.u32(&e.mode) || !d.u32(&e.uid) || !d.u32(&e.gid) ||
      !d.u64(&at) || !d.u32(&e.atimeNsec) || !d.u64(&mt) || !d.u32(&e.mtimeNsec) ||
      !d.u64(&e.size) || !d.str16(&e.path) || !d.str16(&e.linkTarget) || !d.done())
    return malformed("field lengths disagree with the payload");
  if (kind < 1 || kind > 3) return malformed("unknown entry kind " + std::to_string(kind));
  if (flags > 1) return malformed("unknown entry flags");
  e.kind = static_cast<EntryKind>(kind);
  e.atimeSec = static_cast<int64_t>(at);
  e.mtimeSec = static_cast<int64_t>(mt);
  f.fresh = flags & 1;
  if (e.mode > 07777) return malformed("mode has type bits");
  if (e.atimeNsec >= 1000000000 || e.mtimeNsec >= 1000000000)
    return malformed("nanoseconds out of range");
  if (e.size > (uint64_t{1} << 62)) return malformed("file size out of range");
  std::string why;
  if (!validRelativePath(e.path, &why))
    return invalidError("refused entry path \"" + e.path + "\": " + why);
  if (seen_.entries == 0 && !(e.path.empty() && e.kind == EntryKind::Dir))
    return malformed("the first entry must be the PV directory itself");
  if (seen_.entries > 0 && e.path.empty()) return malformed("the PV directory listed twice");
  if (e.kind == EntryKind::Symlink) {
    if (e.linkTarget.empty() || e.linkTarget.find('\0') != std::string::npos)
      return malformed("symlink target empty or with NUL");
  } else if (!e.linkTarget.empty()) {
    return malformed("link target on a non-symlink");
  }
  inEntry_ = true;
  entryKind_ = e.kind;
  entrySize_ = e.size;
  ++seen_.entries;
  f.type = Frame::Type::Entry;
  return f;
}

// A data frame: a checksummed chunk of the current file, inside its size.
Result<Frame> StreamReader::dataFrame(uint32_t len) {
  Decoder d(buf_.data(), len);
  Frame f;
  auto malformed = [](const std::string& what) { return malformedFrame('D', what); };
  if (!inEntry_ || entryKind_ != EntryKind::File) return malformed("data outside a file entry");
  uint32_t n = 0;
  const uint8_t* sum = nullptr;
  if (!d.u64(&f.offset) || !d.u32(&n) || !d.bytes(&sum, 32)) return malformed("short data header");
  if (n == 0 || n > kMaxDataChunk) return malformed("data length " + std::to_string(n));
  if (len != 8 + 4 + 32 + n) return malformed("data length field disagrees with the frame");
  if (f.offset > entrySize_ || n > entrySize_ - f.offset)
    return malformed("range beyond the file size");
  (void)d.bytes(&f.data, n);
  std::memcpy(f.sum.data(), sum, 32);
  f.length = n;
  ++seen_.dataFrames;
  seen_.dataBytes += n;
  f.type = Frame::Type::Data;
  return f;
}

Result<Frame> StreamReader::next() {
  if (done_) return notFoundError("stream already ended");
  uint8_t fixed[5];
  OCPVDR_ASSIGN_OR_RETURN(bool got, readExact(fd_, fixed, sizeof fixed));
  if (!got) return invalidError("stream ended before its trailer (the sender stopped?)");
  read_ += sizeof fixed;
  const uint8_t type = fixed[0];
  uint32_t len = 0;
  Decoder l(fixed + 1, 4);
  (void)l.u32(&len);
  const std::optional<uint32_t> limit = maxFrameLength(type);
  if (!limit)
    return invalidError("unknown frame type " + frameName(type) + " at stream byte " +
                        std::to_string(read_ - sizeof fixed));
  const uint32_t maxLen = *limit;
  if (len > maxLen)
    return invalidError("oversized frame " + frameName(type) + ": " + std::to_string(len) +
                        " bytes (at most " + std::to_string(maxLen) + ")");
  buf_.resize(len);
  if (len > 0) {
    OCPVDR_ASSIGN_OR_RETURN(bool body, readExact(fd_, buf_.data(), len));
    if (!body) return invalidError("stream truncated inside a frame (the sender stopped?)");
  }
  read_ += len;
  Decoder d(buf_.data(), len);
  Frame f;
  auto malformed = [&](const std::string& what) { return malformedFrame(type, what); };
  switch (type) {
    case 'E':
      return entryFrame(len);
    case 'D':
      return dataFrame(len);
    case 'H': {
      if (!inEntry_ || entryKind_ != EntryKind::File) return malformed("hole outside a file entry");
      if (!d.u64(&f.offset) || !d.u64(&f.length) || !d.done()) return malformed("short hole");
      if (f.offset > entrySize_ || f.length > entrySize_ - f.offset)
        return malformed("hole beyond the file size");
      f.type = Frame::Type::Hole;
      return f;
    }
    case 'Z':
      if (!inEntry_) return malformed("end marker without an entry");
      inEntry_ = false;
      f.type = Frame::Type::End;
      return f;
    case 'T': {
      if (inEntry_) return malformed("trailer inside an entry");
      if (!d.u64(&f.trailer.entries) || !d.u64(&f.trailer.dataFrames) ||
          !d.u64(&f.trailer.dataBytes) || !d.done())
        return malformed("short trailer");
      if (f.trailer.entries != seen_.entries || f.trailer.dataFrames != seen_.dataFrames ||
          f.trailer.dataBytes != seen_.dataBytes)
        return invalidError("stream trailer counts disagree with the frames received");
      if (seen_.entries == 0) return malformed("stream without entries");
      done_ = true;
      f.type = Frame::Type::Trailer;
      return f;
    }
  }
  return invalidError("unreachable");
}

}  // namespace ocpvdr::extent
