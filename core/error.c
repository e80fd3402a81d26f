/* error.c - thread-local error detail and one strerror for both ranges. */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char detail[1024];

int udos__err(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return code;
}

void udos__err_clear(void)
{
	detail[0] = '\0';
}

const char *udos_error_detail(void)
{
	return detail;
}

const char *udos_strerror(int code)
{
	static _Thread_local char buf[128];

	switch (code) {
	case UDOS_OK:
		return "success";
	case UDOS_ENOTFOUND:
		return "not found";
	case UDOS_ECORRUPT:
		return "corrupt data";
	case UDOS_EFORMAT:
		return "unsupported format version";
	case UDOS_ELOCKED:
		return "another process is writing packs";
	case UDOS_EINDEX:
		return "index error";
	case UDOS_ECODEC:
		return "compression error";
	case UDOS_ENOTSTORE:
		return "not a udos container";
	case UDOS_EEXIST:
		return "container already exists or folder not empty";
	case UDOS_ECHANGED:
		return "file changed while being read";
	case UDOS_EHASH:
		return "content does not match its hash";
	case UDOS_EAMBIGUOUS:
		return "ambiguous id prefix";
	}
	if (code < 0 && code > -4096) {
		/* strerror_r (GNU) may return a static string */
		const char *s = strerror_r(-code, buf, sizeof(buf));
		if (s != buf)
			snprintf(buf, sizeof(buf), "%s", s);
		/* lowercase the first letter, house style for messages */
		if (buf[0] >= 'A' && buf[0] <= 'Z')
			buf[0] = (char)(buf[0] - 'A' + 'a');
		return buf;
	}
	snprintf(buf, sizeof(buf), "unknown error %d", code);
	return buf;
}

const char *udos_version(void)
{
	return UDOS_VERSION_STRING;
}
