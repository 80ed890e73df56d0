// Native guest RAM: guest-physical memory as anonymous MAP_NORESERVE mappings.
//
// Contract (mirrors machine/ram.ts `GuestRam`):
//  - constructed from regions {base, size} (bigint, 4 KiB aligned, non-overlapping, sorted
//    by the JS side); each region is one mmap(PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|
//    MAP_NORESERVE), so only touched pages cost memory;
//  - every operation takes guest-physical bigint addresses and resolves the whole range
//    before touching memory: a range that starts or ends outside RAM, or crosses a hole
//    between regions, throws (the JS side turns it into MachineError GUEST_RANGE) and
//    nothing is read or written; a range may cross from one region into an adjacent one;
//  - views are zero-copy Buffers over one region (<= 1 GiB each, enforced in JS too), and
//    each view holds a reference to its RAM object so the mapping outlives the view;
//  - close() unmaps once no view is alive (deferred to the last view's finalizer otherwise).
// Source for the page-size and residency semantics: mmap(2), mincore(2) (Linux).
#include "guest_ram.h"

#include "page_digest.h"

#include <thread>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace kboot {

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kMaxView = 1ull << 30;  // never wrap more than 1 GiB in one Buffer

std::string Hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

uint64_t GetU64(const Napi::Value& v, const char* what) {
  if (!v.IsBigInt()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a bigint");
  bool lossless = false;
  uint64_t r = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless) throw Napi::RangeError::New(v.Env(), std::string(what) + " is not a u64");
  return r;
}

}  // namespace

// Error thrown for guest-range failures; JS maps the "GUEST_*:" prefix to a MachineError.
[[noreturn]] void GuestRam::Fail(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("kbootCode", Napi::String::New(env, code));
  throw e;
}

Napi::Function GuestRam::Init(Napi::Env env) {
  return DefineClass(env, "NativeGuestRam",
                     {
                         InstanceMethod<&GuestRam::Read>("read"),
                         InstanceMethod<&GuestRam::Write>("write"),
                         InstanceMethod<&GuestRam::View>("view"),
                         InstanceMethod<&GuestRam::Copy>("copy"),
                         InstanceMethod<&GuestRam::Fill>("fill"),
                         InstanceMethod<&GuestRam::Equals>("equals"),
                         InstanceMethod<&GuestRam::NonZeroPages>("nonZeroPages"),
                         InstanceMethod<&GuestRam::PageDigests>("pageDigests"),
                         InstanceMethod<&GuestRam::GatherPages>("gatherPages"),
                         InstanceMethod<&GuestRam::PageDigestsAt>("pageDigestsAt"),
                         InstanceMethod<&GuestRam::ResidentBytes>("residentBytes"),
                         InstanceMethod<&GuestRam::Close>("close"),
                     });
}

GuestRam::GuestRam(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GuestRam>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "regions must be an array");
  Napi::Array arr = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value item = arr.Get(i);
    if (!item.IsObject()) throw Napi::TypeError::New(env, "region must be an object");
    Napi::Object o = item.As<Napi::Object>();
    Region r{GetU64(o.Get("base"), "region.base"), GetU64(o.Get("size"), "region.size"), nullptr};
    if (r.size == 0 || r.base % kPage != 0 || r.size % kPage != 0 || r.base + r.size < r.base) {
      ReleaseAll();
      Fail(env, "GUEST_REGIONS", "machine: bad RAM region (base=" + Hex(r.base) + ", size=" + Hex(r.size) + ")");
    }
    void* p = mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ReleaseAll();
      Fail(env, "NATIVE_SYSCALL",
           "native: mmap of " + Hex(r.size) + " bytes for RAM at " + Hex(r.base) + " failed: " + strerror(err));
    }
    r.host = static_cast<uint8_t*>(p);
    regions_.push_back(r);
  }
  std::sort(regions_.begin(), regions_.end(), [](const Region& a, const Region& b) { return a.base < b.base; });
  for (size_t i = 1; i < regions_.size(); i++) {
    if (regions_[i - 1].base + regions_[i - 1].size > regions_[i].base) {
      std::string msg = "machine: RAM regions overlap (" + Hex(regions_[i - 1].base) + " and " + Hex(regions_[i].base) + ")";
      ReleaseAll();
      Fail(env, "GUEST_REGIONS", msg);
    }
  }
}

