/* cli/cmd.h - the command table type, shared CLI state and cmd_* prototypes. */
#ifndef UDOS_CLI_CMD_H
#define UDOS_CLI_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <udos/udos.h>

/* Exit statuses (STYLE.md section 5). */
enum {
	EXIT_OK = 0,
	EXIT_NO = 1,    /* the answer is "no": missing file/object, findings */
	EXIT_USAGE = 2, /* bad option, argument or hash */
	EXIT_STORE = 3, /* store, I/O or internal error */
};

/* What a command needs opened before it touches the container. */
enum cmd_store_mode {
	CMD_NO_STORE = 0,    /* init, or nothing to open */
	CMD_READ_STORE = 1,  /* open; the index is read-only */
	CMD_WRITE_STORE = 2, /* open and take the pack-writer lock (fails fast) */
};

struct cli;
typedef int (*cmd_fn)(struct cli *cli, int argc, char **argv);

struct cmd {
	const char *name;
	cmd_fn fn;
	int mode; /* enum cmd_store_mode */
	const char *summary;
};

/*
 * State shared by main.c and the commands. Options are parsed by the
 * command first (so --help and usage errors never need a container), then
 * the command calls cli_open_store(), which opens cli->dir the way
 * cli->mode says (initialised from the table, a command may lower it,
 * e.g. `add --to loose` needs no writer lock).
 */
struct cli {
	const struct cmd *cmd;
	const char *dir; /* -C, else $UDOS_CONTAINER, else "." */
	bool quiet;
	int mode;
	/* --wait[=SECONDS] (OPT_WAIT), NULL without: a CMD_WRITE_STORE open
	 * then queues behind the holder of the writer lock */
	const char *wait;
	udos_store *st;
};

/* The command table of main.c, sorted by name, and its length. */
extern const struct cmd cli_commands[];
extern const size_t cli_ncommands;
/* The command named so, or NULL. */
const struct cmd *cli_find_cmd(const char *name);
/* `udos --help`: global options and the commands. */
void cli_usage(FILE *f);
/* What the exit statuses mean, one paragraph ending in a newline. */
extern const char cli_exit_status[];

/* Open cli->dir per cli->mode; on failure print the reason and return
 * EXIT_STORE (EXIT_USAGE for a bad --wait value), so `return
 * cli_open_store(cli)` style works: 0 = opened. With cli->wait, a writer
 * lock held elsewhere is waited for, saying whom for on stderr. */
int cli_open_store(struct cli *cli);

/*
 * Parse an id of the open store's hash (40 hex digits for sha1, 64 for
 * sha256) from s[0..len). On a wrong length or digit, print
 * `malformed hash '<s>'` and return EXIT_USAGE; 0 on success.
 */
int cli_parse_oid(const struct cli *cli, udos_oid *out, const char *s,
		  size_t len);
/* The same for ids of `dsz`-byte digests (another container's). */
int cli_parse_oid_sz(const struct cli *cli, udos_oid *out, const char *s,
		     size_t len, size_t dsz);
/* The open store's hex form of an id, into out; returns out. */
char *cli_fmt_oid(const struct cli *cli, char out[UDOS_OID_HEXSZ + 1],
		  const udos_oid *oid);

/* Map a library code to an exit status: ENOTFOUND -> 1, otherwise 3. */
int cli_exit_code(int code);

/*
 * Print `udos <cmd>: <problem> '<subject>'` on stderr. With a library code,
 * <problem> is udos_strerror(code), extended by udos_error_detail() when it
 * adds something. subject may be NULL. Returns cli_exit_code(code).
 */
int cli_err(const struct cli *cli, int code, const char *subject);
/* Same with a literal problem text (no library code). */
void cli_msg(const struct cli *cli, const char *problem, const char *subject);
/* --ca-bundle FILE as an absolute path into out ("" without one; as given
 * when it cannot be resolved: the library then says why) */
void cli_ca_bundle(char *out, size_t cap, const char *file);

/* "auto|yes|no|keep" (already checked by the option spec) -> enum
 * udos_compress. */
int cli_compress_mode(const char *s);

int cmd_add(struct cli *cli, int argc, char **argv);
/* `udos add -` (cli/add_stdin.c): standard input as one object, loose or
 * packed (compress: enum udos_compress); prints its id, or with json
 * {hash, size, path, stored}. Returns the exit status. */
int add_stdin(struct cli *cli, bool to_loose, int compress, bool json);
int cmd_backup(struct cli *cli, int argc, char **argv);
int cmd_cat(struct cli *cli, int argc, char **argv);
int cmd_clean(struct cli *cli, int argc, char **argv);
int cmd_clone(struct cli *cli, int argc, char **argv);
int cmd_delete(struct cli *cli, int argc, char **argv);
int cmd_evict(struct cli *cli, int argc, char **argv);
int cmd_export(struct cli *cli, int argc, char **argv);
int cmd_export_dos(struct cli *cli, int argc, char **argv);
int cmd_help(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_import_dos(struct cli *cli, int argc, char **argv);
int cmd_init(struct cli *cli, int argc, char **argv);
int cmd_ls(struct cli *cli, int argc, char **argv);
int cmd_optimize(struct cli *cli, int argc, char **argv);
int cmd_pack(struct cli *cli, int argc, char **argv);
int cmd_pull(struct cli *cli, int argc, char **argv);
int cmd_push(struct cli *cli, int argc, char **argv);
int cmd_remote(struct cli *cli, int argc, char **argv);
int cmd_repack(struct cli *cli, int argc, char **argv);
int cmd_repair(struct cli *cli, int argc, char **argv);
int cmd_restore(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_validate(struct cli *cli, int argc, char **argv);

#endif
