/* cli/main.c - global options, the command table, dispatch and exit codes. */
#include "cmd.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"
#include "opt.h"

/* Sorted by name; each entry's file is cli/cmd_<name>.c. The man pages,
 * shell completion and `udos help` are made from this table. */
const struct cmd cli_commands[] = {
	{ "add", cmd_add, CMD_WRITE_STORE, "add files as objects, print their ids" },
	{ "backup", cmd_backup, CMD_WRITE_STORE, "copy the container elsewhere, incrementally" },
	{ "cat", cmd_cat, CMD_READ_STORE, "write objects' content to stdout" },
	{ "clean", cmd_clean, CMD_READ_STORE, "remove loose copies of packed objects" },
	{ "clone", cmd_clone, CMD_NO_STORE, "make a read-only container from an S3 remote" },
	{ "delete", cmd_delete, CMD_WRITE_STORE, "delete objects" },
	{ "evict", cmd_evict, CMD_WRITE_STORE, "drop local copies of pushed packs" },
	{ "export", cmd_export, CMD_READ_STORE, "copy objects into another container" },
	{ "export-dos", cmd_export_dos, CMD_READ_STORE, "write a disk-objectstore container" },
	{ "help", cmd_help, CMD_NO_STORE, "show a command's manual page or help" },
	{ "import", cmd_import, CMD_WRITE_STORE, "copy objects from another container" },
	{ "import-dos", cmd_import_dos, CMD_WRITE_STORE, "copy a disk-objectstore container's objects" },
	{ "init", cmd_init, CMD_NO_STORE, "create a container" },
	{ "ls", cmd_ls, CMD_READ_STORE, "list objects" },
	{ "optimize", cmd_optimize, CMD_WRITE_STORE, "pack, clean, repack and compact the index" },
	{ "pack", cmd_pack, CMD_WRITE_STORE, "move loose objects into packs" },
	{ "pull", cmd_pull, CMD_WRITE_STORE, "bring a clone up to its remote" },
	{ "push", cmd_push, CMD_WRITE_STORE, "upload sealed packs to the remote" },
	{ "remote", cmd_remote, CMD_READ_STORE, "set, show or unset the S3 remote" },
	{ "repack", cmd_repack, CMD_WRITE_STORE, "rewrite packs, dropping deleted objects" },
	{ "repair", cmd_repair, CMD_NO_STORE, "rebuild the index from the packs" },
	{ "restore", cmd_restore, CMD_READ_STORE, "write the files of a manifest under a folder" },
	{ "status", cmd_status, CMD_READ_STORE, "counts and sizes" },
	{ "validate", cmd_validate, CMD_READ_STORE, "check the whole container" },
};
const size_t cli_ncommands = sizeof(cli_commands) / sizeof(cli_commands[0]);

const char cli_exit_status[] =
	"0 ok, 1 the answer is no (missing file or object, validate\n"
	"findings), 2 usage error, 3 store or I/O error.\n";

int cli_compress_mode(const char *s)
{
	if (!strcmp(s, "yes"))
		return UDOS_COMPRESS_YES;
	if (!strcmp(s, "no"))
		return UDOS_COMPRESS_NO;
	if (!strcmp(s, "keep"))
		return UDOS_COMPRESS_KEEP;
	return UDOS_COMPRESS_AUTO;
}

int cli_exit_code(int code)
{
	if (code == UDOS_ENOTFOUND || code == -ENOENT)
		return EXIT_NO;
	return EXIT_STORE;
}

void cli_msg(const struct cli *cli, const char *problem, const char *subject)
{
	const char *name = cli && cli->cmd ? cli->cmd->name : NULL;

	fputs("udos", stderr);
	if (name)
		fprintf(stderr, " %s", name);
	/* messages are lowercase (strerror() of libc is not) */
	if (problem[0] && isupper((unsigned char)problem[0]) &&
	    !isupper((unsigned char)problem[1]))
		fprintf(stderr, ": %c%s", tolower((unsigned char)problem[0]),
			problem + 1);
	else
		fprintf(stderr, ": %s", problem);
	if (subject)
		fprintf(stderr, " '%s'", subject);
	fputc('\n', stderr);
}

