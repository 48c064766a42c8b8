/* SPDX-License-Identifier: MIT */
/*
 * The runtime's one PRNG, for choices that need speed and spread, not
 * quality: steal victims, the LIFO slot's turn under chaos mode, select's
 * poll order. xorshift64 (Marsaglia) steps a 64-bit state that must never
 * be 0; splitmix64 turns any number (a seed and an index, a clock) into
 * such a state. A leaf: no state of its own, no other weft header.
 */
#ifndef WEFT_PRNG_H
#define WEFT_PRNG_H

#include <stdint.h>

/* The next 32 bits from @state (not 0), which it advances. */
static inline uint32_t prng_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*state = x;
	return (uint32_t)(x >> 32);
}

/* A state for prng_next() from @x (splitmix64's finaliser); never 0. */
static inline uint64_t prng_seed(uint64_t x)
{
	uint64_t z = x + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return z ? z : 1;
}

#endif /* WEFT_PRNG_H */
