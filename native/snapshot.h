// Copying one guest RAM into another: the fork of a booted host (snapshot.cc).
#pragma once

#include <napi.h>

namespace kboot {

// `copyGuestRam(dst, src)`, checking both are instances of `ramClass` (GuestRam).
Napi::Function CopyGuestRamFunction(Napi::Env env, Napi::Function ramClass);

}  // namespace kboot
