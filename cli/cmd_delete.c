/* cli/cmd_delete.c - `udos delete`: remove objects by id. */
#include "cmd.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idlist.h"
#include "opt.h"

struct delete_args {
	const char *files_from;
	const char *wait;
};

static const struct opt delete_opts[] = {
	{ 0, "files-from", OPT_STR, offsetof(struct delete_args, files_from),
	  "FILE|-", NULL, "also delete the ids listed in FILE, one a line" },
	OPT_WAIT(struct delete_args),
	OPT_END_MARK
};

static const struct opt_cmd delete_cmd = {
	"delete", "HASH... | --files-from FILE",
	"Delete objects: their loose file and/or index entry.",
	"Space in packs comes back with 'udos repack'. An id may be a unique\n"
	"prefix of at least 8 hex digits. Every id is checked first: a\n"
	"malformed one, a shorter prefix or an ambiguous one is a usage error\n"
	"(2) and nothing is deleted. A missing object is reported, the others\n"
	"are still deleted, and the exit status is 1. Deleting a packed object\n"
	"takes the pack-writer lock; loose-only objects are deleted while\n"
	"another process packs (an object that process has already copied\n"
	"into a pack stays there, packed).\n",
	delete_opts,
};

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
	cli->wait = a.wait;
	if (!a.wait)
		cli->mode = CMD_READ_STORE; /* the lock only for packed ids,
					       taken by the first of them */
	rc = cli_open_store(cli);
	if (!rc) {
		l.dsz = udos_store_digest_size(cli->st);
		l.resolve_in = cli->st;
	}
	for (i = 0; i < n && !rc; i++)
		rc = idlist_push(cli, &l, argv[i], strlen(argv[i]));
	if (!rc && a.files_from)
		rc = idlist_read(cli, &l, a.files_from);
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
	if (l.missing)
		ret = EXIT_NO;
	return rc ? rc : ret;
}
