// A file writer with one background thread: the dump producer (JS, main thread) hands it
// (position, bytes) pieces and goes on producing while the thread pwrite()s them, so reading
// guest memory and writing the disk overlap (the rescue dumper's stream is CPU work, the
// disk is the other half). Used by dump/savecore.ts for real files.
#pragma once

#include <napi.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kboot {

class FileWriter : public Napi::ObjectWrap<FileWriter> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit FileWriter(const Napi::CallbackInfo& info);
  ~FileWriter() override;

 private:
  struct Piece {
    uint64_t pos;
    std::vector<uint8_t> bytes;
  };
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value Finish(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  void Run();
  void Stop();
  [[noreturn]] void ThrowError(Napi::Env env);

  int fd_;
  uint64_t limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Piece> queue_;
  std::vector<std::vector<uint8_t>> free_;  // written pieces' buffers, reused (no fresh pages per write)
  uint64_t queued_ = 0;
  bool stopping_ = false;
  bool closed_ = false;  // finish() or abort() was called: no more writes
  bool busy_ = false;
  int errno_ = 0;
  uint64_t errorPos_ = 0;
  uint64_t written_ = 0;
  std::thread thread_;
};

}  // namespace kboot
