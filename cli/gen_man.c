/* cli/gen_man.c - `udos --gen-man DIR`: udos.1 and udos-<command>.1 made
 * from the command table and each command's option table, the ones that
 * drive parsing and --help, so that the pages cannot drift from them. */
#include "gen.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "opt.h"

/* Text for roff: backslashes and dashes escaped (a dash stays an ASCII
 * '-' that can be searched and pasted), a line starting with a control
 * character guarded, a blank line a new paragraph. */
static void roff(FILE *f, const char *s)
{
	bool bol = true;

	for (; *s; s++) {
		if (bol && *s == '\n') {
			fputs(".PP\n", f);
			continue;
		}
		if (bol && (*s == '.' || *s == '\''))
			fputs("\\&", f);
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else
			fputc(*s, f);
		bol = *s == '\n';
	}
	if (!bol)
		fputc('\n', f);
}

/* roff() for text that stays on the current line */
static void roff_inline(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\e", f);
		else if (*s == '-')
			fputs("\\-", f);
		else if (*s == '\n')
			fputc(' ', f);
		else
			fputc(*s, f);
	}
}

static void opt_entry(FILE *f, const struct opt *o)
{
	fputs(".TP\n", f);
	if (o->short_name)
		fprintf(f, "\\fB\\-%c\\fR%s", o->short_name,
			o->long_name ? ", " : "");
	if (o->long_name) {
		fputs("\\fB\\-\\-", f);
		roff_inline(f, o->long_name);
		fputs("\\fR", f);
	}
	if (opt_takes_arg(o)) {
		fputs(" \\fI", f);
		roff_inline(f, o->choices ? o->choices : o->arg);
		fputs("\\fR", f);
	} else if (o->type == OPT_OPTSTR) {
		fputs("[=\\fI", f);
		roff_inline(f, o->arg);
		fputs("\\fR]", f);
	}
	fputc('\n', f);
	roff(f, o->help);
}

static void opt_list(FILE *f, const struct opt *o)
{
	for (; o->type != OPT_END; o++)
		opt_entry(f, o);
}

static void header(FILE *f, const char *name, const char *summary)
{
	char up[64];
	size_t i;

	for (i = 0; name[i] && i + 1 < sizeof(up); i++)
		up[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32
								 : name[i]);
	up[i] = '\0';
	fputs(".\\\" made by `udos --gen-man` from the option tables in cli/:"
	      " edit those, not this\n", f);
	fputs(".TH ", f);
	roff_inline(f, up);
	fprintf(f, " 1 \"\" \"udos %s\" \"udos manual\"\n.nh\n.SH NAME\n",
		UDOS_VERSION_STRING);
	roff_inline(f, name);
	fputs(" \\- ", f);
	roff_inline(f, summary);
	fputc('\n', f);
}

static void globals_synopsis(FILE *f)
{
	const struct opt *o;

	for (o = opt_globals; o->type != OPT_END; o++) {
		fprintf(f, "[\\fB\\-%c\\fR", o->short_name);
		if (o->type != OPT_BOOL) {
			fputs(" \\fI", f);
			roff_inline(f, o->arg);
			fputs("\\fR", f);
		}
		fputs("] ", f);
	}
}

static void exit_status(FILE *f)
{
	fputs(".SH EXIT STATUS\n", f);
	roff(f, cli_exit_status);
}

static void command_page(FILE *f, const struct cmd *cmd,
			 const struct opt_cmd *c)
{
	char name[64];

	snprintf(name, sizeof(name), "udos-%s", cmd->name);
	header(f, name, cmd->summary);
	fputs(".SH SYNOPSIS\n.B udos\n", f);
	globals_synopsis(f);
	fprintf(f, "\\fB%s\\fR ", cmd->name);
	roff_inline(f, c->usage);
	fputs("\n.SH DESCRIPTION\n", f);
	roff(f, c->summary);
	if (c->about) {
		fputs(".PP\n", f);
		roff(f, c->about);
	}
	fputs(".SH OPTIONS\n", f);
	opt_list(f, c->opts);
	fputs(".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\nshow this help and "
	      "exit\n.SH GLOBAL OPTIONS\nAccepted before or after the "
	      "command.\n",
	      f);
	opt_list(f, opt_globals);
	exit_status(f);
	fputs(".SH SEE ALSO\n\\fBudos\\fR(1)\n", f);
}

