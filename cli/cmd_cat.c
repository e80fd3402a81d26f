/* cli/cmd_cat.c - `udos cat`: stream objects to stdout, verified. */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "idlist.h"
#include "opt.h"

struct cat_args {
	bool unused;
};

static const struct opt cat_opts[] = { OPT_END_MARK };

static const struct opt_cmd cat_cmd = {
	"cat", "HASH...", "Write the content of each object to stdout, in order.",
	"Content is hashed while it is streamed: a corrupt object fails with\n"
	"exit status 3. An id has 64 hex digits (40 in a sha1 container), or\n"
	"is a unique prefix of at least 8. A malformed id, a shorter prefix or\n"
	"one that matches several objects (they are listed) is a usage error\n"
	"(2) and nothing is printed; a missing object is reported, the others\n"
	"are still written, and the exit status is 1.\n",
	cat_opts,
};

static int write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int cat_one(struct cli *cli, const udos_oid *oid, const char *hex,
		   char *buf, size_t len)
{
	udos_reader *r = NULL;
	bool refreshed = false;
	uint64_t written = 0;
	ssize_t got;
	int rc;

again:
	rc = udos_reader_open(&r, cli->st, oid, UDOS_READ_VERIFY);
	if (rc == UDOS_ENOTFOUND) {
		cli_msg(cli, "not found", hex);
		return EXIT_NO;
	}
	if (rc == -ESTALE && !refreshed) {
		got = rc;
		goto stale;
	}
	if (rc < 0)
		return cli_err(cli, rc, hex);
	while ((got = udos_reader_read(r, buf, len)) > 0) {
		written += (uint64_t)got;
		rc = write_all(buf, (size_t)got);
		if (rc < 0) {
			udos_reader_close(r);
			if (rc != -EPIPE)
				cli_msg(cli, strerror(-rc), "<stdout>");
			return EXIT_STORE;
		}
	}
	udos_reader_close(r);
	r = NULL;
stale:
	if (got == -ESTALE && !written && !refreshed) {
		/* a clone reading a pack gc removed: pull, look again once
		 * (on failure, the read's own message says what to do) */
		char keep[1024];
		snprintf(keep, sizeof(keep), "%s", udos_error_detail());
		refreshed = true;
		if (udos_remote_refresh(cli->st) == 0)
			goto again;
		cli_msg(cli, keep, NULL);
		return EXIT_STORE;
	}
	if (got < 0) {
		/* corrupt or unreadable mid-stream: part was written */
		cli_err(cli, (int)got, hex);
		return EXIT_STORE;
	}
	return 0;
}

int cmd_cat(struct cli *cli, int argc, char **argv)
{
	struct cat_args a = { 0 };
	struct idlist l = { 0 };
	size_t blen = 1 << 20, k;
	char *buf = NULL;
	int n, i, rc, ret = 0;

	n = opt_parse(&cat_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (!n)
		return opt_usage_error(&cat_cmd, "missing HASH", NULL);
	/* the id length is the container's: open first, then check every
	 * id before writing anything */
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	l.dsz = udos_store_digest_size(cli->st);
	l.resolve_in = cli->st;
	for (i = 0; i < n && !rc; i++)
		rc = idlist_push(cli, &l, argv[i], strlen(argv[i]));
	if (!rc) {
		buf = malloc(blen);
		if (!buf)
			rc = cli_err(cli, -ENOMEM, NULL);
	}
	if (l.missing)
		ret = EXIT_NO;
	for (k = 0; !rc && k < l.n; k++) {
		char hex[UDOS_OID_HEXSZ + 1];

		rc = cat_one(cli, &l.v[k], cli_fmt_oid(cli, hex, &l.v[k]), buf,
			     blen);
		if (rc == EXIT_NO)
			ret = rc;
		if (rc != EXIT_STORE)
			rc = 0;
	}
	free(buf);
	free(l.v);
	return rc ? rc : ret;
}