GuestRam::~GuestRam() { ReleaseAll(); }

void GuestRam::ReleaseAll() {
  for (Region& r : regions_) {
    if (r.host != nullptr) munmap(r.host, r.size);
    r.host = nullptr;
  }
  regions_.clear();
}

// Splits [addr, addr+len) into host chunks. Throws GUEST_RANGE unless every byte is RAM.
std::vector<GuestRam::Chunk> GuestRam::Resolve(Napi::Env env, uint64_t addr, uint64_t len, const char* op) const {
  if (closed_) Fail(env, "GUEST_CLOSED", std::string("machine: ") + op + " on closed guest RAM");
  std::vector<Chunk> out;
  if (len == 0) {
    // An empty access is valid only at an address inside RAM or at a region's end.
    for (const Region& r : regions_) {
      if (addr >= r.base && addr <= r.base + r.size) return out;
    }
    Fail(env, "GUEST_RANGE", std::string("machine: ") + op + " of 0 bytes at " + Hex(addr) + " is outside guest RAM");
  }
  uint64_t end = addr + len;
  if (end < addr) {
    Fail(env, "GUEST_RANGE", std::string("machine: ") + op + " at " + Hex(addr) + " + " + Hex(len) + " wraps past 2^64");
  }
  uint64_t cur = addr;
  for (const Region& r : regions_) {
    if (cur >= r.base + r.size) continue;
    if (cur < r.base) break;  // hole
    uint64_t take = std::min(end, r.base + r.size) - cur;
    out.push_back(Chunk{r.host + (cur - r.base), take});
    cur += take;
    if (cur == end) return out;
  }
  Fail(env, "GUEST_RANGE",
       std::string("machine: ") + op + " " + Hex(addr) + "-" + Hex(end - 1) + " is not guest RAM (first missing byte " +
           Hex(cur) + ")");
}

Napi::Value GuestRam::Read(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t addr = GetU64(info[0], "addr");
  uint64_t len = GetU64(info[1], "len");
  if (len > kMaxView) Fail(env, "GUEST_VIEW_TOO_LARGE", "machine: read of " + Hex(len) + " bytes exceeds 1 GiB");
  auto chunks = Resolve(env, addr, len, "read");
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, len);
  uint8_t* dst = out.Data();
  for (const Chunk& c : chunks) {
    memcpy(dst, c.host, c.len);
    dst += c.len;
  }
  return out;
}

Napi::Value GuestRam::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t addr = GetU64(info[0], "addr");
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(env, "bytes must be a Uint8Array");
  Napi::Uint8Array src = info[1].As<Napi::Uint8Array>();
  auto chunks = Resolve(env, addr, src.ByteLength(), "write");
  const uint8_t* s = src.Data();
  for (const Chunk& c : chunks) {
    memmove(c.host, s, c.len);
    s += c.len;
  }
  return env.Undefined();
}

Napi::Value GuestRam::View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t addr = GetU64(info[0], "addr");
  uint64_t len = GetU64(info[1], "len");
  if (len > kMaxView) Fail(env, "GUEST_VIEW_TOO_LARGE", "machine: view of " + Hex(len) + " bytes exceeds 1 GiB");
  auto chunks = Resolve(env, addr, len, "view");
  if (chunks.size() > 1) {
    Fail(env, "GUEST_RANGE", "machine: view " + Hex(addr) + " + " + Hex(len) + " crosses a RAM region boundary");
  }
  uint8_t* p = chunks.empty() ? nullptr : chunks[0].host;
  if (p == nullptr || len == 0) return Napi::Buffer<uint8_t>::New(env, 0);
  auto* keep = new Napi::ObjectReference(Napi::Persistent(Value()));
  views_++;
  return Napi::Buffer<uint8_t>::New(env, p, len, [this, keep](Napi::Env, uint8_t*) {
    views_--;
    if (closed_ && views_ == 0) ReleaseAll();
    delete keep;
  });
}

