/* cli/idlist.c - ids from the command line and from --files-from. */
#include "idlist.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int idlist_push(struct cli *cli, struct idlist *l, const char *s, size_t len)
{
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
	if (cli_parse_oid_sz(cli, &l->v[l->n], s, len, l->dsz))
		return EXIT_USAGE;
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
