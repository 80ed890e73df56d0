// flock(2) for kboot's state directories: one writer at a time (loader/io and
// machine/dir-lock.ts wait for it with a bounded poll).
//
// Contract: `flock(fd, mode)` with mode "exclusive" | "shared" | "unlock" never blocks
// (LOCK_NB is always set); it returns "" when done, "EWOULDBLOCK" when another open file
// description holds a conflicting lock, or the errno name of any other failure. The lock
// belongs to the open file description: closing the descriptor (or the process ending,
// even by SIGKILL) releases it. Source: flock(2) (Linux, FreeBSD).
#include "fs_lock.h"

#include <sys/file.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace kboot {

namespace {

Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsNumber() || !info[1].IsString()) {
    throw Napi::TypeError::New(env, "flock(fd: number, mode: 'exclusive' | 'shared' | 'unlock')");
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const std::string mode = info[1].As<Napi::String>().Utf8Value();
  int op = 0;
  if (mode == "exclusive") {
    op = LOCK_EX;
  } else if (mode == "shared") {
    op = LOCK_SH;
  } else if (mode == "unlock") {
    op = LOCK_UN;
  } else {
    throw Napi::TypeError::New(env, "flock mode must be exclusive, shared or unlock");
  }
  int rc;
  do {
    rc = flock(fd, op | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return Napi::String::New(env, "");
  if (errno == EWOULDBLOCK) return Napi::String::New(env, "EWOULDBLOCK");
  switch (errno) {
    case EBADF:
      return Napi::String::New(env, "EBADF");
    case ENOLCK:
      return Napi::String::New(env, "ENOLCK");
    case EINVAL:
      return Napi::String::New(env, "EINVAL");
    default:
      return Napi::String::New(env, std::string("errno ") + std::to_string(errno));
  }
}

}  // namespace

Napi::Function FlockFunction(Napi::Env env) { return Napi::Function::New(env, Flock, "flock"); }

}  // namespace kboot
