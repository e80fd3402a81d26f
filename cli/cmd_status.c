/* cli/cmd_status.c - `udos status`: counts and sizes of the container. */
#include "cmd.h"

#include <stddef.h>
#include <stdio.h>

#include "opt.h"
#include "output.h"

struct status_args {
	bool json;
};

static const struct opt status_opts[] = {
	{ 0, "json", OPT_BOOL, offsetof(struct status_args, json), NULL, NULL,
	  "one JSON object" },
	OPT_END_MARK
};

static const struct opt_cmd status_cmd = {
	"status", "[--json]", "Show what the container holds.",
	"--json prints one object: container_id, path, format_version,\n"
	"hash_type, compression, pack_size_target, loose_prefix_len,\n"
	"loose_count, loose_size, packed_count, packed_size,\n"
	"packed_stored_size, pack_count, pack_files_size, index_size,\n"
	"both_count and compression_ratio (packed_size / packed_stored_size,\n"
	"null when nothing is packed), and remote: null, or {url,\n"
	"generation, packs_local, bytes_local, packs_remote, bytes_remote,\n"
	"bytes_cached, cache_size}.\n",
	status_opts,
};

static void print_json(udos_store *st, const udos_store_info *inf,
		       const udos_status *s, const udos_remote_status *rs,
		       const udos_remote_conf *rc)
{
	printf("{\"container_id\":\"%s\",\"path\":", inf->container_id);
	json_str(stdout, udos_store_path(st));
	printf(",\"format_version\":%d,\"hash_type\":", inf->format_version);
	json_str(stdout, inf->hash_type);
	printf(",\"compression\":");
	json_str(stdout, inf->compression);
	printf(",\"pack_size_target\":%llu,\"loose_prefix_len\":%d",
	       (unsigned long long)inf->pack_size_target,
	       inf->loose_prefix_len);
	printf(",\"loose_count\":%llu,\"loose_size\":%llu"
	       ",\"packed_count\":%llu,\"packed_size\":%llu"
	       ",\"packed_stored_size\":%llu,\"pack_count\":%llu"
	       ",\"pack_files_size\":%llu,\"index_size\":%llu"
	       ",\"both_count\":%llu,\"compression_ratio\":",
	       (unsigned long long)s->loose_count,
	       (unsigned long long)s->loose_size,
	       (unsigned long long)s->packed_count,
	       (unsigned long long)s->packed_size,
	       (unsigned long long)s->packed_stored_size,
	       (unsigned long long)s->pack_count,
	       (unsigned long long)s->pack_files_size,
	       (unsigned long long)s->index_size,
	       (unsigned long long)s->both_count);
	if (s->packed_stored_size)
		printf("%.4f",
		       (double)s->packed_size / (double)s->packed_stored_size);
	else
		printf("null");
	printf(",\"remote\":");
	if (!rs->has_remote) {
		printf("null}\n");
		return;
	}
	printf("{\"url\":");
	json_str(stdout, rc->url);
	printf(",\"generation\":%llu,\"packs_local\":%llu,"
	       "\"bytes_local\":%llu,\"packs_remote\":%llu,"
	       "\"bytes_remote\":%llu,\"bytes_cached\":%llu,"
	       "\"cache_size\":%llu}}\n",
	       (unsigned long long)rs->generation,
	       (unsigned long long)rs->packs_local,
	       (unsigned long long)rs->bytes_local,
	       (unsigned long long)rs->packs_remote,
	       (unsigned long long)rs->bytes_remote,
	       (unsigned long long)rs->bytes_cached,
	       (unsigned long long)rs->cache_size);
}

static void print_human(udos_store *st, const udos_store_info *inf,
			const udos_status *s, const udos_remote_status *rs,
			const udos_remote_conf *rc)
{
	char a[32], b[32], c[32], d[32];

	printf("%-12s %s\n", "container", inf->container_id);
	printf("%-12s %s\n", "path", udos_store_path(st));
	printf("%-12s %s\n", "hash", inf->hash_type);
	printf("%-12s %s\n", "compression", inf->compression);
	printf("%-12s %s\n", "pack target",
	       human_size(a, sizeof(a), inf->pack_size_target));
	printf("%-12s %10llu objects  %12s\n", "loose",
	       (unsigned long long)s->loose_count,
	       human_size(a, sizeof(a), s->loose_size));
	printf("%-12s %10llu objects  %12s raw  %12s stored", "packed",
	       (unsigned long long)s->packed_count,
	       human_size(a, sizeof(a), s->packed_size),
	       human_size(b, sizeof(b), s->packed_stored_size));
	if (s->packed_stored_size)
		printf("  (ratio %.2f)",
		       (double)s->packed_size / (double)s->packed_stored_size);
	putchar('\n');
	printf("%-12s %10llu files    %12s\n", "packs",
	       (unsigned long long)s->pack_count,
	       human_size(a, sizeof(a), s->pack_files_size));
	printf("%-12s %10s          %12s\n", "index", "",
	       human_size(a, sizeof(a), s->index_size));
	if (s->both_count)
		printf("%-12s %10llu objects  (run 'udos pack' to clean)\n",
		       "loose+packed", (unsigned long long)s->both_count);
	if (!rs->has_remote)
		return;
	printf("%-12s %s (generation %llu)\n", "remote", rc->url,
	       (unsigned long long)rs->generation);
	printf("%-12s %10llu packs    %12s local, %llu packs %s remote, %s "
	       "cached (bound %s)\n", "",
	       (unsigned long long)rs->packs_local,
	       human_size(a, sizeof(a), rs->bytes_local),
	       (unsigned long long)rs->packs_remote,
	       human_size(b, sizeof(b), rs->bytes_remote),
	       human_size(c, sizeof(c), rs->bytes_cached),
	       human_size(d, sizeof(d), rs->cache_size));
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
	struct status_args a = { 0 };
	udos_store_info inf;
	udos_status s;
	udos_remote_status rs;
	udos_remote_conf rconf = { 0 };
	int n, rc;

	n = opt_parse(&status_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n > 0)
		return opt_usage_error(&status_cmd, "unexpected argument",
				       argv[0]);
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	rc = udos_store_status(&s, cli->st);
	if (rc < 0) {
		cli_err(cli, rc, udos_store_path(cli->st));
		return EXIT_STORE;
	}
	rc = udos_remote_status_get(&rs, cli->st);
	if (rc == 0 && rs.has_remote)
		rc = udos_remote_get(&rconf, cli->st);
	if (rc < 0) {
		cli_err(cli, rc, udos_store_path(cli->st));
		return EXIT_STORE;
	}
	udos_store_info_get(&inf, cli->st);
	if (a.json)
		print_json(cli->st, &inf, &s, &rs, &rconf);
	else
		print_human(cli->st, &inf, &s, &rs, &rconf);
	return EXIT_OK;
}
