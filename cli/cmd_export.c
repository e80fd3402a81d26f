/* cli/cmd_export.c - `udos export`: copy objects into another container,
 * created like this one if it does not exist. */
#include "cmd.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "opt.h"
#include "transfer.h"

static const struct opt export_opts[] = {
	TRANSFER_OPTS,
	OPT_END_MARK
};

static const struct opt_cmd export_cmd = {
	"export", "[options] DEST [HASH... | --files-from FILE]",
	"Copy objects from this container into the container DEST.",
	"The same copy as 'udos import', the other way round. When DEST does\n"
	"not exist it is created with this container's settings (hash type,\n"
	"compression, pack size target, loose prefix length). Takes DEST's\n"
	"pack-writer lock; this container is only read.\n",
	export_opts,
};

/* Open DEST for writing, creating it like src when it does not exist. */
static int open_dest(struct cli *cli, udos_store **out, const char *path)
{
	udos_init_opts io = UDOS_INIT_OPTS_INIT;
	udos_store_info info;
	char why[1024];
	int rc;

	rc = udos_store_open(out, path, UDOS_OPEN_WRITER);
	if (rc != UDOS_ENOTSTORE && rc != -ENOENT)
		goto done;
	/* said if DEST turns out to be something else than a new folder */
	snprintf(why, sizeof(why), "%s", udos_error_detail());
	udos_store_info_get(&info, cli->st);
	io.compression = info.compression;
	io.pack_size_target = info.pack_size_target;
	io.loose_prefix_len = info.loose_prefix_len;
	io.hash_type = udos_store_hash_type(cli->st);
	rc = udos_store_init(path, &io);
	if (rc == UDOS_EEXIST) {
		cli_msg(cli, why, NULL);
		return EXIT_STORE;
	}
	if (rc == 0)
		rc = udos_store_open(out, path, UDOS_OPEN_WRITER);
done:
	if (rc < 0) {
		/* a lock's detail names its holder: "... (pid N)" */
		cli_err(cli, rc, rc == UDOS_ELOCKED ? NULL : path);
		return EXIT_STORE;
	}
	return 0;
}

int cmd_export(struct cli *cli, int argc, char **argv)
{
	struct transfer_args a = { .compress = "keep" };
	udos_store *dst = NULL;
	int n, rc;

	n = opt_parse(&export_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n < 1)
		return opt_usage_error(&export_cmd, "missing DEST", NULL);
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	rc = open_dest(cli, &dst, argv[0]);
	if (rc)
		return rc;
	rc = transfer_run(cli, dst, cli->st, argv + 1, n - 1, &a);
	udos_store_close(dst);
	return rc;
}
