// Streaming compression of crash dumps: gzip through zlib, zstd through libzstd (Debian
// zlib1g-dev, libzstd-dev), the two formats FreeBSD writes (KERNELDUMP_COMP_GZIP/ZSTD,
// sys/sys/kerneldump.h; sys/kern/subr_compressor.c: gzip, and zstd frames with checksumFlag=1).
//
// Contract (TS surface: machine/native.ts; used by dump/compress.ts only):
//  - `new Compressor(kind, level?)`: kind 'gzip' (deflateInit2, windowBits 15+16: a gzip
//    member, RFC 1952; level 0..9, default 6) or 'zstd' (ZSTD_CCtx, ZSTD_compressStream2,
//    ZSTD_c_checksumFlag=1: one frame with a content checksum, RFC 8878; level
//    ZSTD_minCLevel()..ZSTD_maxCLevel(), default 3). `update(bytes)` consumes all of `bytes`
//    and returns the output produced so far (often empty); `finish()` ends the stream, returns
//    the rest and frees the context. Input is never kept: the caller may reuse its buffer.
//  - `new Decompressor(kind, {maxChunk, maxTotal?})`: 'gzip' (inflateInit2, windowBits 15+32:
//    gzip or zlib header) or 'zstd' (ZSTD_DCtx, ZSTD_decompressStream, window <= 2^27 by
//    libzstd's default limit). Every `update(bytes)` / `finish()` returns at most `maxChunk`
//    bytes; input it could not consume yet is copied and kept, and `pending` says to call
//    `update(empty)` again before more input (or `finish()` again). Output beyond `maxTotal`
//    bytes fails. So memory is bounded by maxChunk + the decoder window, whatever the ratio.
//    Concatenated members/frames decode as one stream (as gzip -dc and zstd -dc do); after a
//    complete member/frame, zero bytes are accepted and counted as padding (the kernel writes
//    the stream in whole blocks, padding the last one - kern_shutdown.c kerneldumpcomp_write_cb,
//    dump_finish - while dumplength counts the stream only; gzip -dc skips such zeros too);
//    any other byte after them is corruption. `finish()` (once nothing is pending) fails
//    unless at least one member/frame is complete and no other one is open.
//  - Counters: totalIn / totalOut (bigint); decompressor also frames, trailingZeros.
//  - Errors carry a `kbootCode` that dump/compress.ts turns into a DumpError:
//    DUMP_COMPRESS (corrupt stream, library failure, use after finish/failure/close),
//    DUMP_TRUNCATED (the stream ends inside a member/frame, or is empty),
//    DUMP_TOO_LARGE (more than maxTotal bytes of output), DUMP_BAD_VALUE (bad kind/level/limits).
//    After an error the object is dead (context freed); every later call fails.
// Sources: zlib manual (zlib.h 1.2.13: deflateInit2/inflateInit2 windowBits, Z_BUF_ERROR is not
// fatal), zstd.h 1.5.4 (streaming API: ZSTD_decompressStream returns 0 when a frame is fully
// decoded and flushed; output.pos == output.size means more may be waiting).
#include "compress.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "convert.h"

namespace kboot {

namespace {

constexpr size_t kMinSpace = 64 * 1024;       // output room asked of the scratch buffer per call
constexpr size_t kMaxSlice = size_t{1} << 30;  // zlib counts in uInt: feed at most 1 GiB per call
constexpr size_t kMaxChunkLimit = size_t{1} << 30;
constexpr const char* kBadValue = "DUMP_BAD_VALUE";
constexpr const char* kCorrupt = "DUMP_COMPRESS";

const char* KindName(CompressKind k) { return k == CompressKind::kGzip ? "gzip" : "zstd"; }

CompressKind GetKind(const Napi::Value& v, const char* what) {
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s == "gzip") return CompressKind::kGzip;
    if (s == "zstd") return CompressKind::kZstd;
  }
  Raise(kBadValue, std::string("dump: ") + what + " kind must be 'gzip' or 'zstd'");
}

// The compression level: the kind's default when undefined, else an integer in its range.
int GetLevel(const Napi::CallbackInfo& info, CompressKind kind) {
  int level = kind == CompressKind::kGzip ? 6 : 3;
  if (info.Length() < 2 || info[1].IsUndefined()) return level;
  double d = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0.5;
  int lo = kind == CompressKind::kGzip ? 0 : ZSTD_minCLevel();
  int hi = kind == CompressKind::kGzip ? 9 : ZSTD_maxCLevel();
  if (!(d == static_cast<double>(static_cast<int64_t>(d))) || d < lo || d > hi) {
    Raise(kBadValue, std::string("dump: ") + KindName(kind) + " level must be an integer in " + std::to_string(lo) +
                         ".." + std::to_string(hi));
  }
  return static_cast<int>(d);
}