int cli_err(const struct cli *cli, int code, const char *subject)
{
	const char *what = udos_strerror(code);
	const char *detail = udos_error_detail();
	char buf[1024];

	if (!detail || !detail[0] || strstr(what, detail))
		snprintf(buf, sizeof(buf), "%s", what);
	else if (strstr(detail, what))
		/* the detail already says the cause: "cannot write 'packs/0':
		 * no space left on device", "another process is writing packs
		 * (pid N)" */
		snprintf(buf, sizeof(buf), "%s", detail);
	else
		snprintf(buf, sizeof(buf), "%s: %s", what, detail);
	/* the detail often names the subject already: say it once */
	if (subject && detail && detail[0]) {
		char q[512];

		snprintf(q, sizeof(q), "'%s'", subject);
		if (strstr(detail, q))
			subject = NULL;
	}
	cli_msg(cli, buf, subject);
	return cli_exit_code(code);
}

static void say_waiting(void *ctx, long pid)
{
	const struct cli *cli = ctx;
	char msg[128];

	if (cli->quiet)
		return;
	if (pid > 0)
		snprintf(msg, sizeof(msg), "waiting for the pack writer "
			 "(pid %ld) in", pid);
	else
		snprintf(msg, sizeof(msg), "waiting for the pack writer in");
	cli_msg(cli, msg, cli->dir);
}

/* --wait's value: "" = no limit (-1), else seconds >= 0 */
static int wait_ms(int64_t *out, const char *s)
{
	char *end;
	double secs;

	*out = -1;
	if (!s[0])
		return 0;
	errno = 0;
	secs = strtod(s, &end);
	if (errno || end == s || *end || !(secs >= 0) || secs > 1e9)
		return -1;
	*out = (int64_t)(secs * 1000);
	return 0;
}

int cli_open_store(struct cli *cli)
{
	unsigned flags = cli->mode == CMD_WRITE_STORE ? UDOS_OPEN_WRITER : 0;
	int64_t ms = 0;
	int rc;

	if (cli->st || cli->mode == CMD_NO_STORE)
		return 0;
	if (cli->wait && wait_ms(&ms, cli->wait) < 0) {
		cli_msg(cli, "invalid value for --wait (seconds)", cli->wait);
		return EXIT_USAGE;
	}
	if (cli->wait)
		flags &= ~UDOS_OPEN_WRITER; /* taken below, waiting */
	rc = udos_store_open(&cli->st, cli->dir, flags);
	if (rc == 0 && cli->wait && cli->mode == CMD_WRITE_STORE) {
		rc = udos_store_lock_writer_wait(cli->st, ms, say_waiting, cli);
		if (rc < 0) {
			udos_store_close(cli->st);
			cli->st = NULL;
		}
	}
	if (rc == UDOS_ENOTSTORE || rc == UDOS_EFORMAT) {
		/* the detail names the path and the cause: "'X' does not
		 * exist", "'X/config.json' is not valid JSON: ..." */
		cli_msg(cli, udos_error_detail(), NULL);
		return EXIT_STORE;
	}
	if (rc == UDOS_ELOCKED) {
		/* the detail names the holder: "... (pid N)" */
		cli_err(cli, rc, NULL);
		return EXIT_STORE;
	}
	if (rc < 0) {
		cli_err(cli, rc, cli->dir);
		return EXIT_STORE;
	}
	return 0;
}

int cli_parse_oid_sz(const struct cli *cli, udos_oid *out, const char *s,
		     size_t len, size_t dsz)
{
	if (memchr(s, '\0', len) || udos_oid_parse_sz(out, s, len, dsz) < 0) {
		char shown[80];

		snprintf(shown, sizeof(shown), "%.*s",
			 (int)(len < 70 ? len : 70), s);
		cli_msg(cli, "malformed hash", shown);
		return EXIT_USAGE;
	}
	return 0;
}