Napi::Value GuestRam::Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t dst = GetU64(info[0], "dst");
  uint64_t src = GetU64(info[1], "src");
  uint64_t len = GetU64(info[2], "len");
  auto d = Resolve(env, dst, len, "copy destination");
  auto s = Resolve(env, src, len, "copy source");
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
  return env.Undefined();
}

Napi::Value GuestRam::Fill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t addr = GetU64(info[0], "addr");
  uint64_t len = GetU64(info[1], "len");
  uint32_t byte = info[2].As<Napi::Number>().Uint32Value();
  for (const Chunk& c : Resolve(env, addr, len, "fill")) memset(c.host, static_cast<int>(byte & 0xff), c.len);
  return env.Undefined();
}

Napi::Value GuestRam::Equals(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t addr = GetU64(info[0], "addr");
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(env, "bytes must be a Uint8Array");
  Napi::Uint8Array other = info[1].As<Napi::Uint8Array>();
  const uint8_t* o = other.Data();
  for (const Chunk& c : Resolve(env, addr, other.ByteLength(), "equals")) {
    if (memcmp(c.host, o, c.len) != 0) return Napi::Boolean::New(env, false);
    o += c.len;
  }
  return Napi::Boolean::New(env, true);
}

namespace {
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
}  // namespace

// Bitmap (LSB-first) of the 4 KiB pages in [addr, addr+len) holding a non-zero byte.
Napi::Value GuestRam::NonZeroPages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t addr = GetU64(info[0], "addr");
  uint64_t len = GetU64(info[1], "len");
  if (addr % kPage != 0) Fail(env, "GUEST_ALIGN", "machine: nonZeroPages start " + Hex(addr) + " is not 4 KiB aligned");
  auto chunks = Resolve(env, addr, len, "nonZeroPages");
  uint64_t pages = (len + kPage - 1) / kPage;
  Napi::Buffer<uint8_t> bm = Napi::Buffer<uint8_t>::New(env, (pages + 7) / 8);
  memset(bm.Data(), 0, bm.Length());
  uint64_t page = 0;
  // Chunks start page-aligned (regions are page-aligned and addr is), so pages never straddle.
  for (const Chunk& c : chunks) {
    for (uint64_t off = 0; off < c.len; off += kPage, page++) {
      uint64_t n = std::min<uint64_t>(kPage, c.len - off);
      if (!PageIsZero(c.host + off, n)) bm.Data()[page / 8] |= static_cast<uint8_t>(1u << (page % 8));
    }
  }
  return bm;
}

// Four u32 digest words per 4 KiB page of [addr, addr+len) (change detection during a dump).
Napi::Value GuestRam::PageDigests(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t addr = GetU64(info[0], "addr");
  uint64_t len = GetU64(info[1], "len");
  if (addr % kPage != 0) Fail(env, "GUEST_ALIGN", "machine: pageDigests start " + Hex(addr) + " is not 4 KiB aligned");
  auto chunks = Resolve(env, addr, len, "pageDigests");
  uint64_t pages = (len + kPage - 1) / kPage;
  Napi::Buffer<uint32_t> out = Napi::Buffer<uint32_t>::New(env, pages * 4);
  uint64_t page = 0;
  for (const Chunk& c : chunks) {
    for (uint64_t off = 0; off < c.len; off += kPage, page++) {
      PageDigest(c.host + off, std::min<uint64_t>(kPage, c.len - off), out.Data() + page * 4);
    }
  }
  return out;
}

