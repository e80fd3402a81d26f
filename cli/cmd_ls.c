/* cli/cmd_ls.c - `udos ls`: list object ids, optionally with metadata. */
#include "cmd.h"

#include <stddef.h>
#include <stdio.h>

#include "opt.h"
#include "output.h"

struct ls_args {
	bool loose;
	bool packed;
	bool longfmt;
	bool json;
	const struct cli *cli; /* not an option: the store's id length */
};

#define A(f) offsetof(struct ls_args, f)
static const struct opt ls_opts[] = {
	{ 0, "loose", OPT_BOOL, A(loose), NULL, NULL,
	  "only loose files (packed or not)" },
	{ 0, "packed", OPT_BOOL, A(packed), NULL, NULL, "only packed objects" },
	{ 'l', "long", OPT_BOOL, A(longfmt), NULL, NULL,
	  "add size, location, codec and stored size" },
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "JSON lines (one object per line)" },
	OPT_END_MARK
};
#undef A

static const struct opt_cmd ls_cmd = {
	"ls", "[--loose|--packed] [-l] [--json]",
	"List the objects, one id per line: packed ones first (in id order),\n"
	"then loose ones that are not also packed.",
	"-l prints '<hash> <size> <loose|packed> <codec> <stored size>' in\n"
	"aligned columns. --json prints JSON lines (not an array, so that the\n"
	"output streams), one per object:\n"
	"  {\"hash\", \"size\", \"location\": \"loose\"|\"packed\", \"codec\",\n"
	"   \"stored_size\", \"pack_id\" and \"offset\" (packed only)}\n",
	ls_opts,
};

static const char *loc_name(int loc)
{
	return loc == UDOS_LOC_PACKED ? "packed" :
	       loc == UDOS_LOC_LOOSE  ? "loose" :
					"missing";
}

static int ls_one(void *ctx, const udos_oid *oid, const udos_meta *m)
{
	const struct ls_args *a = ctx;
	char hex[UDOS_OID_HEXSZ + 1];

	cli_fmt_oid(a->cli, hex, oid);
	if (a->json) {
		printf("{\"hash\":\"%s\",\"size\":%llu,\"location\":\"%s\","
		       "\"codec\":\"%s\",\"stored_size\":%llu",
		       hex, (unsigned long long)m->size, loc_name(m->loc),
		       udos_codec_name(m->codec),
		       (unsigned long long)m->stored_size);
		if (m->loc == UDOS_LOC_PACKED)
			printf(",\"pack_id\":%u,\"offset\":%llu",
			       (unsigned)m->pack_id,
			       (unsigned long long)m->offset);
		fputs("}\n", stdout);
	} else if (a->longfmt) {
		printf("%s %12llu %-6s %-4s %12llu\n", hex,
		       (unsigned long long)m->size, loc_name(m->loc),
		       udos_codec_name(m->codec),
		       (unsigned long long)m->stored_size);
	} else {
		puts(hex);
	}
	return ferror(stdout) ? -1 : 0;
}

int cmd_ls(struct cli *cli, int argc, char **argv)
{
	struct ls_args a = { 0 };
	unsigned flags = 0;
	int n, rc;

	n = opt_parse(&ls_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n > 0)
		return opt_usage_error(&ls_cmd, "unexpected argument", argv[0]);
	if (a.loose)
		flags |= UDOS_FOREACH_LOOSE;
	if (a.packed)
		flags |= UDOS_FOREACH_PACKED;
	if (!flags)
		flags = UDOS_FOREACH_ALL;
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	a.cli = cli;
	rc = udos_store_foreach(cli->st, flags, ls_one, &a);
	if (rc == -1 && ferror(stdout))
		return EXIT_STORE; /* stdout closed: main reports it */
	if (rc < 0) {
		cli_err(cli, rc, udos_store_path(cli->st));
		return EXIT_STORE;
	}
	return EXIT_OK;
}
