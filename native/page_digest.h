// The page digest of guest_ram.cc (pageDigests, pageDigestsAt, gatherPages) — see page_digest.cc.
#pragma once

#include <cstdint>

namespace kboot {

/** Four u32 digest words of the `n` bytes at `p` (a 4 KiB page; a shorter tail is zero-padded to a word). */
void PageDigest(const uint8_t* p, uint64_t n, uint32_t out[4]);

}  // namespace kboot
