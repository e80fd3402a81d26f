/* cli/cmd_backup.c - `udos backup DEST`: an incremental, consistent copy. */
#include "cmd.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "opt.h"
#include "output.h"

struct backup_args {
	bool json;
	bool fetch_evicted;
	const char *wait;
};

#define A(f) offsetof(struct backup_args, f)
static const struct opt backup_opts[] = {
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "print the counts as one JSON object" },
	{ 0, "fetch-evicted", OPT_BOOL, A(fetch_evicted), NULL, NULL,
	  "download evicted packs so that DEST needs no remote" },
	OPT_WAIT(struct backup_args),
	OPT_END_MARK
};
#undef A

static const struct opt_cmd backup_cmd = {
	"backup", "[--json] [--fetch-evicted] DEST",
	"Copy the container into DEST, incrementally.",
	"DEST (created if missing) becomes a container with the same objects as\n"
	"this one when the backup started. Run again, only what is new is copied:\n"
	"the new end of each pack (packs only grow), new loose objects, and the\n"
	"index (a RocksDB checkpoint, switched in atomically once the rest is\n"
	"synced). What the source no longer has is removed from DEST afterwards.\n"
	"Takes the pack-writer lock for the duration; readers and loose writers\n"
	"go on. An interrupted backup (killed, disk full, power cut) leaves the\n"
	"previous one usable: run it again, and what it left unsynced is checked\n"
	"against this container and copied again (DEST/backup.state records what\n"
	"a finished backup synced). DEST holding another container or other\n"
	"files, or lying inside this container, is refused.\n"
	"\n"
	"With a remote, DEST gets remote.conf and remote.manifest too, and a\n"
	"pack evicted here gets its record file alone: DEST reads it through the\n"
	"same remote, as this container does (credentials from the environment\n"
	"as always). --fetch-evicted downloads evicted packs instead (read\n"
	"whole through the read-through cache and checked against the manifest's\n"
	"SHA-256), so that DEST stands alone; a clone's backup is a clone.\n",
	backup_opts,
};

int cmd_backup(struct cli *cli, int argc, char **argv)
{
	struct backup_args a = { 0 };
	udos_backup_result r;
	struct progress prog;
	char hb[32], hl[32];
	int n, rc;

	n = opt_parse(&backup_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n != 1)
		return opt_usage_error(&backup_cmd, n ? "one DEST only"
						      : "missing DEST",
				       n ? argv[1] : NULL);
	cli->wait = a.wait;
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	progress_init(&prog, "backing up", "files", cli->quiet);
	rc = udos_store_backup_ex(&r, cli->st, argv[0],
				  a.fetch_evicted ? UDOS_BACKUP_FETCH_EVICTED
						  : 0,
				  progress_cb, &prog);
	progress_end(&prog);
	if (rc < 0)
		return cli_err(cli, rc, argv[0]);
	if (a.json) {
		printf("{\"dest\":");
		json_str(stdout, argv[0]);
		printf(",\"pack_files\":%llu,\"pack_bytes\":%llu,"
		       "\"packs_recopied\":%llu,\"loose_copied\":%llu,"
		       "\"loose_bytes\":%llu,\"removed\":%llu,"
		       "\"verified_bytes\":%llu,\"evicted\":%llu,"
		       "\"evicted_fetched\":%llu}\n",
		       (unsigned long long)r.packs,
		       (unsigned long long)r.pack_bytes,
		       (unsigned long long)r.packs_recopied,
		       (unsigned long long)r.loose_copied,
		       (unsigned long long)r.loose_bytes,
		       (unsigned long long)r.removed,
		       (unsigned long long)r.verified_bytes,
		       (unsigned long long)r.evicted,
		       (unsigned long long)r.evicted_fetched);
	} else {
		printf("backup of %s in %s: %llu pack files (%s copied), %llu "
		       "loose objects copied (%s), %llu files removed",
		       udos_store_path(cli->st), argv[0],
		       (unsigned long long)r.packs,
		       human_size(hb, sizeof(hb), r.pack_bytes),
		       (unsigned long long)r.loose_copied,
		       human_size(hl, sizeof(hl), r.loose_bytes),
		       (unsigned long long)r.removed);
		if (r.evicted)
			printf(", %llu evicted packs read through the remote",
			       (unsigned long long)r.evicted);
		if (r.evicted_fetched)
			printf(", %llu evicted packs downloaded",
			       (unsigned long long)r.evicted_fetched);
		printf("\n");
	}
	return EXIT_OK;
}