// The bytes of argument 0: a Uint8Array, or nothing (undefined) when `optional`.
ByteView ArgBytes(const Napi::CallbackInfo& info, bool optional) {
  if (optional && (info.Length() == 0 || info[0].IsUndefined())) return ByteView{nullptr, 0};
  return Bytes(info[0], kBadValue, "compression input");
}

std::string Num(uint64_t v) { return std::to_string(v); }

// Makes room for at least `want` bytes after `used` in `buf` (keeps the contents; never shrinks).
void Reserve(std::vector<uint8_t>& buf, size_t used, size_t want) {
  if (buf.size() - used >= want) return;
  buf.resize(std::max(buf.size() * 2, used + want));
}

Napi::Value ToBuffer(Napi::Env env, const std::vector<uint8_t>& buf, size_t n) {
  if (n == 0) return Napi::Buffer<uint8_t>::New(env, 0);
  return Napi::Buffer<uint8_t>::Copy(env, buf.data(), n);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Compressor

Napi::Function Compressor::Init(Napi::Env env) {
  return DefineClass(env, "NativeCompressor",
                     {
                         CodedMethod<Compressor, &Compressor::Update>("update"),
                         CodedMethod<Compressor, &Compressor::Finish>("finish"),
                         CodedMethod<Compressor, &Compressor::Close>("close"),
                         InstanceAccessor<&Compressor::TotalIn>("totalIn"),
                         InstanceAccessor<&Compressor::TotalOut>("totalOut"),
                     });
}

Compressor::Compressor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Compressor>(info) {
  Coded(info.Env(), [&] {
    kind_ = GetKind(info[0], "compressor");
    int level = GetLevel(info, kind_);
    if (kind_ == CompressKind::kGzip) {
      int r = deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
      if (r != Z_OK) Raise(kCorrupt, "dump: deflateInit2 failed (" + std::to_string(r) + ")");
      zInit_ = true;
      return;
    }
    cctx_ = ZSTD_createCCtx();
    if (cctx_ == nullptr) Raise(kCorrupt, "dump: ZSTD_createCCtx failed");
    size_t r1 = ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level);
    size_t r2 = ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 1);
    if (ZSTD_isError(r1) || ZSTD_isError(r2)) {
      std::string why = ZSTD_getErrorName(ZSTD_isError(r1) ? r1 : r2);
      Release();
      Raise(kCorrupt, "dump: cannot set up the zstd compressor (" + why + ")");
    }
  });
}

Compressor::~Compressor() { Release(); }

void Compressor::Release() {
  if (zInit_) deflateEnd(&z_);
  zInit_ = false;
  if (cctx_ != nullptr) ZSTD_freeCCtx(cctx_);
  cctx_ = nullptr;
  std::vector<uint8_t>().swap(out_);
}

void Compressor::CheckOpen(const char* op) const {
  if (state_ == State::kOpen) return;
  const char* why = state_ == State::kFinished ? "finished" : state_ == State::kFailed ? "failed" : "closed";
  Raise(kCorrupt, std::string("dump: ") + KindName(kind_) + " compressor " + op + " after it " + why);
}

void Compressor::Failed(const std::string& what) {
  state_ = State::kFailed;
  Release();
  Raise(kCorrupt, std::string("dump: ") + KindName(kind_) + " compression failed (" + what + ")");
}

Napi::Value Compressor::Run(Napi::Env env, const uint8_t* in, size_t len, bool end) {
  size_t used = kind_ == CompressKind::kGzip ? RunGzip(in, len, end) : RunZstd(in, len, end);
  totalIn_ += len;
  totalOut_ += used;
  return ToBuffer(env, out_, used);
}

