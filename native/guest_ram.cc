// The JS binding of guest RAM (machine/native-ram.ts `NativeRam` is its only user).
//
// Contract (mirrors machine/ram.ts `GuestRam`; the memory and its range rules: guest_memory.cc):
//  - `new GuestRam(regions)` maps {base, size} regions (bigint, 4 KiB aligned, non-overlapping,
//    sorted and checked by the JS side first);
//  - every operation takes guest-physical bigint addresses and resolves the whole range
//    before touching memory: nothing is read or written when any byte is not RAM;
//  - views are zero-copy Buffers over one region (<= 1 GiB each, enforced in JS too); each
//    view shares and pins the memory, so the mapping outlives the view; close() unmaps once
//    no view (and no CPU) is alive.
// Errors carry a `kbootCode` (GUEST_RANGE, GUEST_REGIONS, GUEST_ALIGN, GUEST_VIEW_TOO_LARGE,
// GUEST_CLOSED, NATIVE_SYSCALL) that machine/native.ts turns into MachineError/NativeError;
// an argument of the wrong type is GUEST_RANGE (it names no guest RAM).
#include "guest_ram.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "convert.h"
#include "page_digest.h"

namespace kboot {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kMaxView = 1ull << 30;  // never wrap more than 1 GiB in one Buffer
constexpr const char* kRange = "GUEST_RANGE";

uint64_t Arg(const Napi::CallbackInfo& info, size_t i, const char* what) { return U64(info[i], kRange, what); }

bool PageIsZero(const uint8_t* p, uint64_t n) {
  // Word-at-a-time scan with an early exit; most non-zero pages exit in the first words.
  const uint64_t* w = reinterpret_cast<const uint64_t*>(p);
  uint64_t words = n / 8;
  for (uint64_t i = 0; i < words; i += 8) {
    uint64_t acc = 0;
    uint64_t lim = std::min<uint64_t>(words, i + 8);
    for (uint64_t j = i; j < lim; j++) acc |= w[j];
    if (acc != 0) return false;
  }
  for (uint64_t i = words * 8; i < n; i++)
    if (p[i] != 0) return false;
  return true;
}

// Page addresses passed as the bytes of a BigUint64Array (little-endian u64 each).
std::vector<uint64_t> PageList(const Napi::Value& v, const char* op) {
  ByteView bytes = Bytes(v, kRange, "page addresses", true);
  if (bytes.size % 8 != 0) Raise(kRange, std::string("machine: ") + op + " takes whole u64 addresses");
  std::vector<uint64_t> pas(bytes.size / 8);
  if (!pas.empty()) memcpy(pas.data(), bytes.data, bytes.size);
  return pas;
}

// The host address of each page in `pas` (each 4 KiB aligned and RAM).
std::vector<const uint8_t*> PageSources(const GuestMemory& mem, const std::vector<uint64_t>& pas, const char* op) {
  std::vector<const uint8_t*> src(pas.size());
  for (size_t i = 0; i < pas.size(); i++) {
    if (pas[i] % kPage != 0) {
      Raise("GUEST_ALIGN", std::string("machine: ") + op + " address " + Hex(pas[i]) + " is not 4 KiB aligned");
    }
    src[i] = mem.Resolve(pas[i], kPage, op).front().host;  // a page never straddles regions (page aligned)
  }
  return src;
}

}  // namespace

Napi::Function GuestRam::Init(Napi::Env env) {
  return DefineClass(env, "NativeGuestRam",
                     {
                         CodedMethod<GuestRam, &GuestRam::Read>("read"),
                         CodedMethod<GuestRam, &GuestRam::Write>("write"),
                         CodedMethod<GuestRam, &GuestRam::View>("view"),
                         CodedMethod<GuestRam, &GuestRam::Copy>("copy"),
                         CodedMethod<GuestRam, &GuestRam::Fill>("fill"),
                         CodedMethod<GuestRam, &GuestRam::Equals>("equals"),
                         CodedMethod<GuestRam, &GuestRam::NonZeroPages>("nonZeroPages"),
                         CodedMethod<GuestRam, &GuestRam::PageDigests>("pageDigests"),
                         CodedMethod<GuestRam, &GuestRam::GatherPages>("gatherPages"),
                         CodedMethod<GuestRam, &GuestRam::PageDigestsAt>("pageDigestsAt"),
                         CodedMethod<GuestRam, &GuestRam::ResidentBytes>("residentBytes"),
                         CodedMethod<GuestRam, &GuestRam::Close>("close"),
                     });
}

GuestRam::GuestRam(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GuestRam>(info) {
  Coded(info.Env(), [&] {
    auto regions = ParseList(info[0], "GUEST_REGIONS", "regions", [](const Napi::Value& v) {
      Options o(v, "GUEST_REGIONS", "region");
      return GuestMemory::Region{o.U64("base"), o.U64("size"), nullptr};
    });
    memory_ = std::make_shared<GuestMemory>(regions);
  });
}

Napi::Value GuestRam::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t addr = Arg(info, 0, "addr");
  uint64_t len = Arg(info, 1, "len");
  if (len > kMaxView) Raise("GUEST_VIEW_TOO_LARGE", "machine: read of " + Hex(len) + " bytes exceeds 1 GiB");
  auto chunks = memory_->Resolve(addr, len, "read");
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, len);
  uint8_t* dst = out.Data();
  for (const GuestMemory::Chunk& c : chunks) {
    memcpy(dst, c.host, c.len);
    dst += c.len;
  }
  return out;
}

