/* cli/cmd_repack.c - `udos repack`: rewrite packs, freeing deleted space. */
#include "cmd.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "opt.h"
#include "output.h"

struct repack_args {
	const char *compress;
	long pack; /* -1: every pack */
	const char *wait;
};

#define A(f) offsetof(struct repack_args, f)
static const struct opt repack_opts[] = {
	{ 0, "compress", OPT_STR, A(compress), NULL, "keep|auto|yes|no",
	  "recompress objects (default: keep each one's codec)" },
	{ 0, "pack", OPT_UINT, A(pack), "ID", "0..4294967295",
	  "only this pack (default: every pack)" },
	OPT_WAIT(struct repack_args),
	OPT_END_MARK
};
#undef A

static const struct opt_cmd repack_cmd = {
	"repack", "[--compress keep|auto|yes|no] [--pack ID]",
	"Rewrite packs with their live objects only.",
	"Each pack's live objects are copied into new pack(s), synced, their\n"
	"index entries switched in one batch, then the old pack is removed, so\n"
	"an interruption loses nothing. Takes the pack-writer lock.\n",
	repack_opts,
};

int cmd_repack(struct cli *cli, int argc, char **argv)
{
	struct repack_args a = { .compress = "keep", .pack = -1 };
	udos_repack_opts ro = UDOS_REPACK_OPTS_INIT;
	struct progress prog;
	int n, rc;

	n = opt_parse(&repack_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n > 0)
		return opt_usage_error(&repack_cmd, "unexpected argument",
				       argv[0]);
	cli->wait = a.wait;
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	progress_init(&prog, "repacking", "records", cli->quiet);
	ro.compress = cli_compress_mode(a.compress);
	ro.progress = progress_cb;
	ro.ctx = &prog;
	if (a.pack >= 0)
		rc = udos_store_repack_pack(cli->st, (uint32_t)a.pack, &ro);
	else
		rc = udos_store_repack(cli->st, &ro);
	progress_end(&prog);
	if (rc < 0)
		return cli_err(cli, rc, udos_store_path(cli->st));
	return EXIT_OK;
}
