/* cli/idlist.c - ids from the command line and from --files-from. */
#include "idlist.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "ambiguous id prefix (N objects: ID ID ...) 'P'" on one line */
static int ambiguous(struct cli *cli, const udos_oid *cand, size_t shown,
		     size_t n, const char *s, size_t len)
{
	char msg[1024], hex[UDOS_OID_HEXSZ + 1], subject[80];
	size_t used, i;

	used = (size_t)snprintf(msg, sizeof(msg), "%s (%zu objects:",
				udos_strerror(UDOS_EAMBIGUOUS), n);
	for (i = 0; i < shown && used < sizeof(msg); i++)
		used += (size_t)snprintf(msg + used, sizeof(msg) - used, " %s",
					 cli_fmt_oid(cli, hex, &cand[i]));
	if (used < sizeof(msg))
		snprintf(msg + used, sizeof(msg) - used, "%s)",
			 n > shown ? " ..." : "");
	snprintf(subject, sizeof(subject), "%.*s", (int)len, s);
	cli_msg(cli, msg, subject);
	return EXIT_USAGE;
}

/* 0 with *out, 1 for a prefix that matched nothing (said), or an exit
 * status */
static int resolve(struct cli *cli, struct idlist *l, udos_oid *out,
		   const char *s, size_t len)
{
	udos_oid cand[8];
	char shown[80];
	size_t n = 0;
	int rc;

	rc = udos_object_resolve(cand, &n, l->resolve_in, s, len, 8);
	if (rc == 0) {
		*out = cand[0];
		return 0;
	}
	snprintf(shown, sizeof(shown), "%.*s", (int)(len < 70 ? len : 70), s);
	if (rc == UDOS_ENOTFOUND) {
		cli_msg(cli, "not found", shown);
		l->missing++;
		return 1;
	}
	if (rc == UDOS_EAMBIGUOUS)
		return ambiguous(cli, cand, n < 8 ? n : 8, n, s, len);
	if (rc == -EINVAL) {
		/* the detail names it: malformed, or too short */
		cli_msg(cli, udos_error_detail(), NULL);
		return EXIT_USAGE;
	}
	return cli_err(cli, rc, shown);
}

int idlist_push(struct cli *cli, struct idlist *l, const char *s, size_t len)
{
	int rc;

	if (l->n == SIZE_MAX / sizeof(*l->v))
		return cli_err(cli, -ENOMEM, NULL);
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		udos_oid *nv = realloc(l->v, ncap * sizeof(*nv));

		if (!nv)
			return cli_err(cli, -ENOMEM, NULL);
		l->v = nv;
		l->cap = ncap;
	}
	/* a SHA-1 id given to a SHA-256 container is a wrong id (malformed),
	 * not a prefix */
	if (l->resolve_in && len < 2 * l->dsz && len != UDOS_OID_HEXSZ_SHA1 &&
	    !memchr(s, '\0', len)) {
		rc = resolve(cli, l, &l->v[l->n], s, len);
		if (rc)
			return rc == 1 ? 0 : rc;
	} else if (cli_parse_oid_sz(cli, &l->v[l->n], s, len, l->dsz)) {
		return EXIT_USAGE;
	}
	l->n++;
	return 0;
}

int idlist_read(struct cli *cli, struct idlist *l, const char *file)
{
	FILE *f = stdin;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0;

	if (strcmp(file, "-")) {
		f = fopen(file, "re");
		if (!f) {
			cli_msg(cli, strerror(errno), file);
			return errno == ENOENT ? EXIT_NO : EXIT_STORE;
		}
	}
	while (!rc && (len = getline(&line, &cap, f)) >= 0) {
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			len--;
		if (len)
			rc = idlist_push(cli, l, line, (size_t)len);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return rc;
}
