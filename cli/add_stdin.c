/* cli/add_stdin.c - `udos add -`: standard input as one object, streamed. */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

struct in {
	uint64_t bytes;
};

/* a udos_read_fn over fd 0 that counts what it hands over */
static ssize_t read_stdin(void *ctx, void *buf, size_t len)
{
	struct in *in = ctx;
	ssize_t n;

	do
		n = read(STDIN_FILENO, buf, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	in->bytes += (uint64_t)n;
	return n;
}

int add_stdin(struct cli *cli, bool to_loose, int compress, bool json)
{
	udos_writer_opts wo = UDOS_WRITER_OPTS_INIT;
	char hex[UDOS_OID_HEXSZ + 1];
	udos_writer *w = NULL;
	struct in in = { 0 };
	bool is_new = false;
	udos_oid oid;
	int rc;

	if (to_loose) {
		rc = udos_add_loose_cb(&oid, &is_new, cli->st, read_stdin, &in,
				       0);
	} else {
		wo.compress = compress;
		rc = udos_writer_open(&w, cli->st, &wo);
		if (rc == 0)
			rc = udos_writer_add_cb(&oid, &is_new, w, read_stdin,
						&in);
		/* printed only once durable, as every pack-mode line */
		if (rc == 0)
			rc = udos_writer_commit(w);
		udos_writer_close(w);
	}
	if (rc < 0) {
		cli_err(cli, rc, "<stdin>");
		return EXIT_STORE; /* nothing stored: no "no" answer here */
	}
	cli_fmt_oid(cli, hex, &oid);
	if (json)
		printf("{\"hash\":\"%s\",\"size\":%llu,\"path\":\"-\","
		       "\"stored\":%s}\n", hex, (unsigned long long)in.bytes,
		       is_new ? "true" : "false");
	else
		puts(hex);
	return EXIT_OK;
}
