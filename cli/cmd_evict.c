/* cli/cmd_evict.c - `udos evict`: drop local copies of pushed packs. */
#include "cmd.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include "opt.h"
#include "output.h"

struct evict_args {
	uint64_t keep;
	bool json;
};

#define A(f) offsetof(struct evict_args, f)
static const struct opt evict_opts[] = {
	{ 0, "keep", OPT_SIZE, A(keep), "SIZE", NULL,
	  "keep the newest pushed packs up to SIZE (default: none)" },
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "print the summary as one JSON object" },
	OPT_END_MARK
};
#undef A

static const struct opt_cmd evict_cmd = {
	"evict", "[--keep SIZE] [--json]",
	"Remove the local data of pushed packs; reads then go to the remote.",
	"Only packs the manifest lists, found whole in a listing of the\n"
	"remote, are evicted; their packs/N.rec stays (the index needs\n"
	"nothing else). Reads of an evicted pack fetch ranges of it with\n"
	"ranged GETs into cache/ (bounded by 'remote set --cache-size'), and\n"
	"check them as local reads do. Summary: packs, bytes, kept; with\n"
	"--json {\"packs\", \"bytes\", \"kept\"}.\n",
	evict_opts,
};

int cmd_evict(struct cli *cli, int argc, char **argv)
{
	struct evict_args a = { 0 };
	udos_evict_result r;
	int n, rc;

	n = opt_parse(&evict_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n > 0)
		return opt_usage_error(&evict_cmd, "unexpected argument",
				       argv[0]);
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	rc = udos_remote_evict(&r, cli->st, a.keep);
	if (rc < 0) {
		cli_err(cli, rc, NULL);
		return EXIT_STORE;
	}
	if (a.json)
		printf("{\"packs\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"kept\":%" PRIu64 "}\n", r.packs, r.bytes, r.kept);
	else
		printf("evicted %" PRIu64 " packs (%" PRIu64 " bytes), kept %"
		       PRIu64 "\n", r.packs, r.bytes, r.kept);
	return EXIT_OK;
}
