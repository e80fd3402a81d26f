/* cli/cmd_restore.c - `udos restore`: rebuild the files a manifest of `add`
 * names under a folder. */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opt.h"
#include "output.h"

struct restore_args {
	bool json;
	bool verify;
};

#define A(f) offsetof(struct restore_args, f)
static const struct opt restore_opts[] = {
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "one JSON object per file: path, status, error" },
	{ 0, "verify", OPT_BOOL, A(verify), NULL, NULL,
	  "also hash packed content against its id while reading" },
	OPT_END_MARK
};
#undef A

static const struct opt_cmd restore_cmd = {
	"restore", "[options] MANIFEST DEST",
	"Write the files a manifest names under DEST.",
	"MANIFEST (- is stdin) is what `udos add` prints: sha256sum-style\n"
	"lines '<hash>  <path>' (names with '\\\\' or a newline escaped as\n"
	"sha256sum does) or, line by line, the JSON objects of `add --json`\n"
	"(\"path\" with \\udcXX for bytes that are not UTF-8). Each file is\n"
	"written at DEST/<path>, folders made as needed; afterwards\n"
	"`sha256sum -c MANIFEST` run in DEST passes.\n\n"
	"Objects are read in storage order, each once. A file already there\n"
	"with the right content is left alone, so a second run writes only\n"
	"what is missing or different. Absolute paths, '..' and symlinks on\n"
	"the way out of DEST are refused. A missing or damaged object, or a\n"
	"file that cannot be written, is reported as\n"
	"`udos restore: <problem> '<path>'` and the rest goes on; the exit\n"
	"status is then 1. With --json each file gives one line on stdout:\n"
	"{\"path\", \"status\": \"written\"|\"same\"|\"failed\", \"error\"}.\n\n"
	"Progress is shown on stderr when it is a terminal; a summary line\n"
	"follows (both silenced by -q).\n",
	restore_opts,
};

struct rstate {
	struct cli *cli;
	bool json;
	struct progress prog;
};

static void on_file(void *ctx, const udos_restore_file *f)
{
	static const char *const names[] = { "written", "same", "failed" };
	struct rstate *s = ctx;
	char buf[640];

	if (f->status == UDOS_RESTORE_FAILED) {
		progress_end(&s->prog);
		snprintf(buf, sizeof(buf), "%s", f->detail && f->detail[0] ?
						      f->detail :
						      udos_strerror(f->error));
		cli_msg(s->cli, buf, f->path);
	}
	if (!s->json)
		return;
	fputs("{\"path\":", stdout);
	json_str(stdout, f->path);
	printf(",\"status\":\"%s\"", names[f->status]);
	if (f->status == UDOS_RESTORE_FAILED) {
		fputs(",\"error\":", stdout);
		json_str(stdout, f->detail ? f->detail : "");
	}
	fputs("}\n", stdout);
}

static void on_progress(void *ctx, const udos_progress *p)
{
	progress_cb(&((struct rstate *)ctx)->prog, p);
}

/* The whole manifest in memory (it is needed whole: objects are read in
 * storage order, not the manifest's). */
static int slurp(char **out, size_t *len_out, const char *path)
{
	int fd = strcmp(path, "-") ? open(path, O_RDONLY | O_CLOEXEC) : 0;
	size_t len = 0, cap = 1 << 16;
	char *b = NULL;
	ssize_t n;

	if (fd < 0)
		return -errno;
	b = malloc(cap);
	while (b) {
		if (len == cap) {
			char *nb = realloc(b, cap * 2);

			if (!nb)
				break;
			b = nb;
			cap *= 2;
		}
		n = read(fd, b + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? -errno : 0;

			if (fd)
				close(fd);
			if (e) {
				free(b);
				return e;
			}
			*out = b;
			*len_out = len;
			return 0;
		}
		len += (size_t)n;
	}
	free(b);
	if (fd)
		close(fd);
	return -ENOMEM;
}

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	struct restore_args a = { 0 };
	udos_restore_opts ro = UDOS_RESTORE_OPTS_INIT;
	udos_restore_summary sum;
	udos_manifest *m = NULL;
	struct rstate s = { .cli = cli };
	char *text = NULL;
	size_t len = 0;
	int n, rc, ret;

	n = opt_parse(&restore_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (n != 2)
		return opt_usage_error(&restore_cmd,
				       "need a manifest and a folder", NULL);
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	rc = slurp(&text, &len, argv[0]);
	if (rc < 0) {
		cli_msg(cli, strerror(-rc), argv[0]);
		return EXIT_NO;
	}
	rc = udos_manifest_new(&m, udos_store_digest_size(cli->st));
	if (rc == 0)
		rc = udos_manifest_parse(m, text, len, 0);
	free(text);
	if (rc == -EINVAL) {
		cli_msg(cli, udos_error_detail(), argv[0]);
		udos_manifest_free(m);
		return EXIT_USAGE;
	}
	if (rc < 0) {
		udos_manifest_free(m);
		return cli_err(cli, rc, argv[0]);
	}

	s.json = a.json;
	progress_init(&s.prog, "restoring", "files", cli->quiet);
	ro.on_file = on_file;
	ro.progress = on_progress;
	ro.ctx = &s;
	ro.verify = a.verify;
	rc = udos_restore(&sum, cli->st, m, argv[1], &ro);
	progress_end(&s.prog);
	fflush(stdout);
	udos_manifest_free(m);
	if (rc < 0)
		return cli_err(cli, rc, argv[1]);
	if (!cli->quiet) {
		char w[32];
		double secs = sum.seconds > 0 ? sum.seconds : 1e-9;

		human_size(w, sizeof(w), sum.bytes_written);
		fprintf(stderr,
			"udos restore: %llu files, %llu written (%s), %llu "
			"unchanged, %llu failed, %.2f s, %.0f files/s\n",
			(unsigned long long)sum.files,
			(unsigned long long)sum.written, w,
			(unsigned long long)sum.same,
			(unsigned long long)sum.failed, sum.seconds,
			(double)sum.files / secs);
	}
	ret = sum.failed ? EXIT_NO : EXIT_OK;
	return ret;
}
