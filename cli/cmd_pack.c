/* cli/cmd_pack.c - `udos pack`: move loose objects into packs. */
#include "cmd.h"

#include <stddef.h>
#include <stdio.h>

#include "opt.h"
#include "output.h"

struct pack_args {
	const char *compress;
	bool no_clean;
	bool json;
	const char *wait;
};

#define A(f) offsetof(struct pack_args, f)
static const struct opt pack_opts[] = {
	{ 0, "compress", OPT_STR, A(compress), NULL, "auto|yes|no|keep",
	  "compression of packed objects (default: auto; keep = no)" },
	{ 0, "no-clean", OPT_BOOL, A(no_clean), NULL, NULL,
	  "keep the loose copies of packed objects" },
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "print the summary as one JSON object" },
	OPT_WAIT(struct pack_args),
	OPT_END_MARK
};
#undef A

static const struct opt_cmd pack_cmd = {
	"pack", "[--compress auto|yes|no|keep] [--no-clean] [--json]",
	"Move every loose object into packs, then remove the loose copies.",
	"Content is re-hashed while packing; a loose file whose content does\n"
	"not match its name is left in place and counted as corrupt (see\n"
	"'udos validate'). The summary goes to stdout: packed, skipped (already\n"
	"packed), cleaned, corrupt, bytes in (raw) and out (stored); with --json\n"
	"as {\"packed\", \"skipped\", \"cleaned\", \"corrupt\", \"bytes_in\",\n"
	"\"bytes_out\"}. Takes the pack-writer lock.\n",
	pack_opts,
};

int cmd_pack(struct cli *cli, int argc, char **argv)
{
	struct pack_args a = { .compress = "auto" };
	udos_pack_opts po = UDOS_PACK_OPTS_INIT;
	udos_pack_result r = { 0 };
	struct progress prog;
	char hi[32], ho[32];
	int n, rc;

	n = opt_parse(&pack_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n > 0)
		return opt_usage_error(&pack_cmd, "unexpected argument",
				       argv[0]);
	cli->wait = a.wait;
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	progress_init(&prog, "packing", "objects", cli->quiet);
	po.compress = cli_compress_mode(a.compress);
	po.clean = !a.no_clean;
	po.progress = progress_cb;
	po.ctx = &prog;
	rc = udos_store_pack_loose(&r, cli->st, &po);
	progress_end(&prog);
	if (rc < 0) {
		cli_err(cli, rc, udos_store_path(cli->st));
		return EXIT_STORE;
	}
	if (a.json) {
		printf("{\"packed\":%llu,\"skipped\":%llu,\"cleaned\":%llu,"
		       "\"corrupt\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu}\n",
		       (unsigned long long)r.packed,
		       (unsigned long long)r.skipped,
		       (unsigned long long)r.cleaned,
		       (unsigned long long)r.corrupt,
		       (unsigned long long)r.bytes_in,
		       (unsigned long long)r.bytes_out);
	} else {
		printf("packed %llu objects (%s -> %s), skipped %llu, "
		       "cleaned %llu",
		       (unsigned long long)r.packed,
		       human_size(hi, sizeof(hi), r.bytes_in),
		       human_size(ho, sizeof(ho), r.bytes_out),
		       (unsigned long long)r.skipped,
		       (unsigned long long)r.cleaned);
		if (r.corrupt)
			printf(", corrupt %llu (see 'udos validate')",
			       (unsigned long long)r.corrupt);
		putchar('\n');
	}
	return EXIT_OK;
}
