/* cli/cmd_import.c - `udos import`: copy objects from another container. */
#include "cmd.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "opt.h"
#include "transfer.h"

static const struct opt import_opts[] = {
	TRANSFER_OPTS,
	OPT_WAIT(struct transfer_args),
	OPT_END_MARK
};

static const struct opt_cmd import_cmd = {
	"import", "[options] SRC [HASH... | --files-from FILE]",
	"Copy objects from the container SRC into this one's packs.",
	"With no HASH and no --files-from, every object of SRC is copied.\n"
	"Between containers of the same hash type the stored bytes are copied\n"
	"as they are (checked against their checksum) unless --compress asks\n"
	"for another codec; between hash types content is hashed again and\n"
	"each line says `<id in SRC> <id here>`. Objects already here are\n"
	"skipped. Prints one line per object copied, once it is durable; with\n"
	"--json each line is {\"source\", \"hash\", \"status\"} for every id\n"
	"(status copied, present, missing or corrupt). An id missing or\n"
	"damaged in SRC is reported, the others are still copied, and the exit\n"
	"status is 1. Takes this container's pack-writer lock; SRC is only\n"
	"read.\n",
	import_opts,
};

int cmd_import(struct cli *cli, int argc, char **argv)
{
	struct transfer_args a = { .compress = "keep" };
	udos_store *src = NULL;
	int n, rc;

	n = opt_parse(&import_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n < 1)
		return opt_usage_error(&import_cmd, "missing SRC", NULL);
	cli->wait = a.wait;
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	rc = udos_store_open(&src, argv[0], 0);
	if (rc == UDOS_ENOTSTORE || rc == UDOS_EFORMAT) {
		cli_msg(cli, udos_error_detail(), NULL); /* names the path */
		return EXIT_STORE;
	}
	if (rc < 0) {
		cli_err(cli, rc, argv[0]);
		return EXIT_STORE;
	}
	rc = transfer_run(cli, cli->st, src, argv + 1, n - 1, &a);
	udos_store_close(src);
	return rc;
}
