// The N-API edge of every addon file: JS values in, JS values and coded errors out.
//
// Contract:
//  - Entry points. An instance method registered with `CodedMethod<T, &T::M>(name)`, a plain
//    function wrapped in `CodedScope`, and a constructor body wrapped in `Coded` let a
//    CodedError (errors.h `Raise`) reach JS as an Error whose `kbootCode` is the error's code
//    (`JsError`); machine/native.ts `callNative`, dump/compress.ts and dump/file.ts map it.
//  - Conversions. `U64` is the one u64 converter: a bigint in 0..2^64-1 or a non-negative safe
//    integer number, at most `max`; `Str`, `Obj`, `Bytes` check their types; `Options` reads
//    named fields of an options object with the same converters; `ParseList` parses an array
//    element by element. Each raises CodedError(code, "<domain>: <what> must be ...") on a
//    value that does not fit, the domain following the code (DUMP_* dump, NATIVE_* native,
//    GUEST_* and CPU_* machine: loader/errors.ts, dump/errors.ts).
//  - Results. `Big` makes a bigint; `ToArray` makes an array of objects, one per item.
// Model: better-sqlite3's thin binding over a native core (JS validates, the binding converts).
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "errors.h"

namespace kboot {

// The JS Error for `e`: its message, and `kbootCode` set to its code.
Napi::Error JsError(Napi::Env env, const CodedError& e);

// Runs `body` (returning napi_value) for a hand-written napi callback: a CodedError or
// Napi::Error becomes the pending JS exception and the result is nullptr.
template <typename F>
napi_value CodedScope(napi_env env, F&& body) noexcept {
  try {
    return body();
  } catch (const CodedError& e) {
    JsError(Napi::Env(env), e).ThrowAsJavaScriptException();
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  }
  return nullptr;
}

// Runs `body`, turning a CodedError into a thrown Napi::Error (for ObjectWrap constructors,
// where node-addon-api catches only Napi::Error).
template <typename F>
auto Coded(Napi::Env env, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const CodedError& e) {
    throw JsError(env, e);
  }
}

template <typename T, Napi::Value (T::*M)(const Napi::CallbackInfo&)>
napi_value CodedInstanceCallback(napi_env env, napi_callback_info raw) noexcept {
  return CodedScope(env, [&]() -> napi_value {
    Napi::CallbackInfo info(env, raw);
    T* self = T::Unwrap(info.This().As<Napi::Object>());
    return self == nullptr ? nullptr : static_cast<napi_value>((self->*M)(info));
  });
}

// An ObjectWrap<T> instance method `name` calling `M`, with CodedErrors mapped as above.
template <typename T, Napi::Value (T::*M)(const Napi::CallbackInfo&)>
Napi::ClassPropertyDescriptor<T> CodedMethod(const char* name) {
  napi_property_descriptor desc = napi_property_descriptor();
  desc.utf8name = name;
  desc.method = &CodedInstanceCallback<T, M>;
  desc.attributes = napi_default;
  return desc;
}

// "dump", "native" or "machine": the message prefix of `code`'s domain.
const char* DomainOf(const char* code);

// `what` names the value in the message (a string literal: nothing is built unless it fails).
uint64_t U64(const Napi::Value& v, const char* code, const char* what, uint64_t max = UINT64_MAX);
std::string Str(const Napi::Value& v, const char* code, const char* what);
Napi::Object Obj(const Napi::Value& v, const char* code, const char* what);
Napi::BigInt Big(Napi::Env env, uint64_t v);

// The bytes of a Uint8Array (a Buffer included), or of any typed array when `anyTypedArray`.
struct ByteView {
  uint8_t* data;
  size_t size;
};
ByteView Bytes(const Napi::Value& v, const char* code, const char* what, bool anyTypedArray = false);

// Named fields of an options object; field `k` is reported as "<what>.<k>".
class Options {
 public:
  Options(const Napi::Value& v, const char* code, const char* what);
  Napi::Value Get(const char* key) const { return obj_.Get(key); }
  bool Has(const char* key) const { return !obj_.Get(key).IsUndefined(); }
  bool Flag(const char* key) const { return obj_.Get(key).ToBoolean(); }
  uint64_t U64(const char* key, uint64_t max = UINT64_MAX) const;
  std::optional<uint64_t> OptU64(const char* key, uint64_t max = UINT64_MAX) const;
  std::string Str(const char* key) const;
  std::string Path(const char* key) const { return std::string(what_) + "." + key; }
  const char* code() const { return code_; }

 private:
  Napi::Object obj_;
  const char* code_;
  const char* what_;
};

Napi::Array ListOf(const Napi::Value& v, const char* code, const char* what);

// The elements of array `v`, each converted by `parse(element)`.
template <typename F>
auto ParseList(const Napi::Value& v, const char* code, const char* what, F&& parse)
    -> std::vector<std::decay_t<decltype(parse(std::declval<const Napi::Value&>()))>> {
  Napi::Array arr = ListOf(v, code, what);
  std::vector<std::decay_t<decltype(parse(std::declval<const Napi::Value&>()))>> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(parse(arr.Get(i)));
  return out;
}

// A JS array with one object per item, its fields set by `fill(object, item)`.
template <typename T, typename F>
Napi::Array ToArray(Napi::Env env, const std::vector<T>& items, F&& fill) {
  Napi::Array out = Napi::Array::New(env, items.size());
  for (uint32_t i = 0; i < items.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    fill(o, items[i]);
    out.Set(i, o);
  }
  return out;
}

}  // namespace kboot
