/* cli/cmd_add.c - `udos add`: files in through the ingest engine, one
 * manifest line per file out. */
#include "cmd.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "opt.h"
#include "output.h"

struct add_args {
	const char *to;
	const char *compress;
	const char *files_from;
	const char *io;
	uint64_t max_inflight;
	bool recursive;
	bool nul;
	bool json;
	bool follow;
	bool verbose;
	bool no_cache;
	const char *wait;
};

#define A(f) offsetof(struct add_args, f)
static const struct opt add_opts[] = {
	{ 0, "to", OPT_STR, A(to), NULL, "loose|pack",
	  "where new objects go (default: pack)" },
	{ 0, "compress", OPT_STR, A(compress), NULL, "auto|yes|no",
	  "packed objects' compression (default: auto)" },
	{ 'r', "recursive", OPT_BOOL, A(recursive), NULL, NULL,
	  "add the files under directories" },
	{ 0, "follow-symlinks", OPT_BOOL, A(follow), NULL, NULL,
	  "follow symlinks inside directories (default: skip)" },
	{ 0, "files-from", OPT_STR, A(files_from), "FILE|-", NULL,
	  "also add the paths listed in FILE (- is stdin)" },
	{ '0', "null", OPT_BOOL, A(nul), NULL, NULL,
	  "--files-from entries end with NUL, not newline" },
	{ 0, "json", OPT_BOOL, A(json), NULL, NULL,
	  "one JSON object per line: hash, size, path, stored" },
	{ 'v', "verbose", OPT_BOOL, A(verbose), NULL, NULL,
	  "list each skipped symlink or special file on stderr" },
	{ 0, "no-cache", OPT_BOOL, A(no_cache), NULL, NULL,
	  "read every file, even those the stat cache knows unchanged" },
	{ 0, "io", OPT_STR, A(io), NULL, "auto|uring|threads",
	  "how files are read (default: auto)" },
	{ 0, "max-inflight", OPT_SIZE, A(max_inflight), "SIZE", NULL,
	  "memory cap for data in flight (default: 256M)" },
	OPT_WAIT(struct add_args),
	OPT_END_MARK
};
#undef A

static const struct opt_cmd add_cmd = {
	"add", "[options] PATH...", "Add files as objects and print their ids.",
	"Each file gives one line '<hash>  <path>' on stdout, the format of\n"
	"sha256sum (sha1sum in a sha1 container), so `sha256sum -c` on the\n"
	"output checks the originals. With\n"
	"--json each line is {\"hash\", \"size\", \"path\", \"stored\"}, stored "
	"being\nfalse when nothing was written: the object was already packed\n"
	"(or, with --to loose, present at all) or came earlier in this run.\n\n"
	"Files are read, hashed and compressed in parallel. Named files (on\n"
	"the command line or in --files-from) are printed in the order given;\n"
	"files found under a directory are printed as they finish.\n\n"
	"The default is --to pack: bulk-friendly, objects are group-committed\n"
	"and a line is printed only once its object is durable. --to loose\n"
	"writes one file per object, durable (and printed) one by one.\n"
	"Loose objects are always stored raw; --compress applies to packs.\n\n"
	"With -r, directories are walked; symlinks (unless --follow-symlinks),\n"
	"fifos, sockets and devices found inside are skipped and counted by\n"
	"kind in one line at the end (-v lists each one).\n"
	"Named symlinks are followed. A missing, unreadable or non-regular\n"
	"named path (a directory without -r too), or a file that changes while\n"
	"it is read, is reported and the rest goes on; the exit status is\n"
	"then 1. A store error (disk full, locked, corrupt) stops the run with\n"
	"exit status 3; every line printed before it stays valid.\n\n"
	"A file seen by an earlier add with the same device, inode, size,\n"
	"mtime and ctime (the container's stat cache), whose object is still\n"
	"stored, is not read again: its line comes from the cache (--json\n"
	"adds \"cached\":true). Files changed less than 3 seconds before the\n"
	"run started are always read; --no-cache reads every file.\n\n"
	"Progress is shown on stderr when it is a terminal; a summary line\n"
	"follows at the end (both silenced by -q).\n\n"
	"'udos add -' stores standard input as one object, streamed with\n"
	"bounded memory, and prints its id alone (as `git hash-object -w\n"
	"--stdin`) once it is durable.\n",
	add_opts,
};

