// See convert.h.
#include "convert.h"

#include <cstring>

namespace kboot {

namespace {
constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1 (Number.MAX_SAFE_INTEGER)

std::string Bound(uint64_t max) { return max == UINT64_MAX ? "a u64" : "an integer in 0.." + Hex(max); }

[[noreturn]] void Mismatch(const char* code, const std::string& what, const std::string& wanted) {
  Raise(code, std::string(DomainOf(code)) + ": " + what + " must be " + wanted);
}

// A bigint in 0..max, or a non-negative safe integer number in 0..max.
bool ToU64(const Napi::Value& v, uint64_t max, uint64_t* out) {
  bool ok = false;
  if (v.IsBigInt()) {
    *out = v.As<Napi::BigInt>().Uint64Value(&ok);  // not lossless: negative or past 2^64
  } else if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    ok = d >= 0 && d <= kMaxSafeInteger && d == static_cast<double>(static_cast<uint64_t>(d));
    if (ok) *out = static_cast<uint64_t>(d);
  }
  return ok && *out <= max;
}
// Bytes per element of a typed array type; 0 for a type this file does not know.
size_t ElementSize(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array:
      return 1;
    case napi_int16_array:
    case napi_uint16_array:
      return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      return 8;
    default:
      return 0;
  }
}
}  // namespace

Napi::Error JsError(Napi::Env env, const CodedError& e) {
  Napi::Error js = Napi::Error::New(env, e.what());
  js.Set("kbootCode", Napi::String::New(env, e.code()));
  return js;
}

const char* DomainOf(const char* code) {
  if (strncmp(code, "DUMP_", 5) == 0) return "dump";
  if (strncmp(code, "NATIVE_", 7) == 0) return "native";
  return "machine";
}

uint64_t U64(const Napi::Value& v, const char* code, const char* what, uint64_t max) {
  uint64_t r = 0;
  if (!ToU64(v, max, &r)) Mismatch(code, what, Bound(max));
  return r;
}

std::string Str(const Napi::Value& v, const char* code, const char* what) {
  if (!v.IsString()) Mismatch(code, what, "a string");
  return v.As<Napi::String>().Utf8Value();
}

Napi::Object Obj(const Napi::Value& v, const char* code, const char* what) {
  if (!v.IsObject()) Mismatch(code, what, "an object");
  return v.As<Napi::Object>();
}

Napi::BigInt Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

ByteView Bytes(const Napi::Value& v, const char* code, const char* what, bool anyTypedArray) {
  if (v.IsTypedArray()) {
    // One napi_get_typedarray_info call: the data pointer already includes the byte offset.
    napi_typedarray_type type = napi_uint8_array;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(v.Env(), v, &type, &length, &data, nullptr, nullptr) == napi_ok &&
        (anyTypedArray || type == napi_uint8_array)) {
      size_t unit = ElementSize(type);
      if (unit != 0) return ByteView{static_cast<uint8_t*>(data), length * unit};
    }
  }
  Mismatch(code, what, anyTypedArray ? "a typed array" : "a Uint8Array");
}

Napi::Array ListOf(const Napi::Value& v, const char* code, const char* what) {
  if (!v.IsArray()) Mismatch(code, what, "an array");
  return v.As<Napi::Array>();
}

Options::Options(const Napi::Value& v, const char* code, const char* what)
    : obj_(Obj(v, code, what)), code_(code), what_(what) {}

uint64_t Options::U64(const char* key, uint64_t max) const {
  uint64_t r = 0;
  if (!ToU64(Get(key), max, &r)) Mismatch(code_, Path(key), Bound(max));
  return r;
}

std::optional<uint64_t> Options::OptU64(const char* key, uint64_t max) const {
  Napi::Value v = Get(key);
  if (v.IsUndefined()) return std::nullopt;
  uint64_t r = 0;
  if (!ToU64(v, max, &r)) Mismatch(code_, Path(key), Bound(max));
  return r;
}

std::string Options::Str(const char* key) const {
  Napi::Value v = Get(key);
  if (!v.IsString()) Mismatch(code_, Path(key), "a string");
  return v.As<Napi::String>().Utf8Value();
}

}  // namespace kboot