Napi::Value GuestRam::Write(const Napi::CallbackInfo& info) {
  uint64_t addr = Arg(info, 0, "addr");
  ByteView src = Bytes(info[1], kRange, "bytes", true);
  const uint8_t* s = src.data;
  for (const GuestMemory::Chunk& c : memory_->Resolve(addr, src.size, "write")) {
    memmove(c.host, s, c.len);
    s += c.len;
  }
  return info.Env().Undefined();
}

Napi::Value GuestRam::View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t addr = Arg(info, 0, "addr");
  uint64_t len = Arg(info, 1, "len");
  if (len > kMaxView) Raise("GUEST_VIEW_TOO_LARGE", "machine: view of " + Hex(len) + " bytes exceeds 1 GiB");
  auto chunks = memory_->Resolve(addr, len, "view");
  if (chunks.size() > 1) {
    Raise(kRange, "machine: view " + Hex(addr) + " + " + Hex(len) + " crosses a RAM region boundary");
  }
  uint8_t* p = chunks.empty() ? nullptr : chunks[0].host;
  if (p == nullptr || len == 0) return Napi::Buffer<uint8_t>::New(env, 0);
  std::shared_ptr<GuestMemory> mem = memory_;
  mem->Pin();
  return Napi::Buffer<uint8_t>::New(env, p, len, [mem](Napi::Env, uint8_t*) { mem->Unpin(); });
}

Napi::Value GuestRam::Copy(const Napi::CallbackInfo& info) {
  uint64_t dst = Arg(info, 0, "dst");
  uint64_t src = Arg(info, 1, "src");
  uint64_t len = Arg(info, 2, "len");
  auto d = memory_->Resolve(dst, len, "copy destination");
  auto s = memory_->Resolve(src, len, "copy source");
  // Pair destination and source chunks into pieces that are contiguous on both sides.
  struct Piece {
    uint8_t* d;
    const uint8_t* s;
    uint64_t n;
  };
  std::vector<Piece> pieces;
  size_t di = 0, si = 0;
  uint64_t doff = 0, soff = 0;
  while (di < d.size() && si < s.size()) {
    uint64_t n = std::min(d[di].len - doff, s[si].len - soff);
    pieces.push_back(Piece{d[di].host + doff, s[si].host + soff, n});
    doff += n;
    soff += n;
    if (doff == d[di].len) di++, doff = 0;
    if (soff == s[si].len) si++, soff = 0;
  }
  // memmove semantics across pieces: copy backwards when the destination is above the source.
  if (dst > src) {
    for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) memmove(it->d, it->s, it->n);
  } else {
    for (const Piece& p : pieces) memmove(p.d, p.s, p.n);
  }
  return info.Env().Undefined();
}

Napi::Value GuestRam::Fill(const Napi::CallbackInfo& info) {
  uint64_t addr = Arg(info, 0, "addr");
  uint64_t len = Arg(info, 1, "len");
  uint64_t byte = U64(info[2], kRange, "fill byte", 0xff);
  for (const GuestMemory::Chunk& c : memory_->Resolve(addr, len, "fill")) memset(c.host, static_cast<int>(byte), c.len);
  return info.Env().Undefined();
}

Napi::Value GuestRam::Equals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t addr = Arg(info, 0, "addr");
  ByteView other = Bytes(info[1], kRange, "bytes", true);
  const uint8_t* o = other.data;
  for (const GuestMemory::Chunk& c : memory_->Resolve(addr, other.size, "equals")) {
    if (memcmp(c.host, o, c.len) != 0) return Napi::Boolean::New(env, false);
    o += c.len;
  }
  return Napi::Boolean::New(env, true);
}

// Bitmap (LSB-first) of the 4 KiB pages in [addr, addr+len) holding a non-zero byte.
Napi::Value GuestRam::NonZeroPages(const Napi::CallbackInfo& info) {
  uint64_t addr = Arg(info, 0, "addr");
  uint64_t len = Arg(info, 1, "len");
  if (addr % kPage != 0) Raise("GUEST_ALIGN", "machine: nonZeroPages start " + Hex(addr) + " is not 4 KiB aligned");
  auto chunks = memory_->Resolve(addr, len, "nonZeroPages");
  uint64_t pages = (len + kPage - 1) / kPage;
  Napi::Buffer<uint8_t> bm = Napi::Buffer<uint8_t>::New(info.Env(), (pages + 7) / 8);
  memset(bm.Data(), 0, bm.Length());
  uint64_t page = 0;
  // Chunks start page-aligned (regions are page-aligned and addr is), so pages never straddle.
  for (const GuestMemory::Chunk& c : chunks) {
    for (uint64_t off = 0; off < c.len; off += kPage, page++) {
      uint64_t n = std::min<uint64_t>(kPage, c.len - off);
      if (!PageIsZero(c.host + off, n)) bm.Data()[page / 8] |= static_cast<uint8_t>(1u << (page % 8));
    }
  }
  return bm;
}