int cli_parse_oid(const struct cli *cli, udos_oid *out, const char *s,
		  size_t len)
{
	return cli_parse_oid_sz(cli, out, s, len,
				udos_store_digest_size(cli->st));
}

char *cli_fmt_oid(const struct cli *cli, char out[UDOS_OID_HEXSZ + 1],
		  const udos_oid *oid)
{
	return udos_oid_fmt_sz(out, oid, udos_store_digest_size(cli->st));
}

/* what opening a pack writer mended, said once at the end */
static void note_recovery(const struct cli *cli)
{
	udos_recovery r;
	char msg[256];

	if (!cli->st || cli->quiet)
		return;
	udos_store_recovery(&r, cli->st);
	if (r.adopted) {
		snprintf(msg, sizeof(msg), "note: indexed %llu intact records "
			 "that the index had not seen (an interrupted writer, "
			 "or an index older than its packs) in",
			 (unsigned long long)r.adopted);
		cli_msg(cli, msg, udos_store_path(cli->st));
	}
	if (r.cut_bytes) {
		snprintf(msg, sizeof(msg), "note: cut %llu bytes (%llu damaged "
			 "records) that an interrupted writer left at the end "
			 "of the last pack of", (unsigned long long)r.cut_bytes,
			 (unsigned long long)r.cut_records);
		cli_msg(cli, msg, udos_store_path(cli->st));
	}
}

void cli_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: udos [-C DIR] [-q] <command> [options] [args]\n"
		   "       udos --version | --help\n\n"
		   "global options (before or after the command):\n");
	opt_print_list(f, opt_globals);
	fprintf(f, "\ncommands:\n");
	for (i = 0; i < cli_ncommands; i++)
		fprintf(f, "  %-10s  %s\n", cli_commands[i].name,
			cli_commands[i].summary);
	fprintf(f, "\n'udos help <command>' or 'udos <command> --help' "
		   "describes a command.\nexit status: %s", cli_exit_status);
}

const struct cmd *cli_find_cmd(const char *name)
{
	size_t lo = 0, hi = cli_ncommands;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, cli_commands[mid].name);

		if (!c)
			return &cli_commands[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	const char *env = getenv("UDOS_CONTAINER");
	int i = 1, rc;

	cli.dir = env && env[0] ? env : ".";
	opt_bind_globals(&cli);
	while (i < argc && argv[i][0] == '-' && argv[i][1]) {
		const char *a = argv[i];

		if (!strcmp(a, "--version")) {
			printf("udos %s (library %s)\n", UDOS_VERSION_STRING,
			       udos_version());
			return EXIT_OK;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			cli_usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(a, "--gen-man")) {
			/* hidden: the build makes the man pages with it */
			return gen_man(i + 1 < argc ? argv[i + 1] : ".");
		} else if (!strcmp(a, "--gen-completion")) {
			return gen_completion(i + 1 < argc ? argv[i + 1] : "");
		}
		rc = opt_parse_global(argc, argv, i);
		if (rc < 0)
			return EXIT_USAGE;
		i += rc;
	}
	if (i >= argc) {
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	cli.cmd = cli_find_cmd(argv[i]);
	if (!cli.cmd) {
		fprintf(stderr, "udos: unknown command '%s'\n", argv[i]);
		fprintf(stderr, "try 'udos --help'\n");
		return EXIT_USAGE;
	}
	cli.mode = cli.cmd->mode;
	rc = cli.cmd->fn(&cli, argc - i, argv + i);
	note_recovery(&cli);
	udos_store_close(cli.st);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		if (errno != EPIPE)
			cli_msg(&cli, strerror(errno), "<stdout>");
		if (!rc)
			rc = EXIT_STORE;
	}
	return rc;
}
