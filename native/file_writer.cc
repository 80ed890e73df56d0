// See file_writer.h. Contract: new FileWriter(fd, queueBytes) starts the thread (the fd stays
// the caller's: it is never closed here); write(bytes, position) copies the bytes into the
// queue and returns at once unless `queueBytes` are already queued (then it waits: bounded
// memory); it throws the first write error (kbootCode DUMP_IO, `code` the errno name, e.g.
// ENOSPC) once the thread has met one, and nothing after the failing piece is written.
// finish() waits until everything queued is on the file (not fsync'd) and returns the bytes
// written, or throws that error; abort() drops what is queued. Both join the thread; a write
// after them is DUMP_BAD_VALUE; the destructor aborts. No thread (std::thread failing) is a
// coded DUMP_IO error at construction, and the caller falls back to synchronous writes.
#include "file_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

#include "convert.h"

namespace kboot {

Napi::Function FileWriter::Init(Napi::Env env) {
  return DefineClass(env, "NativeFileWriter",
                     {
                         CodedMethod<FileWriter, &FileWriter::Write>("write"),
                         CodedMethod<FileWriter, &FileWriter::Finish>("finish"),
                         CodedMethod<FileWriter, &FileWriter::Abort>("abort"),
                     });
}

FileWriter::FileWriter(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FileWriter>(info) {
  Coded(info.Env(), [&] {
    fd_ = static_cast<int>(U64(info[0], "DUMP_BAD_VALUE", "FileWriter fd", INT_MAX));
    limit_ = std::max<uint64_t>(U64(info[1], "DUMP_BAD_VALUE", "FileWriter queueBytes"), 1u << 20);
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (const std::exception& ex) {  // no thread to be had: the caller writes synchronously
      Raise("DUMP_IO", std::string("dump: cannot start the writer thread: ") + ex.what());
    }
  });
}

// Garbage-collected without finish()/abort(): drop what is queued (the fd may already be
// someone else's), then stop.
FileWriter::~FileWriter() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    for (const Piece& p : queue_) queued_ -= p.bytes.size();
    queue_.clear();
  }
  Stop();
}

void FileWriter::Run() {
  for (;;) {
    Piece p;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      p = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    int err = 0;
    uint64_t done = 0;
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (errno_ != 0) err = -1;  // an earlier piece failed: write nothing more
    }
    while (err == 0 && done < p.bytes.size()) {
      ssize_t n = pwrite(fd_, p.bytes.data() + done, p.bytes.size() - done, static_cast<off_t>(p.pos + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        err = errno;
      } else if (n == 0) {
        err = EIO;
      } else {
        done += static_cast<uint64_t>(n);
      }
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      queued_ -= p.bytes.size();
      written_ += done;
      if (free_.size() < 64) free_.push_back(std::move(p.bytes));
      if (err > 0 && errno_ == 0) {
        errno_ = err;
        errorPos_ = p.pos + done;
      }
      busy_ = false;
    }
    cv_.notify_all();
  }
}

void FileWriter::Stop() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

[[noreturn]] void FileWriter::ThrowError(Napi::Env env) {
  const char* name = strerrorname_np(errno_);
  Napi::Error e = JsError(env, CodedError("DUMP_IO", "dump: write at offset " + std::to_string(errorPos_) +
                                                         " failed: " + strerror(errno_)));
  e.Set("code", Napi::String::New(env, name != nullptr ? name : "EIO"));
  e.Set("position", Napi::Number::New(env, static_cast<double>(errorPos_)));
  throw e;
}

Napi::Value FileWriter::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ByteView bytes = Bytes(info[0], "DUMP_BAD_VALUE", "write bytes", true);
  uint64_t position = U64(info[1], "DUMP_BAD_VALUE", "write position");
  std::unique_lock<std::mutex> lk(mu_);
  if (closed_) {
    lk.unlock();
    Raise("DUMP_BAD_VALUE", "dump: write after finish() or abort()");
  }
  cv_.wait(lk, [this] { return errno_ != 0 || queued_ < limit_; });
  if (errno_ != 0) {
    lk.unlock();
    ThrowError(env);
  }
  Piece p{position, {}};
  if (!free_.empty()) {
    p.bytes = std::move(free_.back());
    free_.pop_back();
  }
  lk.unlock();
  p.bytes.assign(bytes.data, bytes.data + bytes.size);  // into a reused buffer's capacity when it fits
  lk.lock();
  queued_ += p.bytes.size();
  queue_.push_back(std::move(p));
  lk.unlock();
  cv_.notify_all();
  return env.Undefined();
}

Napi::Value FileWriter::Finish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  {
    std::unique_lock<std::mutex> lk(mu_);
    closed_ = true;
    cv_.wait(lk, [this] { return queue_.empty() && !busy_; });
  }
  Stop();
  if (errno_ != 0) ThrowError(env);
  return Napi::Number::New(env, static_cast<double>(written_));
}

Napi::Value FileWriter::Abort(const Napi::CallbackInfo& info) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    closed_ = true;
    for (const Piece& p : queue_) queued_ -= p.bytes.size();  // the piece being written keeps its count
    queue_.clear();
  }
  Stop();
  return info.Env().Undefined();
}

}  // namespace kboot
