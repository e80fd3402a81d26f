/* cli/cmd_init.c - `udos init`: create a container. */
#include "cmd.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "opt.h"

struct init_args {
	uint64_t pack_size; /* 0: not given */
	const char *compression;
	long prefix_len; /* -1: not given */
	const char *hash;
};

#define A(f) offsetof(struct init_args, f)
static const struct opt init_opts[] = {
	{ 0, "pack-size", OPT_SIZE, A(pack_size), "SIZE", NULL,
	  "close a pack past this size: 512M, 4G (default: 4G)" },
	{ 0, "compression", OPT_STR, A(compression), "zstd:N|zlib:N|none", NULL,
	  "default codec (default: zstd:1)" },
	{ 0, "loose-prefix-len", OPT_UINT, A(prefix_len), "N", "0..8",
	  "hex digits of the loose/ folder level, 0..8 (default: 2)" },
	{ 0, "hash", OPT_STR, A(hash), "sha256|sha1", "sha256|sha1",
	  "hash naming the objects, fixed for good (default: sha256)" },
	OPT_END_MARK
};
#undef A

static const struct opt_cmd init_cmd = {
	"init", "[DIR] [options]",
	"Create a container in DIR (default: -C, $UDOS_CONTAINER or the\n"
	"current folder). DIR may exist only as an empty folder.",
	NULL,
	init_opts,
};

int cmd_init(struct cli *cli, int argc, char **argv)
{
	struct init_args a = { .prefix_len = -1 };
	udos_init_opts io = UDOS_INIT_OPTS_INIT;
	const char *dir;
	int n, rc;

	n = opt_parse(&init_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n > 1)
		return opt_usage_error(&init_cmd, "unexpected argument",
				       argv[1]);
	dir = n ? argv[0] : cli->dir;
	if (a.pack_size)
		io.pack_size_target = a.pack_size;
	if (a.compression) {
		int codec, level;

		if (udos_codec_parse(&codec, &level, a.compression) < 0)
			return opt_usage_error(&init_cmd, "invalid compression",
					       a.compression);
		io.compression = a.compression;
	}
	if (a.prefix_len >= 0)
		io.loose_prefix_len = (int)a.prefix_len;
	if (a.hash && udos_hash_type_parse(&io.hash_type, a.hash) < 0)
		return opt_usage_error(&init_cmd, "invalid hash type", a.hash);
	rc = udos_store_init(dir, &io);
	if (rc == -EINVAL) {
		cli_err(cli, rc, dir);
		return EXIT_USAGE;
	}
	if (rc < 0) {
		cli_err(cli, rc, dir);
		return EXIT_STORE;
	}
	return EXIT_OK;
}