namespace {
// Page addresses passed as the bytes of a BigUint64Array (little-endian u64 each).
std::vector<uint64_t> PageList(Napi::Env env, const Napi::Value& v, const char* op) {
  if (!v.IsTypedArray() && !v.IsBuffer()) GuestRam::Fail(env, "GUEST_RANGE", std::string("machine: ") + op + " takes page addresses");
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  size_t bytes = ta.ByteLength();
  if (bytes % 8 != 0) GuestRam::Fail(env, "GUEST_RANGE", std::string("machine: ") + op + " takes whole u64 addresses");
  std::vector<uint64_t> pas(bytes / 8);
  const uint8_t* src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  memcpy(pas.data(), src, bytes);
  return pas;
}
}  // namespace

// Copies the 4 KiB pages at the given addresses, in order, into one buffer (a dump's data pages).
Napi::Value GuestRam::GatherPages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<uint64_t> pas = PageList(env, info[0], "gatherPages");
  if (pas.size() * kPage > kMaxView) Fail(env, "GUEST_VIEW_TOO_LARGE", "machine: gatherPages of more than 1 GiB");
  std::vector<const uint8_t*> src(pas.size());
  for (size_t i = 0; i < pas.size(); i++) {
    if (pas[i] % kPage != 0) Fail(env, "GUEST_ALIGN", "machine: gatherPages address " + Hex(pas[i]) + " is not 4 KiB aligned");
    auto chunks = Resolve(env, pas[i], kPage, "gatherPages");
    src[i] = chunks.front().host;  // a page never straddles regions (they are page aligned)
  }
  // Optional second argument: a Uint32Array of 4 words per page that receives each page's
  // digest (as pageDigests), computed from the copy while it is still in the cache.
  uint32_t* digests = nullptr;
  if (info.Length() > 1 && info[1].IsTypedArray()) {
    Napi::TypedArray ta = info[1].As<Napi::TypedArray>();
    if (ta.TypedArrayType() != napi_uint32_array || ta.ElementLength() != pas.size() * 4) {
      GuestRam::Fail(env, "GUEST_RANGE", "machine: gatherPages digests must be a Uint32Array of 4 words per page");
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
      GuestRam::Fail(env, "GUEST_RANGE", "machine: gatherPages target is smaller than the pages");
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
  Napi::Env env = info.Env();
  std::vector<uint64_t> pas = PageList(env, info[0], "pageDigestsAt");
  std::vector<const uint8_t*> src(pas.size());
  for (size_t i = 0; i < pas.size(); i++) {
    if (pas[i] % kPage != 0) Fail(env, "GUEST_ALIGN", "machine: pageDigestsAt address " + Hex(pas[i]) + " is not 4 KiB aligned");
    src[i] = Resolve(env, pas[i], kPage, "pageDigestsAt").front().host;
  }
  Napi::Buffer<uint32_t> out = Napi::Buffer<uint32_t>::New(env, pas.size() * 4);
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
  Napi::Env env = info.Env();
  if (closed_) Fail(env, "GUEST_CLOSED", "machine: residentBytes on closed guest RAM");
  long hostPage = sysconf(_SC_PAGESIZE);
  uint64_t total = 0;
  constexpr uint64_t kStep = 1ull << 30;
  std::vector<unsigned char> vec;
  for (const Region& r : regions_) {
    for (uint64_t off = 0; off < r.size; off += kStep) {
      uint64_t n = std::min(kStep, r.size - off);
      vec.resize((n + hostPage - 1) / hostPage);
      if (mincore(r.host + off, n, vec.data()) != 0) {
        Fail(env, "NATIVE_SYSCALL", std::string("native: mincore failed: ") + strerror(errno));
      }
      for (unsigned char v : vec) total += (v & 1) ? hostPage : 0;
    }
  }
  return Napi::BigInt::New(env, total);
}

Napi::Value GuestRam::Close(const Napi::CallbackInfo& info) {
  closed_ = true;
  if (views_ == 0) ReleaseAll();
  return info.Env().Undefined();
}

}  // namespace kboot