/* ---- named paths: printed in the order given -------------------------- */

/*
 * The engine reports files as they finish, each with the position of the
 * input entry it came from; every entry gets one report of its own
 * (named). A named file's line waits in `pend` until every earlier entry
 * has been reported. Files found under a folder are printed at once.
 */
struct pend {
	char *line; /* NULL: no line (failed) */
	bool done;
};

struct add_state {
	struct cli *cli;
	const struct add_args *a;
	pthread_mutex_t mu; /* everything below; stdout and stderr */

	/* source: argv, then the list */
	char **argv;
	int argc, argi;
	FILE *list;
	char *lbuf;
	size_t lcap;

	uint64_t seq_next;        /* one past the highest entry reported */
	struct pend *pend;        /* ring of entries [seq_base, seq_next) */
	size_t pcap;              /* power of two */
	uint64_t seq_base;        /* oldest number not yet printed */

	uint64_t errors;          /* per-file failures (exit 1) */
	/* what was reported stored (committed), for the summary of a run
	 * that stopped: the engine's stored bytes then include records it
	 * appended and truncated again */
	uint64_t ok_files, ok_new, ok_bytes_in, ok_new_bytes;
	int store_err;            /* first store-level failure seen */
	bool cancelled;           /* files dropped because the run stopped */
	uint64_t skipped[UDOS_INGEST_TYPE_UNKNOWN + 1]; /* by type */

	struct progress prog; /* on stderr */
};

/* ---- output ------------------------------------------------------------ */

/* Take the progress line off the terminal before other stderr output. */
static void unprogress(struct add_state *s)
{
	progress_end(&s->prog);
}

/* sha256sum (coreutils 9) escapes names holding '\\', '\n' or '\r' and
 * flags the line: `sha256sum -c` drops a bare CR at a line's end. */
static void print_sum_line(FILE *f, const char *hex, const char *p)
{
	if (!strpbrk(p, "\\\n\r")) {
		fprintf(f, "%s  %s\n", hex, p);
		return;
	}
	fprintf(f, "\\%s  ", hex);
	for (; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\r')
			fputs("\\r", f);
		else
			putc(*p, f);
	}
	putc('\n', f);
}

static void print_line(FILE *f, const struct add_state *s,
		       const udos_ingest_file *file)
{
	char hex[UDOS_OID_HEXSZ + 1];

	cli_fmt_oid(s->cli, hex, &file->oid);
	if (!s->a->json) {
		print_sum_line(f, hex, file->path);
		return;
	}
	fprintf(f, "{\"hash\":\"%s\",\"size\":%llu,\"path\":", hex,
		(unsigned long long)file->size);
	json_str(f, file->path);
	fprintf(f, ",\"stored\":%s%s}\n", file->is_new ? "true" : "false",
		file->cached ? ",\"cached\":true" : "");
}

static char *format_line(const struct add_state *s,
			 const udos_ingest_file *file)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	print_line(f, s, file);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/*
 * Print finished named lines from the oldest on, stopping at the first not
 * yet finished; with `all` (at the end), a named file the engine skipped
 * without reporting it no longer holds the others back.
 */
static void pend_drain(struct add_state *s, bool all)
{
	while (s->seq_base < s->seq_next) {
		struct pend *p = &s->pend[s->seq_base & (s->pcap - 1)];

		if (!p->done && !all)
			break;
		if (p->line)
			fputs(p->line, stdout);
		free(p->line);
		p->line = NULL;
		p->done = false;
		s->seq_base++;
	}
}

