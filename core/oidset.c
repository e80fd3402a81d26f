/* oidset.c - a set of object ids (open addressing), for the ids a writer
 * or an ingest run has added but not yet committed. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ids are SHA-256: any 8 of their bytes are a good hash */
static size_t slot_of(const udos_oid *o, size_t cap)
{
	uint64_t v;

	memcpy(&v, o->id, 8);
	return (size_t)v & (cap - 1);
}

bool udos__oidset_has(const udos__oidset *s, const udos_oid *o)
{
	if (!s->n)
		return false;
	for (size_t i = slot_of(o, s->cap); s->used[i];
	     i = (i + 1) & (s->cap - 1))
		if (!udos_oid_cmp(&s->slots[i], o))
			return true;
	return false;
}

static void put(udos__oidset *s, const udos_oid *o)
{
	size_t i = slot_of(o, s->cap);

	while (s->used[i])
		i = (i + 1) & (s->cap - 1);
	s->used[i] = 1;
	s->slots[i] = *o;
	s->n++;
}

int udos__oidset_add(udos__oidset *s, const udos_oid *o)
{
	if ((s->n + 1) * 2 > s->cap) {
		udos__oidset g = { 0 };

		g.cap = s->cap ? s->cap * 2 : 1024;
		g.slots = udos__alloc(g.cap * sizeof(*g.slots));
		g.used = udos__calloc(g.cap, 1);
		if (!g.slots || !g.used) {
			free(g.slots);
			free(g.used);
			return udos__err(-ENOMEM, "out of memory");
		}
		for (size_t i = 0; i < s->cap; i++)
			if (s->used[i])
				put(&g, &s->slots[i]);
		free(s->slots);
		free(s->used);
		*s = g;
	}
	put(s, o);
	return 0;
}

void udos__oidset_clear(udos__oidset *s)
{
	if (s->n)
		memset(s->used, 0, s->cap);
	s->n = 0;
}

void udos__oidset_release(udos__oidset *s)
{
	free(s->slots);
	free(s->used);
	memset(s, 0, sizeof(*s));
}
