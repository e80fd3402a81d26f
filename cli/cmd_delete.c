/* cli/cmd_delete.c - `udos delete`: remove objects by id. */
#include "cmd.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opt.h"

struct delete_args {
	const char *files_from;
};

static const struct opt delete_opts[] = {
	{ 0, "files-from", OPT_STR, offsetof(struct delete_args, files_from),
	  "FILE|-", NULL, "also delete the ids listed in FILE, one a line" },
	OPT_END_MARK
};

static const struct opt_cmd delete_cmd = {
	"delete", "HASH... | --files-from FILE",
	"Delete objects: their loose file and/or index entry.",
	"Space in packs comes back with 'udos repack'. Every id is checked\n"
	"first: a malformed one is a usage error (2) and nothing is deleted.\n"
	"A missing object is reported, the others are still deleted, and the\n"
	"exit status is 1. Takes the pack-writer lock.\n",
	delete_opts,
};

struct idlist {
	udos_oid *v;
	size_t n, cap;
};

static int push_id(struct cli *cli, struct idlist *l, const char *s,
		   size_t len)
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
	if (cli_parse_oid(cli, &l->v[l->n], s, len))
		return EXIT_USAGE;
	l->n++;
	return 0;
}

static int read_list(struct cli *cli, struct idlist *l, const char *file)
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
			rc = push_id(cli, l, line, (size_t)len);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return rc;
}

int cmd_delete(struct cli *cli, int argc, char **argv)
{
	struct delete_args a = { 0 };
	struct idlist l = { 0 };
	int n, i, rc = 0, ret = 0;
	size_t k;

	n = opt_parse(&delete_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (!n && !a.files_from)
		return opt_usage_error(&delete_cmd, "missing HASH", NULL);
	/* ids are as long as the container says: open, then check them all
	 * before deleting anything */
	rc = cli_open_store(cli);
	for (i = 0; i < n && !rc; i++)
		rc = push_id(cli, &l, argv[i], strlen(argv[i]));
	if (!rc && a.files_from)
		rc = read_list(cli, &l, a.files_from);
	for (k = 0; !rc && k < l.n; k++) {
		char hex[UDOS_OID_HEXSZ + 1];
		int drc = udos_object_delete(cli->st, &l.v[k]);

		cli_fmt_oid(cli, hex, &l.v[k]);
		if (drc == UDOS_ENOTFOUND) {
			cli_msg(cli, "not found", hex);
			ret = EXIT_NO;
		} else if (drc < 0) {
			cli_err(cli, drc, hex);
			rc = EXIT_STORE;
		}
	}
	free(l.v);
	return rc ? rc : ret;
}
