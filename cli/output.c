/* cli/output.c - JSON string escaping, size formatting, progress on stderr. */
#include "output.h"

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
}

void progress_update(struct progress *p, uint64_t done, uint64_t total)
{
	struct timespec now;
	long long ms;
	char a[32], b[32];

	if (!p->enabled)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (now.tv_sec - p->last.tv_sec) * 1000LL +
	     (now.tv_nsec - p->last.tv_nsec) / 1000000;
	if (p->drawn && ms < 100 && !(total && done >= total))
		return;
	p->last = now;
	p->drawn = true;
	if (p->unit) {
		snprintf(a, sizeof(a), "%llu", (unsigned long long)done);
		snprintf(b, sizeof(b), "%llu", (unsigned long long)total);
	} else {
		human_size(a, sizeof(a), done);
		human_size(b, sizeof(b), total);
	}
	if (total)
		fprintf(stderr, "\r\033[K%s: %s/%s %s (%d%%)", p->label, a, b,
			p->unit ? p->unit : "",
			(int)(total ? done * 100 / total : 0));
	else
		fprintf(stderr, "\r\033[K%s: %s %s", p->label, a,
			p->unit ? p->unit : "");
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

void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
	progress_update(ctx, done, total);
}
