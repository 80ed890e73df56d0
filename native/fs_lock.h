// flock(2) without blocking (fs_lock.cc).
#pragma once

#include <napi.h>

namespace kboot {

Napi::Function FlockFunction(Napi::Env env);

}  // namespace kboot
