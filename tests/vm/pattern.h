/* tests/vm/pattern.h - the bytes guest and host agree on: the byte at an
 * absolute offset is a function of (seed, offset) alone, so a region written
 * on one side is checked on the other with nothing else shared. */
#ifndef SGF_VM_PATTERN_H
#define SGF_VM_PATTERN_H

#include <stddef.h>
#include <stdint.h>

/* splitmix64 of one 8-byte word's index: neighbours differ in every byte,
 * so a shifted or misplaced page never matches by chance. */
static inline uint64_t vm_pat_word(uint64_t seed, uint64_t index)
{
	uint64_t z = seed * 0x9e3779b97f4a7c15ull + index + 1;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline unsigned char vm_pat_byte(uint64_t seed, uint64_t off)
{
	return (unsigned char)(vm_pat_word(seed, off / 8) >> (8 * (off % 8)));
}

/* buf holds the pattern's bytes [off, off + len). */
static inline void vm_pat_fill(unsigned char *buf, size_t len, uint64_t off, uint64_t seed)
{
	uint64_t w = vm_pat_word(seed, off / 8);
	for (size_t i = 0; i < len; i++) {
		uint64_t at = off + i;
		if (i != 0 && at % 8 == 0)
			w = vm_pat_word(seed, at / 8);
		buf[i] = (unsigned char)(w >> (8 * (at % 8)));
	}
}

/* Index of the first byte of buf that differs from the pattern at off, or
 * len when all match. */
static inline size_t vm_pat_check(const unsigned char *buf, size_t len, uint64_t off,
				  uint64_t seed)
{
	uint64_t w = vm_pat_word(seed, off / 8);
	for (size_t i = 0; i < len; i++) {
		uint64_t at = off + i;
		if (i != 0 && at % 8 == 0)
			w = vm_pat_word(seed, at / 8);
		if (buf[i] != (unsigned char)(w >> (8 * (at % 8))))
			return i;
	}
	return len;
}

#endif
