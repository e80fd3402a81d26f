/* buf.c - growable byte buffer with a hard cap, and allocation hooks. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void *udos__alloc(size_t n)
{
	return malloc(n ? n : 1);
}

void *udos__calloc(size_t n, size_t sz)
{
	return calloc(n ? n : 1, sz ? sz : 1);
}

int udos_buf_reserve(udos_buf *b, size_t extra)
{
	size_t need, ncap, max = b->max ? b->max : SIZE_MAX;
	uint8_t *p;

	if (__builtin_add_overflow(b->len, extra, &need) || need > max)
		return udos__err(-EFBIG, "buffer would exceed %zu bytes", max);
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 4096;
	while (ncap < need)
		ncap = ncap > max / 2 ? max : ncap * 2;
	p = realloc(b->data, ncap);
	if (!p)
		return udos__err(-ENOMEM, "out of memory (%zu bytes)", ncap);
	b->data = p;
	b->cap = ncap;
	return 0;
}

int udos_buf_append(udos_buf *b, const void *data, size_t len)
{
	int rc = udos_buf_reserve(b, len);

	if (rc < 0)
		return rc;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

void udos_buf_release(udos_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
