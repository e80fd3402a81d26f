/* cli/cmd_repair.c - `udos repair`: rebuild the index from the packs. */
#include "cmd.h"

#include <stddef.h>
#include <stdio.h>

#include "opt.h"
#include "output.h"

struct repair_args {
	bool dry_run;
	bool full;
	bool json;
	struct progress prog; /* not an option */
};

#define A(f) offsetof(struct repair_args, f)
static const struct opt repair_opts[] = {
	{ 0, "dry-run", OPT_BOOL, A(dry_run), NULL, NULL,
	  "check and count, keep the current index" },
	{ 0, "full", OPT_BOOL, A(full), NULL, NULL,
	  "also decompress and re-hash every record" },
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "JSON lines for what is left out, then a summary object" },
	OPT_END_MARK
};
#undef A

static const struct opt_cmd repair_cmd = {
	"repair", "[--dry-run] [--full] [--json]",
	"Rebuild the index from the packs, which are the source of truth.",
	"Every record entry of packs/N.rec and the XXH3 of its stored bytes\n"
	"are checked (--full: the content hash too) and each intact record is\n"
	"indexed; when an id has several, the newest (highest pack, then\n"
	"entry) wins. Objects the old index (if it can still be read) marks\n"
	"deleted stay deleted; every other intact record comes back.\n"
	"Nothing in the packs is changed: a damaged record is reported\n"
	"(one line '<kind>\\t<path>\\t<message>', as validate prints) and left\n"
	"out. Use it when the index is missing, unreadable, or older than\n"
	"the packs (validate reports index-behind). Loose objects are not in\n"
	"the index and are not touched.\n\n"
	"The summary goes to stderr, or with --json as a last line\n"
	"{\"summary\": {\"packs\", \"bad_packs\", \"records\", \"damaged\",\n"
	"\"deleted\", \"objects\", \"adopted\", \"lost\", \"bytes\",\n"
	"\"old_index\", \"dry_run\"}}: adopted counts objects the old index\n"
	"did not have, lost the old index's objects with no intact record.\n"
	"Exit status 0 when no record was left out, 1 when damaged records\n"
	"or packs were, 3 on error.\n",
	repair_opts,
};

static void on_progress(void *ctx, const udos_progress *p)
{
	progress_cb(&((struct repair_args *)ctx)->prog, p);
}

static int on_problem(void *ctx, const udos_finding *f)
{
	const struct repair_args *a = ctx;
	const char *msg = f->message ? f->message : "";

	if (a->json) {
		printf("{\"kind\":");
		json_str(stdout, udos_finding_name(f->kind));
		printf(",\"path\":");
		json_str(stdout, f->path ? f->path : "");
		printf(",\"offset\":%llu,\"message\":",
		       (unsigned long long)f->offset);
		json_str(stdout, msg);
		printf("}\n");
	} else {
		printf("%s\t%s\t%s\n", udos_finding_name(f->kind),
		       f->path ? f->path : "-", msg);
	}
	return 0;
}

int cmd_repair(struct cli *cli, int argc, char **argv)
{
	udos_repair_opts o = UDOS_REPAIR_OPTS_INIT;
	struct repair_args a = { 0 };
	udos_repair_result r;
	char hs[32];
	int n, rc;

	n = opt_parse(&repair_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n > 0)
		return opt_usage_error(&repair_cmd, "unexpected argument",
				       argv[0]);
	o.flags = (a.dry_run ? UDOS_REPAIR_DRY_RUN : 0) |
		  (a.full ? UDOS_REPAIR_FULL : 0);
	o.on_problem = on_problem;
	o.progress = on_progress;
	o.ctx = &a;
	progress_init(&a.prog, "repairing", "records", cli->quiet);
	rc = udos_store_repair(&r, cli->dir, &o);
	progress_end(&a.prog);
	fflush(stdout);
	if (rc < 0)
		return cli_err(cli, rc, cli->dir);
	if (a.json)
		printf("{\"summary\":{\"packs\":%llu,\"bad_packs\":%llu,"
		       "\"records\":%llu,\"damaged\":%llu,\"deleted\":%llu,"
		       "\"objects\":%llu,\"adopted\":%llu,\"lost\":%llu,"
		       "\"bytes\":%llu,\"old_index\":%s,\"dry_run\":%s}}\n",
		       (unsigned long long)r.packs,
		       (unsigned long long)r.bad_packs,
		       (unsigned long long)r.records,
		       (unsigned long long)r.damaged,
		       (unsigned long long)r.deleted,
		       (unsigned long long)r.objects,
		       (unsigned long long)r.adopted,
		       (unsigned long long)r.lost,
		       (unsigned long long)r.bytes,
		       r.old_index ? "true" : "false",
		       a.dry_run ? "true" : "false");
	else if (!cli->quiet)
		fprintf(stderr, "udos repair: %s%llu objects indexed from %llu "
			"intact records in %llu packs (%s); %llu new to the "
			"index, %llu kept deleted, %llu damaged records left "
			"out, %llu objects lost%s\n",
			a.dry_run ? "dry run: " : "",
			(unsigned long long)r.objects,
			(unsigned long long)r.records,
			(unsigned long long)r.packs,
			human_size(hs, sizeof(hs), r.bytes),
			(unsigned long long)r.adopted,
			(unsigned long long)r.deleted,
			(unsigned long long)r.damaged,
			(unsigned long long)r.lost,
			r.old_index ? "" : " (the old index could not be read)");
	return r.damaged || r.bad_packs ? EXIT_NO : EXIT_OK;
}
