// flock(2) for kboot's state directories: one writer at a time (loader/io and
// machine/dir-lock.ts wait for it with a bounded poll).
//
// Contract: `flock(fd, mode)` with mode "exclusive" | "shared" | "unlock" never blocks
// (LOCK_NB is always set); it returns "" when done, "EWOULDBLOCK" when another open file
// description holds a conflicting lock, or the errno name of any other failure. The lock
// belongs to the open file description: closing the descriptor (or the process ending,
// even by SIGKILL) releases it. Arguments of the wrong type (a kboot bug: machine/dir-lock.ts
// passes an open fd and a mode) raise NATIVE_INTERNAL. Source: flock(2) (Linux, FreeBSD).
#include "fs_lock.h"

#include <sys/file.h>

#include <cerrno>
#include <climits>
#include <string>

#include "convert.h"

namespace kboot {

namespace {

int LockOperation(const std::string& mode) {
  if (mode == "exclusive") return LOCK_EX;
  if (mode == "shared") return LOCK_SH;
  if (mode == "unlock") return LOCK_UN;
  Raise("NATIVE_INTERNAL", "native: flock mode '" + mode + "' is not exclusive, shared or unlock");
}

std::string ErrnoName(int err) {
  switch (err) {
    case EWOULDBLOCK:
      return "EWOULDBLOCK";
    case EBADF:
      return "EBADF";
    case ENOLCK:
      return "ENOLCK";
    case EINVAL:
      return "EINVAL";
    default:
      return "errno " + std::to_string(err);
  }
}

Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Coded(env, [&] {
    const int fd = static_cast<int>(U64(info[0], "NATIVE_INTERNAL", "flock fd", INT_MAX));
    const int op = LockOperation(Str(info[1], "NATIVE_INTERNAL", "flock mode"));
    int rc;
    do {
      rc = flock(fd, op | LOCK_NB);
    } while (rc != 0 && errno == EINTR);
    return Napi::String::New(env, rc == 0 ? "" : ErrnoName(errno));
  });
}

}  // namespace

Napi::Function FlockFunction(Napi::Env env) { return Napi::Function::New(env, Flock, "flock"); }

}  // namespace kboot