/* Make room for entry `seq` in the ring (its slot starts empty). */
static int pend_reserve(struct add_state *s, uint64_t seq)
{
	while (seq - s->seq_base >= s->pcap) {
		size_t ncap = s->pcap ? s->pcap * 2 : 1024;
		struct pend *np = calloc(ncap, sizeof(*np));
		uint64_t q;

		if (!np)
			return -ENOMEM;
		for (q = s->seq_base; q < s->seq_next; q++)
			np[q & (ncap - 1)] = s->pend[q & (s->pcap - 1)];
		free(s->pend);
		s->pend = np;
		s->pcap = ncap;
	}
	if (seq >= s->seq_next)
		s->seq_next = seq + 1;
	return 0;
}

/* A named entry finished: `line` (owned, may be NULL) waits its turn. */
static void pend_done(struct add_state *s, uint64_t seq, char *line)
{
	struct pend *p;

	if (seq < s->seq_base || pend_reserve(s, seq) < 0) {
		/* out of memory: print it now, out of order rather than
		 * lost */
		if (line)
			fputs(line, stdout);
		free(line);
		return;
	}
	p = &s->pend[seq & (s->pcap - 1)];
	p->line = line;
	p->done = true;
	pend_drain(s, false);
}

/* ---- the source: path arguments, then --files-from -------------------- */

static void path_error(struct add_state *s, const char *problem,
		       const char *path)
{
	pthread_mutex_lock(&s->mu);
	unprogress(s);
	cli_msg(s->cli, problem, path);
	s->errors++;
	pthread_mutex_unlock(&s->mu);
}

/* The next raw entry, or NULL at the end. */
static const char *next_entry(struct add_state *s)
{
	char sep = s->a->nul ? '\0' : '\n';
	ssize_t len;

	if (s->argi < s->argc)
		return s->argv[s->argi++];
	while (s->list) {
		len = getdelim(&s->lbuf, &s->lcap, sep, s->list);
		if (len < 0) {
			if (ferror(s->list))
				path_error(s, strerror(EIO), s->a->files_from);
			if (s->list != stdin)
				fclose(s->list);
			s->list = NULL;
			break;
		}
		if (len && s->lbuf[len - 1] == sep)
			s->lbuf[--len] = '\0';
		if (len)
			return s->lbuf;
	}
	return NULL;
}

/* udos_ingest_source_fn: runs on the engine's source thread. The engine
 * checks each entry (a folder needs -r, anything else must be a regular
 * file) and reports it. */
static int src_next(void *ctx, const char **path_out)
{
	struct add_state *s = ctx;
	const char *p = next_entry(s);

	if (!p)
		return 0;
	*path_out = p;
	return 1;
}

/* ---- engine callbacks -------------------------------------------------- */

/* Does the detail name a file of the container, not the input file (which
 * could lie in the container's folder)? */
static bool in_store(const struct add_state *s, const udos_ingest_file *f)
{
	const char *dir = udos_store_path(s->cli->st);
	char q[1024];

	if (!f->detail)
		return false;
	snprintf(q, sizeof(q), "'%s'", f->path ? f->path : "");
	if (f->path && strstr(f->detail, q))
		return false;
	snprintf(q, sizeof(q), "'%s/", dir);
	return strstr(f->detail, q) != NULL;
}

/* The container failed: say so, naming it, never the input file. */
static void store_error(struct add_state *s, const udos_ingest_file *f)
{
	const char *what = udos_strerror(f->error);
	const char *d = f->detail;
	bool named = in_store(s, f);
	char buf[1024];

	if (named && (f->error == -EROFS || f->error == -EACCES ||
		      f->error == -EPERM)) {
		snprintf(buf, sizeof(buf), "container is not writable (%s)",
			 what);
		cli_msg(s->cli, buf, udos_store_path(s->cli->st));
		return;
	}
	if (!d || !d[0] || strstr(what, d))
		snprintf(buf, sizeof(buf), "%s", what);
	else if (strstr(d, what))
		snprintf(buf, sizeof(buf), "%s", d);
	else
		snprintf(buf, sizeof(buf), "%s: %s", what, d);
	cli_msg(s->cli, buf, named ? NULL : f->path);
}

