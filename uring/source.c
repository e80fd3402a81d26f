/* uring/source.c - where the paths of an ingest run come from: an array,
 * or a descriptor of separated entries. */
#include "ingest_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ing_argv_next(void *ctx, const char **p)
{
	struct argv_src *a = ctx;

	if (a->i >= a->n)
		return 0;
	*p = a->paths[a->i++];
	return 1;
}

int ing_fd_next(void *ctx, const char **p)
{
	struct fd_src *s = ctx;

	for (;;) {
		char *e = s->pos < s->len ? memchr(s->buf + s->pos, s->sep,
						   s->len - s->pos)
					  : NULL;
		size_t n;

		if (e || (s->eof && s->pos < s->len)) {
			n = e ? (size_t)(e - (s->buf + s->pos))
			      : s->len - s->pos;
			if (n + 1 > s->line_cap) {
				char *nl = realloc(s->line, n + 1);

				if (!nl)
					return udos__err(-ENOMEM,
							 "out of memory");
				s->line = nl;
				s->line_cap = n + 1;
			}
			memcpy(s->line, s->buf + s->pos, n);
			s->line[n] = '\0';
			s->pos += n + (e ? 1 : 0);
			if (!n)
				continue;
			*p = s->line;
			return 1;
		}
		if (s->eof)
			return 0;
		/* compact, grow, read more */
		if (s->pos) {
			memmove(s->buf, s->buf + s->pos, s->len - s->pos);
			s->len -= s->pos;
			s->pos = 0;
		}
		if (s->len == s->cap) {
			size_t nc = s->cap ? s->cap * 2 : 65536;
			char *nb = realloc(s->buf, nc);

			if (!nb)
				return udos__err(-ENOMEM, "out of memory");
			s->buf = nb;
			s->cap = nc;
		}
		{
			ssize_t got =
				read(s->fd, s->buf + s->len, s->cap - s->len);

			if (got < 0) {
				if (errno == EINTR)
					continue;
				return udos__err(-errno, "read path list: %s",
						 strerror(errno));
			}
			if (got == 0)
				s->eof = true;
			s->len += (size_t)got;
		}
	}
}