// deflate in slices of at most 1 GiB (zlib counts in uInt); returns the bytes now in out_.
size_t Compressor::RunGzip(const uint8_t* in, size_t len, bool end) {
  size_t used = 0;
  size_t pos = 0;
  do {
    size_t slice = std::min(len - pos, kMaxSlice);
    bool last = pos + slice == len;
    int flush = end && last ? Z_FINISH : Z_NO_FLUSH;
    z_.next_in = const_cast<Bytef*>(in == nullptr ? nullptr : in + pos);
    z_.avail_in = static_cast<uInt>(slice);
    int r;
    do {
      Reserve(out_, used, kMinSpace);
      size_t room = std::min(out_.size() - used, kMaxSlice);
      z_.next_out = out_.data() + used;
      z_.avail_out = static_cast<uInt>(room);
      r = deflate(&z_, flush);
      if (r != Z_OK && r != Z_STREAM_END && r != Z_BUF_ERROR) {
        Failed("deflate returned " + std::to_string(r) + (z_.msg != nullptr ? std::string(": ") + z_.msg : ""));
      }
      used += room - z_.avail_out;
    } while (flush == Z_FINISH ? r != Z_STREAM_END : z_.avail_out == 0);
    pos += slice;
  } while (pos < len);
  return used;
}

size_t Compressor::RunZstd(const uint8_t* in, size_t len, bool end) {
  size_t used = 0;
  ZSTD_inBuffer ib{in, len, 0};
  ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_continue;
  for (;;) {
    Reserve(out_, used, kMinSpace);
    ZSTD_outBuffer ob{out_.data() + used, out_.size() - used, 0};
    size_t r = ZSTD_compressStream2(cctx_, &ob, &ib, mode);
    if (ZSTD_isError(r)) Failed(ZSTD_getErrorName(r));
    used += ob.pos;
    // e_end: 0 once the frame (epilogue and checksum included) is flushed; e_continue: done
    // when all input is consumed (what it keeps buffered comes out with later calls).
    if (end ? r == 0 : (ib.pos == ib.size && ob.pos < ob.size)) break;
  }
  return used;
}

Napi::Value Compressor::Update(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen("update()");
  ByteView in = ArgBytes(info, false);
  if (in.size == 0) return Napi::Buffer<uint8_t>::New(env, 0);
  return Run(env, in.data, in.size, false);
}

Napi::Value Compressor::Finish(const Napi::CallbackInfo& info) {
  CheckOpen("finish()");
  Napi::Value out = Run(info.Env(), nullptr, 0, true);
  state_ = State::kFinished;
  Release();
  return out;
}

Napi::Value Compressor::Close(const Napi::CallbackInfo& info) {
  if (state_ == State::kOpen) state_ = State::kClosed;
  Release();
  return info.Env().Undefined();
}

Napi::Value Compressor::TotalIn(const Napi::CallbackInfo& info) { return Big(info.Env(), totalIn_); }
Napi::Value Compressor::TotalOut(const Napi::CallbackInfo& info) { return Big(info.Env(), totalOut_); }

// ---------------------------------------------------------------------------------------------
// Decompressor

Napi::Function Decompressor::Init(Napi::Env env) {
  return DefineClass(env, "NativeDecompressor",
                     {
                         CodedMethod<Decompressor, &Decompressor::Update>("update"),
                         CodedMethod<Decompressor, &Decompressor::Finish>("finish"),
                         CodedMethod<Decompressor, &Decompressor::Close>("close"),
                         InstanceAccessor<&Decompressor::TotalIn>("totalIn"),
                         InstanceAccessor<&Decompressor::TotalOut>("totalOut"),
                         InstanceAccessor<&Decompressor::Pending>("pending"),
                         InstanceAccessor<&Decompressor::Frames>("frames"),
                         InstanceAccessor<&Decompressor::TrailingZeros>("trailingZeros"),
                     });
}

Decompressor::Decompressor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Decompressor>(info) {
  Coded(info.Env(), [&] {
    kind_ = GetKind(info[0], "decompressor");
    Options o(info[1], kBadValue, "decompressor options");
    uint64_t maxChunk = o.U64("maxChunk", kMaxChunkLimit);
    if (maxChunk == 0) Raise(kBadValue, "dump: decompressor maxChunk must be an integer in 1..2^30");
    maxChunk_ = static_cast<size_t>(maxChunk);
    maxTotal_ = o.OptU64("maxTotal").value_or(UINT64_MAX);
    if (kind_ == CompressKind::kGzip) {
      int r = inflateInit2(&z_, 15 + 32);
      if (r != Z_OK) Raise(kCorrupt, "dump: inflateInit2 failed (" + std::to_string(r) + ")");
      zInit_ = true;
    } else {
      dctx_ = ZSTD_createDCtx();
      if (dctx_ == nullptr) Raise(kCorrupt, "dump: ZSTD_createDCtx failed");
    }
  });
}

Decompressor::~Decompressor() { Release(); }