static void file_error(struct add_state *s, const udos_ingest_file *f)
{
	const char *what = udos_strerror(f->error);
	const char *d = f->detail;
	char buf[1024];

	if (f->error == -ECANCELED) {
		/* the run stopped for another file's store error, which is
		 * said (its report may come after this one) */
		s->cancelled = true;
		return;
	}
	if (f->stopped) { /* the engine says: the store failed */
		if (s->store_err)
			return; /* a consequence of the first */
		s->store_err = f->error;
		store_error(s, f);
		return;
	}
	s->errors++;
	/* the detail ("stat 'x': No such file...") mostly repeats the cause */
	if (d && d[0] && !strcasestr(d, what))
		snprintf(buf, sizeof(buf), "%s: %s", what, d);
	else
		snprintf(buf, sizeof(buf), "%s", what);
	cli_msg(s->cli, buf, f->path);
}

static const char *type_name(int type, bool plural)
{
	static const char *const names[][2] = {
		[UDOS_INGEST_TYPE_FILE] = { "file", "files" },
		[UDOS_INGEST_TYPE_DIR] = { "folder", "folders" },
		[UDOS_INGEST_TYPE_SYMLINK] = { "symlink", "symlinks" },
		[UDOS_INGEST_TYPE_FIFO] = { "fifo", "fifos" },
		[UDOS_INGEST_TYPE_SOCKET] = { "socket", "sockets" },
		[UDOS_INGEST_TYPE_CHARDEV] = { "character device",
					       "character devices" },
		[UDOS_INGEST_TYPE_BLOCKDEV] = { "block device",
						"block devices" },
		[UDOS_INGEST_TYPE_UNKNOWN] = { "special file",
					       "special files" },
	};

	if (type < 0 || type > UDOS_INGEST_TYPE_UNKNOWN)
		type = UDOS_INGEST_TYPE_UNKNOWN;
	return names[type][plural];
}

/* An input entry that is not a file: skipped, or a folder walked. */
static void on_entry(struct add_state *s, const udos_ingest_file *f)
{
	char buf[128];

	if (f->skipped && f->named) {
		/* named, so asked for: a failure */
		unprogress(s);
		s->errors++;
		cli_msg(s->cli, "not a regular file", f->path);
	} else if (f->skipped) {
		s->skipped[f->type <= UDOS_INGEST_TYPE_UNKNOWN ?
				   f->type : UDOS_INGEST_TYPE_UNKNOWN]++;
		if (s->a->verbose && !s->cli->quiet) {
			unprogress(s);
			snprintf(buf, sizeof(buf), "skipping %s",
				 type_name(f->type, false));
			cli_msg(s->cli, buf, f->path);
		}
	}
	if (f->named)
		pend_done(s, f->index, NULL);
}

/* udos_ingest_file_fn: for packs, called after the commit that made the
 * object durable, so the line may go out at once. */
static void on_file(void *ctx, const udos_ingest_file *f)
{
	struct add_state *s = ctx;
	char *line = NULL;

	pthread_mutex_lock(&s->mu);
	if (f->skipped || (f->type == UDOS_INGEST_TYPE_DIR && !f->error)) {
		on_entry(s, f);
		goto out;
	}
	if (f->error) {
		unprogress(s);
		if (f->named && f->error == -EISDIR &&
		    f->type == UDOS_INGEST_TYPE_DIR) {
			s->errors++;
			cli_msg(s->cli, "is a directory (use -r)", f->path);
		} else {
			file_error(s, f);
		}
	} else {
		s->ok_files++;
		s->ok_bytes_in += f->size;
		if (f->is_new) {
			s->ok_new++;
			s->ok_new_bytes += f->size;
		}
		if (!f->named) {
			print_line(stdout, s, f);
		} else {
			line = format_line(s, f);
			if (!line && !s->store_err) {
				/* out of memory: the line cannot wait,
				 * print it now (out of order rather than
				 * lost) */
				print_line(stdout, s, f);
			}
		}
	}
	if (f->named)
		pend_done(s, f->index, line);
out:
	pthread_mutex_unlock(&s->mu);
}

