// See errors.h.
#include "errors.h"

#include <cstdio>

namespace kboot {

void Raise(const char* code, const std::string& message) { throw CodedError(code, message); }

std::string Hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace kboot
