/* cli/output.c - JSON string escaping, size formatting, progress on stderr. */
#include "output.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

/* Length of the valid UTF-8 sequence at s, or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* reject overlong forms, surrogates and values past U+10FFFF */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
	    (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void json_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	putc('"', f);
	while (*s) {
		size_t n;

		switch (*s) {
		case '"':
			fputs("\\\"", f);
			s++;
			continue;
		case '\\':
			fputs("\\\\", f);
			s++;
			continue;
		case '\n':
			fputs("\\n", f);
			s++;
			continue;
		case '\r':
			fputs("\\r", f);
			s++;
			continue;
		case '\t':
			fputs("\\t", f);
			s++;
			continue;
		}
		if (*s < 0x20) {
			fprintf(f, "\\u%04x", *s);
			s++;
			continue;
		}
		n = utf8_len(s);
		if (!n) {
			/* not UTF-8: Python's surrogateescape, so that
			 * os.fsencode(json.loads(...)) gives the bytes back
			 * (docs/DECISIONS.md) */
			fprintf(f, "\\udc%02x", *s);
			s++;
			continue;
		}
		fwrite(s, 1, n, f);
		s += n;
	}
	putc('"', f);
}

const char *human_size(char *buf, size_t len, uint64_t n)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB",
					     "PiB", "EiB" };
	double v = (double)n;
	int u = -1;

	if (n < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)n);
		return buf;
	}
	while (v >= 1024.0 && u < 5) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

void progress_init(struct progress *p, const char *label, const char *unit,
		   bool quiet)
{
	memset(p, 0, sizeof(*p));
	p->label = label;
	p->unit = unit;
	p->enabled = !quiet && isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &p->t0);
}

static double secs_since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) +
	       (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* The rate of `done` per second: the average while young, then smoothed
 * over about 3 s so that the ETA follows a change of pace. */
static double rate_of(struct progress *p, double t, uint64_t done)
{
	double dt = t - p->rate_at;

	if (t < 1.0 || p->rate_at == 0) {
		p->rate = t > 0 ? (double)done / t : 0;
	} else if (dt >= 0.1) {
		double inst = done >= p->rate_done ?
				      (double)(done - p->rate_done) / dt : 0;

		p->rate += (inst - p->rate) * dt / (dt + 3.0);
	} else {
		return p->rate;
	}
	p->rate_at = t;
	p->rate_done = done;
	return p->rate;
}

/* Appends to a fixed line (cut at its size): the line is written in one
 * go, so that a terminal never shows half of it. */
struct line {
	char buf[256];
	size_t len;
};

static void __attribute__((format(printf, 2, 3)))
put(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->len >= sizeof(l->buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, sizeof(l->buf) - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n;
	if (l->len > sizeof(l->buf) - 1)
		l->len = sizeof(l->buf) - 1;
}

void progress_show(struct progress *p, const struct progress_counts *c)
{
	bool bytes = c->bytes_done || c->bytes_total || !p->unit;
	/* the percentage, rate and ETA follow the bytes when their total is
	 * known (a large object then moves them too) */
	bool by_bytes = c->bytes_total || !p->unit;
	uint64_t done = by_bytes ? c->bytes_done : c->done;
	uint64_t total = by_bytes ? c->bytes_total : c->total;
	const char *more = c->growing ? "+" : "";
	struct line l = { .len = 0 };
	struct timespec now;
	char a[32], b[32];
	double t, rate;

	if (!p->enabled)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* at most 10 a second, but the last one (all done) always */
	if (p->drawn && secs_since(&p->last, &now) < 0.1 &&
	    !((c->total || c->bytes_total) && c->done >= c->total &&
	      c->bytes_done >= c->bytes_total && !c->growing))
		return;
	p->last = now;
	p->drawn = true;
	t = secs_since(&p->t0, &now);
	rate = rate_of(p, t, done);

	put(&l, "\r\033[K%s: ", p->label);
	if (p->unit) {
		if (c->total)
			put(&l, "%llu/%llu%s %s", (unsigned long long)c->done,
			    (unsigned long long)c->total, more, p->unit);
		else
			put(&l, "%llu %s", (unsigned long long)c->done,
			    p->unit);
		if (bytes)
			put(&l, ", ");
	}
	if (bytes) {
		human_size(a, sizeof(a), c->bytes_done);
		human_size(b, sizeof(b), c->bytes_total);
		if (c->bytes_total)
			put(&l, "%s/%s%s", a, b, more);
		else
			put(&l, "%s", a);
	}
	if (total)
		put(&l, " (%d%%)",
		    (int)(done >= total ? 100 : done * 100 / total));
	if (by_bytes)
		put(&l, ", %s/s", human_size(a, sizeof(a), (uint64_t)rate));
	else
		put(&l, ", %.0f %s/s", rate, p->unit ? p->unit : "");
	/* not in the first second: too few samples for a rate */
	if (total > done && rate > 0 && t >= 1.0) {
		unsigned long long eta =
			(unsigned long long)((double)(total - done) / rate + 0.5);

		if (eta >= 3600)
			put(&l, ", ETA %llu:%02llu:%02llu", eta / 3600,
			    eta / 60 % 60, eta % 60);
		else
			put(&l, ", ETA %llu:%02llu", eta / 60, eta % 60);
	}
	if (c->failed)
		put(&l, ", %llu failed", (unsigned long long)c->failed);
	fwrite(l.buf, 1, l.len, stderr);
	fflush(stderr);
}

void progress_end(struct progress *p)
{
	if (p->enabled && p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
	p->drawn = false;
}

void progress_cb(void *ctx, const udos_progress *p)
{
	struct progress_counts c = {
		.done = p->done, .total = p->total,
		.bytes_done = p->bytes_done, .bytes_total = p->bytes_total,
	};

	progress_show(ctx, &c);
}