void Decompressor::Release() {
  if (zInit_) inflateEnd(&z_);
  zInit_ = false;
  if (dctx_ != nullptr) ZSTD_freeDCtx(dctx_);
  dctx_ = nullptr;
  std::vector<uint8_t>().swap(out_);
  std::vector<uint8_t>().swap(held_);
  heldPos_ = 0;
  outputFull_ = false;
}

void Decompressor::Failed(const char* code, const std::string& what) {
  state_ = State::kFailed;
  Release();
  Raise(code, std::string("dump: ") + KindName(kind_) + " stream " + what);
}

void Decompressor::CheckState(const char* op, bool finishing) const {
  if (state_ == State::kOpen || (finishing && state_ == State::kFinishing)) return;
  const char* after = state_ == State::kFailed ? "a failure" : state_ == State::kClosed ? "close()" : "finish()";
  Raise(kCorrupt, std::string("dump: ") + KindName(kind_) + " decompressor " + op + " after " + after);
}

Napi::Value Decompressor::Step(Napi::Env env, const uint8_t* in, size_t len) {
  Input input = TakeInput(in, len);
  size_t pos = 0;
  size_t produced = Decode(input.src, input.avail, &pos);
  KeepInput(input, pos);
  return ToBuffer(env, out_, produced);
}

// Held input first: new bytes are appended to what an earlier step could not consume.
Decompressor::Input Decompressor::TakeInput(const uint8_t* in, size_t len) {
  if (heldPos_ >= held_.size()) return Input{in, len, false};
  if (len > 0) {
    held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(heldPos_));
    heldPos_ = 0;
    held_.insert(held_.end(), in, in + len);
  }
  return Input{held_.data() + heldPos_, held_.size() - heldPos_, true};
}

// Keeps what the step did not consume (the caller's buffer may be reused after it returns).
void Decompressor::KeepInput(const Input& input, size_t pos) {
  if (input.fromHeld) {
    heldPos_ += pos;
    if (heldPos_ == held_.size()) {
      held_.clear();
      heldPos_ = 0;
    }
  } else if (pos < input.avail) {
    held_.assign(input.src + pos, input.src + input.avail);
    heldPos_ = 0;
  }
}

// Decodes [src, src+avail) into out_ until the output cap, the end of input, or the trailer;
// `*pos` is what was consumed. Returns the bytes produced.
size_t Decompressor::Decode(const uint8_t* src, size_t avail, size_t* posOut) {
  size_t pos = 0;
  size_t produced = 0;
  outputFull_ = false;
  for (;;) {
    if (trailer_) {
      ScanTrailer(src, avail, &pos);
      break;
    }
    if (produced == maxChunk_) {
      outputFull_ = true;
      break;
    }
    if (boundary_ && pos == avail) break;  // between frames, nothing to decode or flush
    if (boundary_ && frames_ > 0 && src[pos] == 0) {
      trailer_ = true;
      continue;
    }
    if (boundary_ && needReset_) {
      inflateReset(&z_);
      needReset_ = false;
    }
    size_t room = Room(produced);
    size_t slice = std::min(avail - pos, kMaxSlice);
    const uint8_t* at = slice == 0 ? nullptr : src + pos;
    Decoded d = kind_ == CompressKind::kGzip ? StepGzip(at, slice, out_.data() + produced, room)
                                             : StepZstd(at, slice, out_.data() + produced, room);
    pos += d.consumed;
    produced += d.made;
    totalIn_ += d.consumed;
    totalOut_ += d.made;
    if (totalOut_ > maxTotal_) Failed("DUMP_TOO_LARGE", "decodes to more than the limit of " + Num(maxTotal_) + " bytes");
    if (d.ended) {
      frames_++;
      boundary_ = true;
      needReset_ = kind_ == CompressKind::kGzip;
      continue;
    }
    if (d.consumed > 0 || d.made > 0) boundary_ = false;
    if (d.made == room) continue;  // output full: more may be waiting
    if (pos == avail) break;       // everything consumed and flushed
    if (d.consumed == 0 && d.made == 0) Failed(kCorrupt, "cannot be decoded: the decoder made no progress");
  }
  *posOut = pos;
  return produced;
}

// After the last member/frame only zero bytes (the kernel's block padding) may follow.
void Decompressor::ScanTrailer(const uint8_t* src, size_t avail, size_t* pos) {
  const uint8_t* nz = std::find_if(src + *pos, src + avail, [](uint8_t b) { return b != 0; });
  size_t zeros = static_cast<size_t>(nz - (src + *pos));
  trailingZeros_ += zeros;
  totalIn_ += zeros;
  *pos += zeros;
  if (*pos < avail) {
    Failed(kCorrupt, "is corrupt: non-zero byte at input offset " + Num(totalIn_) + " after the end of the stream (" +
                         Num(frames_) + (kind_ == CompressKind::kGzip ? " member(s)" : " frame(s)") + " and " +
                         Num(trailingZeros_) + " zero bytes of padding)");
  }
}

