/* array: growable arrays and the FNV-1a hash of zones/base. */
#include "zones/base/array.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "zones/base/hash.h"

static void test_grow(void)
{
	uint32_t *v = NULL;
	size_t cap = 0;

	CHECK_INT_EQ(array_grow((void **)&v, &cap, 0, 1, sizeof(*v)), 0);
	CHECK_INT_EQ(cap, 16);
	for (uint32_t i = 0; i < 1000; i++) {
		CHECK_INT_EQ(array_grow((void **)&v, &cap, i, 1, sizeof(*v)), 0);
		CHECK(cap > i);
		v[i] = i;
	}
	CHECK_INT_EQ(cap, 1024);
	for (uint32_t i = 0; i < 1000; i++)
		CHECK_INT_EQ(v[i], i);
	CHECK_INT_EQ(array_grow((void **)&v, &cap, 1000, 5000, sizeof(*v)), 0);
	CHECK_INT_EQ(cap, 8192);
	/* sizes past the address space are refused and nothing changes */
	uint32_t *before = v;
	CHECK_INT_EQ(array_grow((void **)&v, &cap, 1000, SIZE_MAX, sizeof(*v)), -ENOMEM);
	CHECK_INT_EQ(array_grow((void **)&v, &cap, 1000, SIZE_MAX / 4, sizeof(*v)), -ENOMEM);
	CHECK(v == before);
	CHECK_INT_EQ(cap, 8192);
	free(v);
}

static void test_fnv(void)
{
	/* the published FNV-1a test vectors */
	CHECK_INT_EQ(hash_fnv32(HASH_FNV32_INIT, "", 0), 0x811c9dc5u);
	CHECK_INT_EQ(hash_fnv32(HASH_FNV32_INIT, "a", 1), 0xe40c292cu);
	CHECK(hash_fnv64(HASH_FNV64_INIT, "a", 1) == 0xaf63dc4c8601ec8cull);
	CHECK(hash_fnv64(HASH_FNV64_INIT, "foobar", 6) == 0x85944171f73967e8ull);
	/* the separator keeps "a"+"bc" apart from "ab"+"c" */
	CHECK(hash_fnv64_str(hash_fnv64_str(HASH_FNV64_INIT, "a"), "bc") !=
	      hash_fnv64_str(hash_fnv64_str(HASH_FNV64_INIT, "ab"), "c"));
}

int main(void)
{
	test_grow();
	test_fnv();
	return 0;
}
