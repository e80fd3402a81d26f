/* cli/cmd_optimize.c - `udos optimize`: pack, repack, clean and compact the
 * index in one go (disk-objectstore's `dostore optimize`). */
#include "cmd.h"

#include <stddef.h>
#include <stdio.h>

#include "opt.h"
#include "output.h"

struct optimize_args {
	const char *compress;
	bool no_vacuum;
	bool json;
	const char *wait;
};

#define A(f) offsetof(struct optimize_args, f)
static const struct opt optimize_opts[] = {
	{ 0, "compress", OPT_STR, A(compress), NULL, "auto|yes|no|keep",
	  "compression of packed objects (default: auto when packing, keep "
	  "when repacking)" },
	{ 0, "no-vacuum", OPT_BOOL, A(no_vacuum), NULL, NULL,
	  "do not compact the index" },
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "print the summary as one JSON object" },
	OPT_WAIT(struct optimize_args),
	OPT_END_MARK
};
#undef A

static const struct opt_cmd optimize_cmd = {
	"optimize",
	"[--compress auto|yes|no|keep] [--no-vacuum] [--json] "
	"[--wait[=SECONDS]]",
	"Pack every loose object, repack, clean and compact the index.",
	"In order: loose objects are packed (as 'udos pack'); packs are\n"
	"rewritten (as 'udos repack') when they hold bytes no object uses\n"
	"(deleted or superseded records) or when --compress is given; loose\n"
	"copies of packed objects are removed once their packed copy is\n"
	"checked (as 'udos clean'); the index is compacted (unless\n"
	"--no-vacuum). Each step is safe to interrupt. Takes the pack-writer\n"
	"lock for the whole run. The summary goes to stdout: objects packed,\n"
	"whether packs were rewritten, loose copies removed, and the\n"
	"container's size (loose files, packs, index) before and after; with\n"
	"--json as {\"packed\", \"skipped\", \"corrupt\", \"repacked\",\n"
	"\"cleaned\", \"kept_damaged\", \"sandbox_removed\", \"vacuum\",\n"
	"\"loose_before\", \"loose_after\", \"size_before\", \"size_after\",\n"
	"\"pack_bytes_before\", \"pack_bytes_after\", \"index_bytes_before\",\n"
	"\"index_bytes_after\"} (sizes in bytes).\n",
	optimize_opts,
};

struct sizes {
	udos_status s;
	uint64_t total;
};

static int measure(struct cli *cli, struct sizes *out)
{
	int rc = udos_store_status(&out->s, cli->st);

	if (rc < 0)
		return cli_err(cli, rc, udos_store_path(cli->st));
	out->total = out->s.loose_size + out->s.pack_files_size +
		     out->s.index_size;
	return 0;
}

static void print_summary(const udos_pack_result *pr, bool repacked,
			  const udos_clean_result *cr, bool vacuum,
			  const struct sizes *b, const struct sizes *a,
			  bool json)
{
	char sb[32], sa[32];

	if (json) {
		printf("{\"packed\":%llu,\"skipped\":%llu,\"corrupt\":%llu,"
		       "\"repacked\":%s,\"cleaned\":%llu,\"kept_damaged\":%llu,"
		       "\"sandbox_removed\":%llu,\"vacuum\":%s,"
		       "\"loose_before\":%llu,\"loose_after\":%llu,"
		       "\"size_before\":%llu,\"size_after\":%llu,"
		       "\"pack_bytes_before\":%llu,\"pack_bytes_after\":%llu,"
		       "\"index_bytes_before\":%llu,\"index_bytes_after\":%llu}"
		       "\n", (unsigned long long)pr->packed,
		       (unsigned long long)pr->skipped,
		       (unsigned long long)pr->corrupt,
		       repacked ? "true" : "false",
		       (unsigned long long)cr->removed,
		       (unsigned long long)cr->kept_damaged,
		       (unsigned long long)cr->sandbox_removed,
		       vacuum ? "true" : "false",
		       (unsigned long long)b->s.loose_count,
		       (unsigned long long)a->s.loose_count,
		       (unsigned long long)b->total,
		       (unsigned long long)a->total,
		       (unsigned long long)b->s.pack_files_size,
		       (unsigned long long)a->s.pack_files_size,
		       (unsigned long long)b->s.index_size,
		       (unsigned long long)a->s.index_size);
		return;
	}
	printf("packed %llu objects, %s, removed %llu loose copies",
	       (unsigned long long)pr->packed,
	       repacked ? "rewrote the packs" : "packs left as they were",
	       (unsigned long long)cr->removed);
	if (pr->corrupt)
		printf(", corrupt %llu (see 'udos validate')",
		       (unsigned long long)pr->corrupt);
	if (cr->kept_damaged)
		printf(", kept %llu whose packed copy is damaged",
		       (unsigned long long)cr->kept_damaged);
	printf("; %s -> %s\n", human_size(sb, sizeof(sb), b->total),
	       human_size(sa, sizeof(sa), a->total));
}

int cmd_optimize(struct cli *cli, int argc, char **argv)
{
	struct optimize_args a = { 0 };
	udos_pack_opts po = UDOS_PACK_OPTS_INIT;
	udos_repack_opts ro = UDOS_REPACK_OPTS_INIT;
	udos_clean_opts co = UDOS_CLEAN_OPTS_INIT;
	udos_pack_result pr = { 0 };
	udos_clean_result cr = { 0 };
	struct sizes before, mid, after;
	struct progress prog;
	bool repack;
	int n, rc;

	n = opt_parse(&optimize_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n > 0)
		return opt_usage_error(&optimize_cmd, "unexpected argument",
				       argv[0]);
	cli->wait = a.wait;
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	rc = measure(cli, &before);
	if (rc)
		return rc;

	/* the loose copies stay until the clean below, which checks them
	 * against the packs as they are after the repack */
	progress_init(&prog, "packing", "objects", cli->quiet);
	po.compress = cli_compress_mode(a.compress ? a.compress : "auto");
	po.clean = false;
	po.progress = progress_cb;
	po.ctx = &prog;
	rc = udos_store_pack_loose(&pr, cli->st, &po);
	progress_end(&prog);
	if (rc == 0 && (rc = measure(cli, &mid)))
		return rc;

	/* rewriting every pack costs a copy of them all: only when some of
	 * their bytes serve no object, or a codec change was asked for */
	repack = rc == 0 && (a.compress || mid.s.pack_files_size >
						   mid.s.packed_stored_size);
	if (repack) {
		progress_init(&prog, "repacking", "objects", cli->quiet);
		if (a.compress) /* else keep each record's codec */
			ro.compress = cli_compress_mode(a.compress);
		ro.progress = progress_cb;
		ro.ctx = &prog;
		rc = udos_store_repack(cli->st, &ro);
		progress_end(&prog);
	}
	if (rc == 0) {
		progress_init(&prog, "cleaning", "loose files", cli->quiet);
		co.flags = a.no_vacuum ? 0 : UDOS_CLEAN_VACUUM;
		co.progress = progress_cb;
		co.ctx = &prog;
		rc = udos_store_clean_ex(&cr, cli->st, &co);
		progress_end(&prog);
	}
	if (rc < 0) {
		cli_err(cli, rc, udos_store_path(cli->st));
		return EXIT_STORE;
	}
	rc = measure(cli, &after);
	if (rc)
		return rc;
	print_summary(&pr, repack, &cr, !a.no_vacuum, &before, &after, a.json);
	return EXIT_OK;
}
