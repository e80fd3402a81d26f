/* cli/cmd_ls.c - `udos ls`: list object ids, optionally with metadata. */
#include "cmd.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idlist.h"
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
	"ls", "[--loose|--packed] [-l] [--json] [HASH...]",
	"List the objects, one id per line: packed ones first (in id order),\n"
	"then loose ones that are not also packed.",
	"With HASH arguments (full ids or unique prefixes of at least 8 hex\n"
	"digits, as 'udos cat' takes them) only those objects are listed, in\n"
	"the order given; a missing one is reported and the exit status is 1.\n\n"
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

/* ls HASH...: the objects named, in order */
static int ls_named(struct cli *cli, struct ls_args *a, char **argv, int n)
{
	struct idlist l = { .dsz = udos_store_digest_size(cli->st),
			    .resolve_in = cli->st };
	int i, rc = 0, ret = 0;
	size_t k;

	for (i = 0; i < n && !rc; i++)
		rc = idlist_push(cli, &l, argv[i], strlen(argv[i]));
	for (k = 0; !rc && k < l.n; k++) {
		char hex[UDOS_OID_HEXSZ + 1];
		udos_meta m;
		int src = udos_object_stat(&m, cli->st, &l.v[k]);

		if (src == UDOS_ENOTFOUND) {
			cli_msg(cli, "not found", cli_fmt_oid(cli, hex, &l.v[k]));
			ret = EXIT_NO;
		} else if (src < 0) {
			rc = cli_err(cli, src, cli_fmt_oid(cli, hex, &l.v[k]));
		} else if (ls_one(a, &l.v[k], &m) < 0) {
			rc = EXIT_STORE; /* stdout closed: main reports it */
		}
	}
	free(l.v);
	if (l.missing && !ret)
		ret = EXIT_NO;
	return rc ? rc : ret;
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
	if (n > 0)
		return ls_named(cli, &a, argv, n);
	rc = udos_store_foreach(cli->st, flags, ls_one, &a);
	if (rc == -1 && ferror(stdout))
		return EXIT_STORE; /* stdout closed: main reports it */
	if (rc < 0) {
		cli_err(cli, rc, udos_store_path(cli->st));
		return EXIT_STORE;
	}
	return EXIT_OK;
}