// Output room for the next decoder call: grows out_ up to maxChunk_, and asks at most one byte
// past maxTotal_ (that byte proves the excess).
size_t Decompressor::Room(size_t produced) {
  if (out_.size() == produced) out_.resize(std::min(maxChunk_, std::max(kMinSpace, out_.size() * 2)));
  size_t room = std::min(out_.size() - produced, kMaxSlice);
  uint64_t allowance = maxTotal_ - totalOut_;  // totalOut_ <= maxTotal_ always holds here
  if (allowance < room) room = static_cast<size_t>(allowance) + 1;
  return room;
}

Decompressor::Decoded Decompressor::StepGzip(const uint8_t* in, size_t len, uint8_t* out, size_t room) {
  z_.next_in = const_cast<Bytef*>(in);
  z_.avail_in = static_cast<uInt>(len);
  z_.next_out = out;
  z_.avail_out = static_cast<uInt>(room);
  int r = inflate(&z_, Z_NO_FLUSH);
  Decoded d{len - z_.avail_in, room - z_.avail_out, r == Z_STREAM_END};
  if (r == Z_DATA_ERROR || r == Z_NEED_DICT || r == Z_STREAM_ERROR) {
    Failed(kCorrupt, "is corrupt near input offset " + Num(totalIn_ + d.consumed) + " (" +
                         (z_.msg != nullptr ? z_.msg : r == Z_NEED_DICT ? "needs a preset dictionary" : "zlib error") +
                         ")");
  }
  if (r == Z_MEM_ERROR) Failed(kCorrupt, "cannot be decoded: zlib is out of memory");
  return d;  // Z_OK, Z_STREAM_END, Z_BUF_ERROR (no progress possible: the loop decides)
}

Decompressor::Decoded Decompressor::StepZstd(const uint8_t* in, size_t len, uint8_t* out, size_t room) {
  ZSTD_inBuffer ib{in, len, 0};
  ZSTD_outBuffer ob{out, room, 0};
  size_t r = ZSTD_decompressStream(dctx_, &ob, &ib);
  if (ZSTD_isError(r)) {
    Failed(kCorrupt, "is corrupt near input offset " + Num(totalIn_ + ib.pos) + " (" + ZSTD_getErrorName(r) + ")");
  }
  return Decoded{ib.pos, ob.pos, r == 0};
}

Napi::Value Decompressor::Update(const Napi::CallbackInfo& info) {
  CheckState("update()", false);
  ByteView in = ArgBytes(info, true);
  return Step(info.Env(), in.data, in.size);
}

Napi::Value Decompressor::Finish(const Napi::CallbackInfo& info) {
  CheckState("finish()", true);
  state_ = State::kFinishing;
  Napi::Value out = Step(info.Env(), nullptr, 0);
  if (pending()) return out;  // more output: the caller calls finish() again
  if (!trailer_ && !(boundary_ && frames_ > 0)) {
    if (totalIn_ == 0) Failed("DUMP_TRUNCATED", "is empty");
    Failed("DUMP_TRUNCATED", "is truncated: it ends inside a " +
                                 std::string(kind_ == CompressKind::kGzip ? "member" : "frame") + " after " +
                                 Num(totalIn_) + " input bytes (" + Num(totalOut_) + " bytes decoded)");
  }
  state_ = State::kFinished;
  Release();
  return out;
}

Napi::Value Decompressor::Close(const Napi::CallbackInfo& info) {
  if (state_ == State::kOpen || state_ == State::kFinishing) state_ = State::kClosed;
  Release();
  return info.Env().Undefined();
}

Napi::Value Decompressor::TotalIn(const Napi::CallbackInfo& info) { return Big(info.Env(), totalIn_); }
Napi::Value Decompressor::TotalOut(const Napi::CallbackInfo& info) { return Big(info.Env(), totalOut_); }
Napi::Value Decompressor::Pending(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), pending()); }
Napi::Value Decompressor::Frames(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(frames_));
}
Napi::Value Decompressor::TrailingZeros(const Napi::CallbackInfo& info) { return Big(info.Env(), trailingZeros_); }

}  // namespace kboot
