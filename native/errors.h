// Coded failures shared by every addon file, with no N-API in them (the engines use them too).
//
// Contract: a failure is thrown as a `CodedError` through `Raise(code, message)`. `code` is one
// of the stable codes of loader/errors.ts (MachineCode GUEST_* / CPU_*, NativeCode NATIVE_*)
// or dump/errors.ts (DumpCode DUMP_*); the message reads `<domain>: <what failed> (<facts>)`.
// The N-API layer (convert.h) turns it into a JS Error with a `kbootCode` property at each
// entry point, which machine/native.ts `callNative`, dump/compress.ts and dump/file.ts map to
// KbootErrors. `Hex` is the one hexadecimal formatter for messages.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace kboot {

class CodedError : public std::runtime_error {
 public:
  CodedError(const char* code, const std::string& message) : std::runtime_error(message), code_(code) {}
  const char* code() const { return code_; }

 private:
  const char* code_;  // a string literal: codes are compile-time constants
};

// Throws CodedError(code, message).
[[noreturn]] void Raise(const char* code, const std::string& message);

// "0x" followed by lower-case hex digits, e.g. Hex(4096) == "0x1000".
std::string Hex(uint64_t v);

}  // namespace kboot