// Four u32 digest words per 4 KiB page of [addr, addr+len) (change detection during a dump).
Napi::Value GuestRam::PageDigests(const Napi::CallbackInfo& info) {
  uint64_t addr = Arg(info, 0, "addr");
  uint64_t len = Arg(info, 1, "len");
  if (addr % kPage != 0) Raise("GUEST_ALIGN", "machine: pageDigests start " + Hex(addr) + " is not 4 KiB aligned");
  auto chunks = memory_->Resolve(addr, len, "pageDigests");
  uint64_t pages = (len + kPage - 1) / kPage;
  Napi::Buffer<uint32_t> out = Napi::Buffer<uint32_t>::New(info.Env(), pages * 4);
  uint64_t page = 0;
  for (const GuestMemory::Chunk& c : chunks) {
    for (uint64_t off = 0; off < c.len; off += kPage, page++) {
      PageDigest(c.host + off, std::min<uint64_t>(kPage, c.len - off), out.Data() + page * 4);
    }
  }
  return out;
}

// Copies the 4 KiB pages at the given addresses, in order, into one buffer (a dump's data pages).
Napi::Value GuestRam::GatherPages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<uint64_t> pas = PageList(info[0], "gatherPages");
  if (pas.size() * kPage > kMaxView) Raise("GUEST_VIEW_TOO_LARGE", "machine: gatherPages of more than 1 GiB");
  std::vector<const uint8_t*> src = PageSources(*memory_, pas, "gatherPages");
  // Optional second argument: a Uint32Array of 4 words per page that receives each page's
  // digest (as pageDigests), computed from the copy while it is still in the cache.
  uint32_t* digests = nullptr;
  if (info.Length() > 1 && info[1].IsTypedArray()) {
    Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_uint32_array || ta.ElementLength() != pas.size() * 4) {
      Raise(kRange, "machine: gatherPages digests must be a Uint32Array of 4 words per page");
    }
    digests = reinterpret_cast<uint32_t*>(static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
  }
  // Optional third argument: a Uint8Array to copy into (reused by the caller: no fresh
  // allocation, hence no fresh pages, per batch); the copy is returned as a view of it.
  uint8_t* dst = nullptr;
  Napi::Value result;
  if (info.Length() > 2 && info[2].IsTypedArray()) {
    Napi::TypedArray into = info[2].As<Napi::TypedArray>();
    if (into.TypedArrayType() != napi_uint8_array || into.ByteLength() < pas.size() * kPage) {
      Raise(kRange, "machine: gatherPages target is smaller than the pages");
    }
    dst = static_cast<uint8_t*>(into.ArrayBuffer().Data()) + into.ByteOffset();
    result = Napi::Uint8Array::New(env, pas.size() * kPage, into.ArrayBuffer(), into.ByteOffset());
  } else {
    Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, pas.size() * kPage);
    dst = out.Data();
    result = out;
  }
  for (size_t i = 0; i < pas.size(); i++) {
    memcpy(dst + i * kPage, src[i], kPage);
    if (digests != nullptr) PageDigest(dst + i * kPage, kPage, digests + i * 4);
  }
  return result;
}

// pageDigests for the pages at the given addresses, four u32 words each, in order.
Napi::Value GuestRam::PageDigestsAt(const Napi::CallbackInfo& info) {
  std::vector<uint64_t> pas = PageList(info[0], "pageDigestsAt");
  std::vector<const uint8_t*> src = PageSources(*memory_, pas, "pageDigestsAt");
  Napi::Buffer<uint32_t> out = Napi::Buffer<uint32_t>::New(info.Env(), pas.size() * 4);
  uint32_t* dst = out.Data();
  auto digestRange = [&src, dst](size_t from, size_t to) {
    for (size_t i = from; i < to; i++) PageDigest(src[i], kPage, dst + i * 4);
  };
  // Scattered pages cost a cache and TLB miss each: a large list is split over two threads
  // (the addresses were resolved above; the threads only read guest memory).
  size_t half = pas.size() >= 4096 ? pas.size() / 2 : pas.size();
  std::thread other;
  if (half < pas.size()) {
    try {
      other = std::thread(digestRange, half, pas.size());
    } catch (const std::exception&) {
      half = pas.size();  // no second thread: all on this one
    }
  }
  digestRange(0, half);
  if (other.joinable()) other.join();
  return out;
}

// Bytes of guest RAM currently backed by host memory (mincore over every region).
Napi::Value GuestRam::ResidentBytes(const Napi::CallbackInfo& info) {
  return Big(info.Env(), memory_->ResidentBytes());
}

Napi::Value GuestRam::Close(const Napi::CallbackInfo& info) {
  memory_->Close();
  return info.Env().Undefined();
}

}  // namespace kboot