/* With UDOS_INGEST_REPORT_ALL, skipped entries come through on_file: what
 * is left here are folders that could not be read, loops and notices. */
static void on_warning(void *ctx, int kind, int code, const char *path,
		       const char *message)
{
	struct add_state *s = ctx;

	(void)code;
	pthread_mutex_lock(&s->mu);
	unprogress(s);
	if (kind == UDOS_INGEST_WARN_WALK) {
		/* files under it were not added: a failure, said even with
		 * -q */
		s->errors++;
		cli_msg(s->cli, message, path);
	} else if (!s->cli->quiet) {
		cli_msg(s->cli, message, path);
	}
	pthread_mutex_unlock(&s->mu);
}

/* One line for everything skipped, by kind. */
static void print_skipped(const struct add_state *s)
{
	bool first = true;
	int t;

	for (t = 0; t <= UDOS_INGEST_TYPE_UNKNOWN; t++) {
		if (!s->skipped[t])
			continue;
		fprintf(stderr, "%s%llu %s", first ? "udos add: skipped " : ", ",
			(unsigned long long)s->skipped[t],
			type_name(t, s->skipped[t] != 1));
		first = false;
	}
	if (!first)
		fprintf(stderr, "%s\n",
			s->a->verbose ? "" : " (-v lists them)");
}

/* udos_ingest_progress_fn: also pushes printed lines out regularly (stdout
 * is block-buffered on a pipe). */
static void on_progress(void *ctx, const udos_ingest_progress *p)
{
	struct add_state *s = ctx;
	struct progress_counts c = {
		.done = p->files_done, .total = p->files_total,
		.bytes_done = p->bytes_done, .bytes_total = p->bytes_total,
		.failed = p->errors, .growing = !p->walk_done,
	};

	pthread_mutex_lock(&s->mu);
	fflush(stdout);
	progress_show(&s->prog, &c);
	pthread_mutex_unlock(&s->mu);
}

static void print_summary(const struct add_state *s,
			  const udos_ingest_summary *sum, bool failed)
{
	uint64_t files = sum->files, new_objects = sum->new_objects;
	uint64_t dedup = sum->dedup_hits, bytes_in = sum->bytes_in;
	char in[32], st[32] = "", *stored = st;
	double secs = sum->seconds > 0 ? sum->seconds : 1e-9;

	if (failed) {
		/* count only what was reported stored: for packs, the
		 * engine's stored bytes include records appended and then
		 * truncated, uncommitted (TODO(#8): count them at commit in
		 * the engine); a loose object's stored bytes are its size */
		files = s->ok_files;
		new_objects = s->ok_new;
		dedup = s->ok_files - s->ok_new;
		bytes_in = s->ok_bytes_in;
		if (strcmp(s->a->to, "loose"))
			stored = NULL;
		else
			human_size(st, sizeof(st), s->ok_new_bytes);
	} else {
		human_size(st, sizeof(st), sum->bytes_stored);
	}
	human_size(in, sizeof(in), bytes_in);
	fprintf(stderr,
		"udos add: %s%llu files, %llu new objects, %llu dedup hits, "
		"%s in, ", failed ? "stopped: " : "", (unsigned long long)files,
		(unsigned long long)new_objects, (unsigned long long)dedup,
		in);
	if (stored)
		fprintf(stderr, "%s stored, ", stored);
	fprintf(stderr, "%.2f s, %.1f MB/s, %.0f files/s", sum->seconds,
		(double)bytes_in / 1e6 / secs, (double)files / secs);
	if (!failed && sum->cached)
		fprintf(stderr, ", %llu unchanged (not read)",
			(unsigned long long)sum->cached);
	if (s->errors)
		fprintf(stderr, ", %llu failed", (unsigned long long)s->errors);
	fputc('\n', stderr);
}

/* ---- the command ------------------------------------------------------- */

