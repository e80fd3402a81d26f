/* buf.c - growable byte buffer with a hard cap, and allocation hooks. */
#include "internal.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#ifdef UDOS_FAULT_INJECTION
/* ---- fault injection (tests only; see internal.h) ---------------------- */
static atomic_uint fault_kinds;  /* mask of points that count */
static atomic_long fault_left;   /* calls to go; the one reaching 0 fails */
static atomic_bool fault_hit;

void udos__fault_arm(const char *kind, long n)
{
	unsigned mask = 0;

	if (!strcmp(kind, "alloc"))
		mask = UDOS_FAULT_ALLOC;
	else if (!strcmp(kind, "sync"))
		mask = UDOS_FAULT_SYNC;
	else if (!strcmp(kind, "write"))
		mask = UDOS_FAULT_WRITE;
	else if (!strcmp(kind, "all"))
		mask = UDOS_FAULT_ALLOC | UDOS_FAULT_SYNC | UDOS_FAULT_WRITE;
	atomic_store(&fault_kinds, 0);
	atomic_store(&fault_hit, false);
	atomic_store(&fault_left, n > 0 ? n : 0);
	atomic_store(&fault_kinds, n > 0 ? mask : 0);
}

bool udos__fault_fired(void)
{
	return atomic_load(&fault_hit);
}

bool udos__fault_point(unsigned kind)
{
	if (!(atomic_load(&fault_kinds) & kind))
		return false;
	/* exactly one caller sees the count go from 1 to 0 */
	if (atomic_fetch_sub(&fault_left, 1) != 1)
		return false;
	atomic_store(&fault_hit, true);
	return true;
}
#endif

void *udos__alloc(size_t n)
{
	if (UDOS_FAULT(UDOS_FAULT_ALLOC)) { /* fault hook */
		errno = ENOMEM;
		return NULL;
	}
	return malloc(n ? n : 1);
}

void *udos__calloc(size_t n, size_t sz)
{
	if (UDOS_FAULT(UDOS_FAULT_ALLOC)) { /* fault hook */
		errno = ENOMEM;
		return NULL;
	}
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
