// See convert.h.
#include "convert.h"

#include <cstring>

namespace kboot {

namespace {
constexpr double kMaxSafeInteger = 9007199254740991.0;  // 2^53 - 1 (Number.MAX_SAFE_INTEGER)

std::string Bound(uint64_t max) { return max == UINT64_MAX ? "a u64" : "an integer in 0.." + Hex(max); }
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

uint64_t U64(const Napi::Value& v, const char* code, const std::string& what, uint64_t max) {
  uint64_t r = 0;
  bool ok = false;
  if (v.IsBigInt()) {
    r = v.As<Napi::BigInt>().Uint64Value(&ok);  // not lossless: negative or past 2^64
  } else if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    ok = d >= 0 && d <= kMaxSafeInteger && d == static_cast<double>(static_cast<uint64_t>(d));
    if (ok) r = static_cast<uint64_t>(d);
  }
  if (!ok || r > max) Raise(code, std::string(DomainOf(code)) + ": " + what + " must be " + Bound(max));
  return r;
}

std::string Str(const Napi::Value& v, const char* code, const std::string& what) {
  if (!v.IsString()) Raise(code, std::string(DomainOf(code)) + ": " + what + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Napi::Object Obj(const Napi::Value& v, const char* code, const std::string& what) {
  if (!v.IsObject()) Raise(code, std::string(DomainOf(code)) + ": " + what + " must be an object");
  return v.As<Napi::Object>();
}

Napi::BigInt Big(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

ByteView Bytes(const Napi::Value& v, const char* code, const std::string& what, bool anyTypedArray) {
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    if (anyTypedArray || ta.TypedArrayType() == napi_uint8_array) {
      uint8_t* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data());
      return ByteView{base == nullptr ? nullptr : base + ta.ByteOffset(), ta.ByteLength()};
    }
  }
  Raise(code, std::string(DomainOf(code)) + ": " + what + (anyTypedArray ? " must be a typed array" : " must be a Uint8Array"));
}

Napi::Array ListOf(const Napi::Value& v, const char* code, const std::string& what) {
  if (!v.IsArray()) Raise(code, std::string(DomainOf(code)) + ": " + what + " must be an array");
  return v.As<Napi::Array>();
}

Options::Options(const Napi::Value& v, const char* code, std::string what)
    : obj_(Obj(v, code, what)), code_(code), what_(std::move(what)) {}

uint64_t Options::U64(const char* key, uint64_t max) const { return kboot::U64(Get(key), code_, Path(key), max); }

std::optional<uint64_t> Options::OptU64(const char* key, uint64_t max) const {
  if (!Has(key)) return std::nullopt;
  return U64(key, max);
}

std::string Options::Str(const char* key) const { return kboot::Str(Get(key), code_, Path(key)); }

}  // namespace kboot
