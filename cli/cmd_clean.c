/* cli/cmd_clean.c - `udos clean`: remove loose copies of packed objects. */
#include "cmd.h"

#include <stddef.h>
#include <stdio.h>

#include "opt.h"
#include "output.h"

struct clean_args {
	bool dry_run;
	bool vacuum;
	bool json;
	const char *wait;
};

#define A(f) offsetof(struct clean_args, f)
static const struct opt clean_opts[] = {
	{ 'n', "dry-run", OPT_BOOL, A(dry_run), NULL, NULL,
	  "count what would be removed, remove nothing" },
	{ 0, "vacuum", OPT_BOOL, A(vacuum), NULL, NULL,
	  "also compact the index (takes the pack-writer lock)" },
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "print the summary as one JSON object" },
	OPT_WAIT(struct clean_args),
	OPT_END_MARK
};
#undef A

static const struct opt_cmd clean_cmd = {
	"clean", "[--dry-run] [--vacuum] [--json] [--wait[=SECONDS]]",
	"Remove the loose copies of objects that are packed.",
	"A loose file goes only once its object's packed record has been read\n"
	"back and found intact (XXH3 of its stored bytes): no object loses its\n"
	"last copy. A loose file whose packed copy is damaged is kept and\n"
	"counted (see 'udos validate'); loose-only objects are not touched.\n"
	"Temporary files of writers that are no longer running are removed\n"
	"from sandbox/. --vacuum then compacts the index (as disk-objectstore's\n"
	"clean_storage(vacuum=True) VACUUMs its SQLite database). Safe while\n"
	"another process packs. The summary goes to stdout; with --json as\n"
	"{\"dry_run\", \"vacuum\", \"loose_checked\", \"removed\",\n"
	"\"removed_bytes\", \"kept_damaged\", \"sandbox_removed\",\n"
	"\"index_bytes_before\", \"index_bytes_after\"} (index sizes 0 without\n"
	"--vacuum).\n",
	clean_opts,
};

static void print_summary(const udos_clean_result *r, bool dry, bool vacuum,
			  bool json)
{
	char rb[32], ib[32], ia[32];

	if (json) {
		printf("{\"dry_run\":%s,\"vacuum\":%s,\"loose_checked\":%llu,"
		       "\"removed\":%llu,\"removed_bytes\":%llu,"
		       "\"kept_damaged\":%llu,\"sandbox_removed\":%llu,"
		       "\"index_bytes_before\":%llu,\"index_bytes_after\":%llu}"
		       "\n", dry ? "true" : "false", vacuum ? "true" : "false",
		       (unsigned long long)r->loose_checked,
		       (unsigned long long)r->removed,
		       (unsigned long long)r->removed_bytes,
		       (unsigned long long)r->kept_damaged,
		       (unsigned long long)r->sandbox_removed,
		       (unsigned long long)r->index_bytes_before,
		       (unsigned long long)r->index_bytes_after);
		return;
	}
	printf("%s %llu loose copies of packed objects (%s) of %llu loose "
	       "files, %llu stale temporary files",
	       dry ? "would remove" : "removed",
	       (unsigned long long)r->removed,
	       human_size(rb, sizeof(rb), r->removed_bytes),
	       (unsigned long long)r->loose_checked,
	       (unsigned long long)r->sandbox_removed);
	if (r->kept_damaged)
		printf(", kept %llu whose packed copy is damaged (see 'udos "
		       "validate')", (unsigned long long)r->kept_damaged);
	if (vacuum)
		printf("; index %s -> %s",
		       human_size(ib, sizeof(ib), r->index_bytes_before),
		       human_size(ia, sizeof(ia), r->index_bytes_after));
	putchar('\n');
}

int cmd_clean(struct cli *cli, int argc, char **argv)
{
	struct clean_args a = { 0 };
	udos_clean_opts co = UDOS_CLEAN_OPTS_INIT;
	udos_clean_result r;
	struct progress prog;
	bool vacuum;
	int n, rc;

	n = opt_parse(&clean_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n > 0)
		return opt_usage_error(&clean_cmd, "unexpected argument",
				       argv[0]);
	vacuum = a.vacuum && !a.dry_run;
	if (vacuum)
		cli->mode = CMD_WRITE_STORE; /* compaction needs the writer */
	cli->wait = a.wait;
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	progress_init(&prog, "cleaning", "loose files", cli->quiet);
	co.flags = (a.dry_run ? UDOS_CLEAN_DRY_RUN : 0) |
		   (vacuum ? UDOS_CLEAN_VACUUM : 0);
	co.progress = progress_cb;
	co.ctx = &prog;
	rc = udos_store_clean_ex(&r, cli->st, &co);
	progress_end(&prog);
	if (rc < 0) {
		cli_err(cli, rc, udos_store_path(cli->st));
		return EXIT_STORE;
	}
	print_summary(&r, a.dry_run, vacuum, a.json);
	return EXIT_OK;
}