static int parse_io(const char *s)
{
	if (!strcmp(s, "uring"))
		return UDOS_INGEST_IO_URING;
	if (!strcmp(s, "threads"))
		return UDOS_INGEST_IO_THREADS;
	return UDOS_INGEST_IO_AUTO;
}

int cmd_add(struct cli *cli, int argc, char **argv)
{
	struct add_args a = { .to = "pack", .compress = "auto", .io = "auto",
			      .max_inflight = 256ull << 20 };
	udos_ingest_opts io = UDOS_INGEST_OPTS_INIT;
	udos_ingest_summary sum;
	struct add_state *s;
	int n, rc, ret;

	n = opt_parse(&add_cmd, &a, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (!n && !a.files_from)
		return opt_usage_error(&add_cmd, "nothing to add", NULL);
	if (a.nul && !a.files_from)
		return opt_usage_error(&add_cmd, "-0 needs --files-from", NULL);
	for (int i = 0; i < n; i++)
		if (!strcmp(argv[i], "-") && (n > 1 || a.files_from))
			return opt_usage_error(&add_cmd, "standard input ('-') "
					       "is added alone", NULL);
	io.max_inflight = a.max_inflight;
	io.target = strcmp(a.to, "loose") ? UDOS_INGEST_TO_PACK
					   : UDOS_INGEST_TO_LOOSE;
	io.compress = cli_compress_mode(a.compress);
	io.io = parse_io(a.io);
	io.follow_symlinks = a.follow;
	io.flags = UDOS_INGEST_REPORT_ALL |
		   (a.recursive ? 0 : UDOS_INGEST_NO_RECURSE) |
		   (a.no_cache ? UDOS_INGEST_NO_CACHE : 0);

	if (io.target == UDOS_INGEST_TO_LOOSE)
		cli->mode = CMD_READ_STORE; /* loose writes take no lock */
	cli->wait = a.wait;
	rc = cli_open_store(cli);
	if (rc)
		return rc;
	if (n == 1 && !strcmp(argv[0], "-"))
		return add_stdin(cli, io.target == UDOS_INGEST_TO_LOOSE,
				 io.compress, a.json);

	s = calloc(1, sizeof(*s));
	if (!s) {
		cli_err(cli, -ENOMEM, NULL);
		return EXIT_STORE;
	}
	pthread_mutex_init(&s->mu, NULL);
	s->cli = cli;
	s->a = &a;
	s->argv = argv;
	s->argc = n;
	progress_init(&s->prog, "adding", "files", cli->quiet);
	if (a.files_from) {
		s->list = strcmp(a.files_from, "-") ? fopen(a.files_from, "re")
						     : stdin;
		if (!s->list)
			path_error(s, strerror(errno), a.files_from);
	}

	io.on_file = on_file;
	io.on_warning = on_warning;
	io.progress = on_progress;
	io.ctx = s;
	rc = udos_ingest_source(&sum, cli->st, src_next, s, &io);

	/* the engine's threads are gone: no more locking needed */
	unprogress(s);
	pend_drain(s, true);
	fflush(stdout);
	if (rc < 0 && !s->store_err)
		cli_err(cli, rc, NULL);
	else if (s->cancelled && !s->store_err)
		cli_err(cli, -ECANCELED, NULL);
	if (!cli->quiet)
		print_skipped(s);
	/* a run that could not start has nothing to sum up */
	if (!cli->quiet && (rc == 0 || sum.files || sum.errors))
		print_summary(s, &sum,
			      rc < 0 || s->store_err || s->cancelled);

	if (rc < 0 || s->store_err || s->cancelled)
		ret = EXIT_STORE;
	else
		ret = s->errors ? EXIT_NO : EXIT_OK;
	if (s->list && s->list != stdin)
		fclose(s->list);
	free(s->lbuf);
	for (; s->seq_base < s->seq_next; s->seq_base++)
		free(s->pend[s->seq_base & (s->pcap - 1)].line);
	free(s->pend);
	pthread_mutex_destroy(&s->mu);
	free(s);
	return ret;
}
