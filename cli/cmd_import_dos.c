/* cli/cmd_import_dos.c - `udos import-dos`: copy every object of a
 * disk-objectstore container into this one, read straight from its files. */
#include "cmd.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "dosio.h"
#include "opt.h"

struct import_dos_args {
	const char *compress;
	bool json;
};

static const struct opt import_dos_opts[] = {
	{ 0, "compress", OPT_STR, offsetof(struct import_dos_args, compress),
	  NULL, "keep|no|yes|auto",
	  "compression of the copies (default: keep zlib records as they "
	  "are, the rest raw)" },
	{ 0, "json", OPT_BOOL, offsetof(struct import_dos_args, json), NULL,
	  NULL, "print the summary as one JSON object on stdout" },
	OPT_END_MARK
};

static const struct opt_cmd import_dos_cmd = {
	"import-dos", "[options] SRC",
	"Copy every object of the disk-objectstore container SRC into this "
	"one's packs.",
	"SRC's files are read directly (packs.idx with SQLite, its packs and\n"
	"loose files): neither disk-objectstore nor Python is needed. Every\n"
	"object is hashed again and checked against its key and size; a\n"
	"missing or damaged one is reported on a line of its own, the others\n"
	"are still copied, and the exit status is 1. Objects already here are\n"
	"skipped without being read, so running it again copies only what is\n"
	"missing. This container must have SRC's hash type ('udos init --hash\n"
	"sha1' for a sha1 SRC). SRC is only read.\n",
	import_dos_opts,
};

int cmd_import_dos(struct cli *cli, int argc, char **argv)
{
	struct import_dos_args a = { .compress = "keep" };
	udos_dos_import_opts io = UDOS_DOS_IMPORT_OPTS_INIT;
	udos_dos_result r;
	struct dosio d;
	int n, rc;

	n = opt_parse(&import_dos_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n != 1)
		return opt_usage_error(&import_dos_cmd, n ? "too many arguments"
							  : "missing SRC",
				       NULL);
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	dosio_init(&d, cli, "importing");
	io.compress = cli_compress_mode(a.compress);
	io.on_problem = dosio_problem;
	io.progress = dosio_progress;
	io.ctx = &d;
	rc = udos_dos_import(&r, cli->st, argv[0], &io);
	if (rc < 0) {
		progress_end(&d.prog);
		if (rc == UDOS_ENOTSTORE || rc == -EINVAL)
			cli_msg(cli, udos_error_detail(), NULL);
		else
			cli_err(cli, rc, NULL); /* the detail names the path */
		return EXIT_STORE;
	}
	return dosio_summary(&d, &r, a.json);
}
