// Streaming gzip (zlib) and zstd (libzstd) compression for crash dumps (see compress.cc for the contract).
#pragma once

#include <napi.h>
#include <zlib.h>
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace kboot {

enum class CompressKind { kGzip, kZstd };

class Compressor : public Napi::ObjectWrap<Compressor> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Compressor(const Napi::CallbackInfo& info);
  ~Compressor() override;

 private:
  enum class State { kOpen, kFinished, kFailed, kClosed };
  Napi::Value Update(const Napi::CallbackInfo& info);
  Napi::Value Finish(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value TotalIn(const Napi::CallbackInfo& info);
  Napi::Value TotalOut(const Napi::CallbackInfo& info);
  // Compresses [in, in+len) (and ends the stream when `end`); returns the output produced.
  Napi::Value Run(Napi::Env env, const uint8_t* in, size_t len, bool end);
  size_t RunGzip(const uint8_t* in, size_t len, bool end);
  size_t RunZstd(const uint8_t* in, size_t len, bool end);
  void CheckOpen(const char* op) const;
  [[noreturn]] void Failed(const std::string& what);
  void Release();

  CompressKind kind_;
  State state_ = State::kOpen;
  z_stream z_{};
  bool zInit_ = false;
  ZSTD_CCtx* cctx_ = nullptr;
  std::vector<uint8_t> out_;  // scratch, reused across calls
  uint64_t totalIn_ = 0;
  uint64_t totalOut_ = 0;
};

class Decompressor : public Napi::ObjectWrap<Decompressor> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Decompressor(const Napi::CallbackInfo& info);
  ~Decompressor() override;

 private:
  enum class State { kOpen, kFinishing, kFinished, kFailed, kClosed };
  Napi::Value Update(const Napi::CallbackInfo& info);
  Napi::Value Finish(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value TotalIn(const Napi::CallbackInfo& info);
  Napi::Value TotalOut(const Napi::CallbackInfo& info);
  Napi::Value Pending(const Napi::CallbackInfo& info);
  Napi::Value Frames(const Napi::CallbackInfo& info);
  Napi::Value TrailingZeros(const Napi::CallbackInfo& info);
  // The input of one step: held bytes (with `in` appended) or `in` itself.
  struct Input {
    const uint8_t* src;
    size_t avail;
    bool fromHeld;
  };
  // What one call of the library decoder did.
  struct Decoded {
    size_t consumed;
    size_t made;
    bool ended;  // a member/frame ended
  };
  // Decodes held input, then [in, in+len); returns at most maxChunk_ bytes of output.
  Napi::Value Step(Napi::Env env, const uint8_t* in, size_t len);
  Input TakeInput(const uint8_t* in, size_t len);
  void KeepInput(const Input& input, size_t pos);
  size_t Decode(const uint8_t* src, size_t avail, size_t* pos);
  void ScanTrailer(const uint8_t* src, size_t avail, size_t* pos);
  size_t Room(size_t produced);
  Decoded StepGzip(const uint8_t* in, size_t len, uint8_t* out, size_t room);
  Decoded StepZstd(const uint8_t* in, size_t len, uint8_t* out, size_t room);
  bool pending() const { return heldPos_ < held_.size() || outputFull_; }
  void CheckState(const char* op, bool finishing) const;
  [[noreturn]] void Failed(const char* code, const std::string& what);
  void Release();

  CompressKind kind_;
  State state_ = State::kOpen;
  z_stream z_{};
  bool zInit_ = false;
  ZSTD_DCtx* dctx_ = nullptr;
  size_t maxChunk_ = 0;
  uint64_t maxTotal_ = UINT64_MAX;
  std::vector<uint8_t> held_;  // input not yet consumed (output cap reached)
  size_t heldPos_ = 0;
  std::vector<uint8_t> out_;  // scratch, grows up to maxChunk_
  uint64_t totalIn_ = 0;
  uint64_t totalOut_ = 0;
  uint64_t frames_ = 0;
  uint64_t trailingZeros_ = 0;
  bool boundary_ = true;    // no frame (gzip member) is open
  bool needReset_ = false;  // gzip: a member ended; inflateReset before the next one
  bool trailer_ = false;    // only zero bytes may follow
  bool outputFull_ = false;  // the last step filled its output: more may be waiting
};

}  // namespace kboot
