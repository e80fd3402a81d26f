/* cli/cmd_add.c - `udos add`: files in, one manifest line per file out. */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "opt.h"
#include "output.h"
#include "pathwalk.h"

struct add_args {
	const char *to;
	const char *compress;
	const char *files_from;
	const char *commit_every;
	bool recursive;
	bool nul;
	bool json;
};

#define A(f) offsetof(struct add_args, f)
static const struct opt add_opts[] = {
	{ 0, "to", OPT_STR, A(to), NULL, "loose|pack",
	  "where new objects go (default: pack)" },
	{ 0, "compress", OPT_STR, A(compress), NULL, "auto|yes|no",
	  "packed objects' compression (default: auto)" },
	{ 'r', "recursive", OPT_BOOL, A(recursive), NULL, NULL,
	  "add the files under directories" },
	{ 0, "files-from", OPT_STR, A(files_from), "FILE|-", NULL,
	  "also add the paths listed in FILE (- is stdin)" },
	{ '0', "null", OPT_BOOL, A(nul), NULL, NULL,
	  "--files-from entries end with NUL, not newline" },
	{ 0, "commit-every", OPT_STR, A(commit_every), "N", NULL,
	  "--to pack: commit (and print) at least every N objects" },
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "one JSON object per line: hash, size, path, stored" },
	OPT_END_MARK
};
#undef A

static const struct opt_cmd add_cmd = {
	"add", "[options] PATH...", "Add files as objects and print their ids.",
	"Each file gives one line '<sha256>  <path>' on stdout, the format of\n"
	"sha256sum, so `sha256sum -c` on the output checks the originals. With\n"
	"--json each line is {\"hash\", \"size\", \"path\", \"stored\"}, stored "
	"being\nfalse when nothing was written: the object was already packed\n"
	"(or, with --to loose, present at all) or came earlier in this run.\n\n"
	"The default is --to pack: bulk-friendly, objects are group-committed\n"
	"and a line is printed only once its object is durable. --to loose\n"
	"writes one file per object, durable (and printed) one by one.\n"
	"Loose objects are always stored raw; --compress applies to packs.\n\n"
	"With -r, directories are walked; symlinks, fifos, sockets and devices\n"
	"found inside are skipped with a warning. Named symlinks are followed.\n"
	"A missing, unreadable or non-regular named path (a directory without\n"
	"-r too) is reported and the rest goes on; the exit status is then 1.\n",
	add_opts,
};

/* A manifest line waiting for the commit that makes its object durable. */
struct line {
	udos_oid oid;
	uint64_t size;
	char *path;
	bool stored;
};

struct add_state {
	struct cli *cli;
	const struct add_args *a;
	struct pathwalk walk;
	udos_writer *w; /* NULL for --to loose */
	struct line *q;
	size_t n, cap;
	uint64_t commit_limit; /* lines kept before forcing a commit */
	uint64_t files, stored, bytes;
	struct progress prog;
};

/* sha256sum escapes names holding '\\' or '\n' and flags the line. */
static void print_sum_line(const struct line *l)
{
	char hex[UDOS_OID_HEXSZ + 1];
	const char *p = l->path;
	bool esc = strpbrk(p, "\\\n") != NULL;

	udos_oid_fmt(hex, &l->oid);
	if (!esc) {
		printf("%s  %s\n", hex, p);
		return;
	}
	printf("\\%s  ", hex);
	for (; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", stdout);
		else if (*p == '\n')
			fputs("\\n", stdout);
		else
			putchar(*p);
	}
	putchar('\n');
}

static void print_line(const struct add_state *s, const struct line *l)
{
	char hex[UDOS_OID_HEXSZ + 1];

	if (!s->a->json) {
		print_sum_line(l);
		return;
	}
	printf("{\"hash\":\"%s\",\"size\":%llu,\"path\":",
	       udos_oid_fmt(hex, &l->oid), (unsigned long long)l->size);
	json_str(stdout, l->path);
	printf(",\"stored\":%s}\n", l->stored ? "true" : "false");
}

/* Every queued object was added before the commit that just returned: all
 * are durable now. */
static void flush_lines(struct add_state *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		print_line(s, &s->q[i]);
		free(s->q[i].path);
	}
	s->n = 0;
	fflush(stdout);
}

static void on_commit(void *ctx, uint64_t n_committed)
{
	(void)n_committed;
	flush_lines(ctx);
}

/*
 * An explicit commit. on_commit is not called when nothing new was pending
 * (every queued line is a dedup hit), so flush here too.
 */
static int commit(struct add_state *s)
{
	int rc = udos_writer_commit(s->w);

	if (rc == 0)
		flush_lines(s);
	return rc;
}

static int queue_line(struct add_state *s, const struct line *l)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 256;
		struct line *nq = realloc(s->q, ncap * sizeof(*nq));

		if (!nq)
			return -ENOMEM;
		s->q = nq;
		s->cap = ncap;
	}
	s->q[s->n] = *l;
	s->q[s->n].path = strdup(l->path);
	if (!s->q[s->n].path)
		return -ENOMEM;
	s->n++;
	return 0;
}

