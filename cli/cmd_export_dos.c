/* cli/cmd_export_dos.c - `udos export-dos`: write every object of this
 * container into a new disk-objectstore container. */
#include "cmd.h"

#include <stddef.h>
#include <stdio.h>

#include "dosio.h"
#include "opt.h"

struct export_dos_args {
	const char *compress;
	const char *level;
	bool loose;
	bool json;
};

static const struct opt export_dos_opts[] = {
	{ 0, "compress", OPT_STR, offsetof(struct export_dos_args, compress),
	  NULL, "keep|yes|no",
	  "zlib records: for objects compressed here (keep, the default), "
	  "all (yes) or none (no)" },
	{ 0, "loose", OPT_BOOL, offsetof(struct export_dos_args, loose), NULL,
	  NULL, "write loose files instead of packs" },
	{ 0, "zlib-level", OPT_STR, offsetof(struct export_dos_args, level),
	  "N", "1|2|3|4|5|6|7|8|9",
	  "level of re-compressed records and of DEST's compression_algorithm"
	  " (default: this container's zlib level, else 1)" },
	{ 0, "json", OPT_BOOL, offsetof(struct export_dos_args, json), NULL,
	  NULL, "print the summary as one JSON object on stdout" },
	OPT_END_MARK
};

static const struct opt_cmd export_dos_cmd = {
	"export-dos", "[options] DEST",
	"Write every object of this container into a new disk-objectstore "
	"container DEST.",
	"DEST is created (it may exist as an empty folder) with this\n"
	"container's hash type, loose prefix length and pack size target, in\n"
	"disk-objectstore 1.5's layout: config.json, loose/, packs/N with raw\n"
	"or zlib records, and packs.idx (SQLite) with its schema; the real\n"
	"disk-objectstore opens, reads and validates it. zlib records here are\n"
	"copied as they are, zstd ones are re-compressed with zlib. config.json\n"
	"is written last, once everything else is synced. An object that fails\n"
	"its checks here is reported and left out (exit status 1).\n",
	export_dos_opts,
};

int cmd_export_dos(struct cli *cli, int argc, char **argv)
{
	struct export_dos_args a = { .compress = "keep", .level = NULL };
	udos_dos_export_opts eo = UDOS_DOS_EXPORT_OPTS_INIT;
	udos_dos_result r;
	struct dosio d;
	int n, rc;

	n = opt_parse(&export_dos_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n != 1)
		return opt_usage_error(&export_dos_cmd,
				       n ? "too many arguments" : "missing DEST",
				       NULL);
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	dosio_init(&d, cli, "exporting");
	eo.compress = cli_compress_mode(a.compress);
	eo.loose = a.loose;
	eo.zlib_level = a.level ? a.level[0] - '0' : 0;
	eo.on_problem = dosio_problem;
	eo.progress = dosio_progress;
	eo.ctx = &d;
	rc = udos_dos_export(&r, cli->st, argv[0], &eo);
	if (rc < 0) {
		progress_end(&d.prog);
		cli_err(cli, rc, NULL); /* the detail names the path */
		return EXIT_STORE;
	}
	return dosio_summary(&d, &r, a.json);
}
