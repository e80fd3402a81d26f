/* cli/opt.h - declarative option specs: one table drives parsing and --help. */
#ifndef UDOS_CLI_OPT_H
#define UDOS_CLI_OPT_H

#include <stddef.h>
#include <stdio.h>

enum opt_type {
	OPT_END = 0,
	OPT_BOOL, /* bool at `off`; set to true */
	OPT_STR,  /* const char * at `off`; takes an argument */
	OPT_SIZE, /* uint64_t at `off`; takes "512M", "4G"; 0 and a bare
		   * number below 1 MiB (a forgotten unit) are refused */
	OPT_OPTSTR, /* const char * at `off`: "" when given bare, VALUE when
		       given as --name=VALUE (never the next argument) */
	OPT_UINT, /* long at `off`, a decimal number within the range that
		     `choices` gives as "MIN..MAX"; left as it was (the
		     command's "not given", e.g. -1) when absent */
};

struct opt {
	char short_name;     /* 0 if none */
	const char *long_name;
	int type;            /* enum opt_type */
	size_t off;          /* offsetof() the field in the command's args */
	const char *arg;     /* OPT_STR: argument name shown in help ("SIZE") */
	const char *choices; /* OPT_STR: "a|b|c" to accept only these, or NULL;
				OPT_UINT: its range "MIN..MAX" */
	const char *help;
};

/* Does the option take the next argument as its value? (--name VALUE) */
static inline int opt_takes_arg(const struct opt *o)
{
	return o->type != OPT_BOOL && o->type != OPT_OPTSTR;
}

#define OPT_END_MARK { 0, NULL, OPT_END, 0, NULL, NULL, NULL }

/* --wait[=SECONDS] of the commands that write packs or the index: the
 * args struct `type` has `const char *wait`, which the command hands to
 * cli->wait before cli_open_store */
#define OPT_WAIT(type)                                                      \
	{ 0, "wait", OPT_OPTSTR, offsetof(type, wait), "SECONDS", NULL,     \
	  "wait for another process's pack writer (at most SECONDS)" }

struct opt_cmd {
	const char *name;     /* "add" */
	const char *usage;    /* after "udos [-C DIR] add ", e.g. "[options] PATH..." */
	const char *summary;  /* one line */
	const char *about;    /* paragraphs after the option list, or NULL */
	const struct opt *opts;
};

enum {
	OPT_HELP = -1, /* --help was given and printed: exit 0 */
	OPT_ERROR = -2 /* a usage error was printed: exit 2 */
};

struct cmd;

/*
 * The global options (-C DIR, -q), accepted before the command and after
 * it: opt_parse() looks an option up in the command's table first, then
 * here, storing into the struct cli given to opt_bind_globals().
 */
extern const struct opt opt_globals[];
void opt_bind_globals(void *cli);

/* Parse the global option at argv[i] (before the command) into the bound
 * cli; returns the arguments used, or OPT_ERROR after printing why. */
int opt_parse_global(int argc, char **argv, int i);

/*
 * A command's option table, learnt by running cmd->fn in describe mode: its
 * opt_parse() call records the table and returns OPT_HELP, printing
 * nothing, so every command of the table in main.c describes itself (the
 * man pages, completion and `udos help` iterate that table). NULL when the
 * command does not start by calling opt_parse().
 */
const struct opt_cmd *opt_describe(const struct cmd *cmd);

/*
 * Parse argv[1..argc) (argv[0] is the command name) into the struct at
 * `args`. Options and positionals may be mixed; "--" ends options; "-" is a
 * positional. The positionals are moved to argv[0..n) and n is returned,
 * or OPT_HELP / OPT_ERROR.
 */
int opt_parse(const struct opt_cmd *c, void *args, int argc, char **argv);

/* Print "udos <cmd>: <msg>" plus the hint to use --help; returns 2. */
int opt_usage_error(const struct opt_cmd *c, const char *msg,
		    const char *subject);

void opt_print_help(const struct opt_cmd *c);

/* The option lines of --help for the options of o (up to OPT_END). */
void opt_print_list(FILE *f, const struct opt *o);

#endif