/* The store-writing step: one regular file, by path. */
static int add_file(void *ctx, const char *path, bool walked)
{
	struct add_state *s = ctx;
	struct line l = { .path = (char *)path };
	struct stat sb;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
				(walked ? O_NOFOLLOW : 0));
	if (fd < 0) {
		cli_msg(s->cli, strerror(errno), path);
		s->walk.errors++;
		return 0;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		cli_msg(s->cli, "not a regular file", path);
		s->walk.errors++;
		close(fd);
		return 0;
	}
	l.size = (uint64_t)sb.st_size;
	if (s->w)
		rc = udos_writer_add_fd(&l.oid, &l.stored, s->w, fd);
	else
		rc = udos_add_loose_fd(&l.oid, &l.stored, s->cli->st, fd, 0);
	close(fd);
	if (rc == UDOS_ECHANGED || rc == -EIO) {
		/* the source's fault, not the store's: go on */
		cli_err(s->cli, rc, path);
		s->walk.errors++;
		return 0;
	}
	if (rc < 0) {
		cli_err(s->cli, rc, path);
		return EXIT_STORE;
	}
	s->files++;
	s->bytes += l.size;
	s->stored += l.stored;
	progress_update(&s->prog, s->files, 0);

	if (!s->w) {
		/* udos_add_loose_fd is durable on return */
		print_line(s, &l);
		return 0;
	}
	rc = queue_line(s, &l);
	if (rc < 0) {
		cli_err(s->cli, rc, path);
		return EXIT_STORE;
	}
	/* Lines of already-present objects do not count toward the writer's
	 * thresholds: bound the queue ourselves. */
	if (s->n >= s->commit_limit) {
		rc = commit(s);
		if (rc < 0) {
			cli_err(s->cli, rc, NULL);
			return EXIT_STORE;
		}
	}
	return 0;
}

static int parse_count(uint64_t *out, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v == 0 || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

int cmd_add(struct cli *cli, int argc, char **argv)
{
	struct add_args a = { .to = "pack", .compress = "auto" };
	udos_writer_opts wo = UDOS_WRITER_OPTS_INIT;
	struct add_state s = { .cli = cli, .a = &a };
	int n, i, rc = 0, crc;
	bool loose;

	n = opt_parse(&add_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (!n && !a.files_from)
		return opt_usage_error(&add_cmd, "nothing to add", NULL);
	if (a.nul && !a.files_from)
		return opt_usage_error(&add_cmd, "-0 needs --files-from", NULL);
	loose = !strcmp(a.to, "loose");
	wo.compress = cli_compress_mode(a.compress);
	s.commit_limit = 20000;
	if (a.commit_every) {
		if (parse_count(&s.commit_limit, a.commit_every) < 0)
			return opt_usage_error(&add_cmd, "invalid count",
					       a.commit_every);
		wo.commit_every_objects = s.commit_limit;
	}
	wo.on_commit = on_commit;
	wo.ctx = &s;

	if (loose)
		cli->mode = CMD_READ_STORE; /* loose writes take no lock */
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	if (!loose) {
		crc = udos_writer_open(&s.w, cli->st, &wo);
		if (crc < 0) {
			cli_err(cli, crc, NULL);
			return EXIT_STORE;
		}
	}

	s.walk.cli = cli;
	s.walk.recursive = a.recursive;
	s.walk.fn = add_file;
	s.walk.ctx = &s;
	progress_init(&s.prog, "adding", "files", cli->quiet);

	for (i = 0; i < n && !rc; i++)
		rc = pathwalk_one(&s.walk, argv[i]);
	if (!rc && a.files_from) {
		rc = pathwalk_list(&s.walk, a.files_from, a.nul);
		if (rc < 0 && rc != -ENOMEM) {
			s.walk.errors++;
			rc = 0;
		}
	}
	if (rc < 0) {
		cli_err(cli, rc, NULL);
		rc = EXIT_STORE;
	}
	progress_end(&s.prog);

	if (s.w) {
		/* Keep what was added even after a failure: the commit makes it
		 * durable and prints its lines. */
		crc = commit(&s);
		if (crc < 0 && rc != EXIT_STORE) /* else already said */
			cli_err(cli, crc, NULL);
		if (crc < 0)
			rc = EXIT_STORE;
		udos_writer_close(s.w);
	}
	for (size_t k = 0; k < s.n; k++)
		free(s.q[k].path); /* left only if the final commit failed */
	free(s.q);
	fflush(stdout);
	if (!cli->quiet && isatty(STDERR_FILENO)) {
		char hs[32];

		fprintf(stderr, "udos add: %llu files, %llu new, %s\n",
			(unsigned long long)s.files,
			(unsigned long long)s.stored,
			human_size(hs, sizeof(hs), s.bytes));
	}
	if (rc)
		return rc;
	return s.walk.errors ? EXIT_NO : EXIT_OK;
}