static void main_page(FILE *f)
{
	size_t i;

	header(f, "udos", "content-addressed object store for files");
	fputs(".SH SYNOPSIS\n.B udos\n", f);
	globals_synopsis(f);
	fputs("\\fIcommand\\fR [\\fIoptions\\fR] [\\fIargs\\fR]\n.br\n"
	      ".B udos \\-\\-version\n|\n.B \\-\\-help\n"
	      ".SH DESCRIPTION\n", f);
	roff(f, "udos keeps each object once, keyed by the SHA-256 (or SHA-1,\n"
		"chosen at init) of its content: first as a loose file, then\n"
		"in append-only pack files, compressed per object, with an\n"
		"index from hash to location. A container is a folder; any\n"
		"number of readers and loose writers may use it alongside one\n"
		"pack writer.\n\n"
		"stdout carries data only; problems go to stderr as\n"
		"'udos <command>: <problem> '<subject>''.\n");
	fputs(".SH GLOBAL OPTIONS\nAccepted before or after the command.\n", f);
	opt_list(f, opt_globals);
	fputs(".TP\n\\fB\\-\\-version\\fR\nprint the version and exit\n"
	      ".TP\n\\fB\\-h\\fR, \\fB\\-\\-help\\fR\nlist the commands and "
	      "exit\n.SH COMMANDS\n", f);
	for (i = 0; i < cli_ncommands; i++) {
		fputs(".TP\n\\fBudos\\-", f);
		roff_inline(f, cli_commands[i].name);
		fputs("\\fR(1)\n", f);
		roff(f, cli_commands[i].summary);
	}
	fputs(".SH ENVIRONMENT\n.TP\n.B UDOS_CONTAINER\nthe container when "
	      "\\fB\\-C\\fR is not given (else the current folder)\n", f);
	exit_status(f);
	fputs(".SH SEE ALSO\n", f);
	for (i = 0; i < cli_ncommands; i++) {
		fputs(i ? ",\n\\fBudos\\-" : "\\fBudos\\-", f);
		roff_inline(f, cli_commands[i].name);
		fputs("\\fR(1)", f);
	}
	fputc('\n', f);
}

static int write_page(const char *dir, const char *page,
		      const struct cmd *cmd, const struct opt_cmd *c)
{
	char path[4096];
	FILE *f;
	int bad;

	snprintf(path, sizeof(path), "%s/%s.1", dir, page);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "udos: cannot write '%s': %s\n", path,
			strerror(errno));
		return EXIT_STORE;
	}
	if (cmd)
		command_page(f, cmd, c);
	else
		main_page(f);
	bad = ferror(f);
	if (fclose(f) || bad) {
		fprintf(stderr, "udos: cannot write '%s': %s\n", path,
			strerror(errno));
		return EXIT_STORE;
	}
	return EXIT_OK;
}

int gen_man(const char *dir)
{
	size_t i;
	int rc = write_page(dir, "udos", NULL, NULL);

	for (i = 0; i < cli_ncommands && !rc; i++) {
		const struct opt_cmd *c = opt_describe(&cli_commands[i]);
		char page[64];

		if (!c) {
			fprintf(stderr, "udos: command '%s' does not describe "
				"its options (it must call opt_parse first)\n",
				cli_commands[i].name);
			return EXIT_STORE;
		}
		snprintf(page, sizeof(page), "udos-%s", cli_commands[i].name);
		rc = write_page(dir, page, &cli_commands[i], c);
	}
	return rc;
}
