/* cli/opt.c - the declarative option parser behind every subcommand. */
#include "opt.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

const struct opt opt_globals[] = {
	{ 'C', NULL, OPT_STR, offsetof(struct cli, dir), "DIR", NULL,
	  "the container (default: $UDOS_CONTAINER or .)" },
	{ 'q', "quiet", OPT_BOOL, offsetof(struct cli, quiet), NULL, NULL,
	  "no progress line or notes on stderr" },
	OPT_END_MARK
};

static void *globals_args;

/* the parser of the words before the command: errors say "udos: ..." */
static const struct opt_cmd global_cmd = { NULL, NULL, NULL, NULL,
					   opt_globals };

/* describe mode: a pointer no user can type, and what it recorded */
static char describe_arg[] = "--describe-options";
static const struct opt_cmd *described;

void opt_bind_globals(void *cli)
{
	globals_args = cli;
}

int opt_usage_error(const struct opt_cmd *c, const char *msg,
		    const char *subject)
{
	const char *sp = c->name ? " " : "";
	const char *name = c->name ? c->name : "";

	if (subject)
		fprintf(stderr, "udos%s%s: %s '%s'\n", sp, name, msg, subject);
	else
		fprintf(stderr, "udos%s%s: %s\n", sp, name, msg);
	fprintf(stderr, "try 'udos%s%s --help'\n", sp, name);
	return EXIT_USAGE;
}

static bool choice_ok(const char *choices, const char *v)
{
	size_t n = strlen(v);
	const char *p = choices;

	while (*p) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && !memcmp(p, v, n))
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

/* A size: "512M", "4G", "1048576". A bare number below 1 MiB is a unit
 * forgotten far more often than a wish for a tiny size: refused. */
static int set_size(const struct opt_cmd *c, uint64_t *out, const char *val,
		    const char *shown)
{
	uint64_t v;

	if (udos_size_parse(&v, val) < 0 || !v) {
		opt_usage_error(c, "invalid size", val);
		return -1;
	}
	if (val[strspn(val, "0123456789")] == '\0' && v < (1u << 20)) {
		fprintf(stderr, "udos %s: %s %s: no unit; did you mean %sM?\n",
			c->name ? c->name : "", shown, val, val);
		return -1;
	}
	*out = v;
	return 0;
}

/* A number within o->choices' "MIN..MAX". */
static int set_uint(const struct opt_cmd *c, const struct opt *o, long *out,
		    const char *val, const char *shown)
{
	long min = strtol(o->choices, NULL, 10);
	long max = strtol(strstr(o->choices, "..") + 2, NULL, 10);
	char *end;
	long v;

	errno = 0;
	v = strtol(val, &end, 10);
	if (errno || end == val || *end || val[0] < '0' || val[0] > '9' ||
	    v < min || v > max) {
		char msg[128];

		snprintf(msg, sizeof(msg), "%s must be a number in %s", shown,
			 o->choices);
		opt_usage_error(c, msg, val);
		return -1;
	}
	*out = v;
	return 0;
}

static int set_value(const struct opt_cmd *c, const struct opt *o, void *base,
		     const char *val, const char *shown)
{
	char *p = (char *)base + o->off;

	if (o->type == OPT_BOOL) {
		*(bool *)p = true;
		return 0;
	}
	if (o->type == OPT_SIZE)
		return set_size(c, (uint64_t *)p, val, shown);
	if (o->type == OPT_UINT)
		return set_uint(c, o, (long *)p, val, shown);
	if (o->choices && !choice_ok(o->choices, val)) {
		char msg[128];

		snprintf(msg, sizeof(msg), "invalid value for %s (%s)", shown,
			 o->choices);
		opt_usage_error(c, msg, val);
		return -1;
	}
	*(const char **)p = val;
	return 0;
}

/* The command's option named so, else the global one; *base is where its
 * value goes. */
static const struct opt *find_opt(const struct opt_cmd *c, void **base,
				  const char *name, size_t len, char ch)
{
	const struct opt *tables[2] = { c->opts, opt_globals };
	int t;

	for (t = 0; t < 2; t++) {
		const struct opt *o;

		if (t == 1 && !globals_args)
			break;
		for (o = tables[t]; o->type != OPT_END; o++) {
			if (name ? o->long_name && strlen(o->long_name) == len &&
					   !memcmp(o->long_name, name, len)
				 : o->short_name == ch) {
				if (t == 1 || c->opts == opt_globals)
					*base = globals_args;
				return o;
			}
		}
	}
	return NULL;
}

/* "--name", "--name=value", "--name value"; returns args consumed or -1. */
static int parse_long(const struct opt_cmd *c, void *args, int i, int argc,
		      char **argv)
{
	const char *name = argv[i] + 2;
	const char *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	void *base = args;
	const struct opt *o = find_opt(c, &base, name, len, 0);

	if (!o) {
		opt_usage_error(c, "unknown option", argv[i]);
		return -1;
	}
	if (o->type == OPT_BOOL) {
		if (eq) {
			opt_usage_error(c, "option takes no value", argv[i]);
			return -1;
		}
		return set_value(c, o, base, NULL, argv[i]) ? -1 : 1;
	}
	if (eq) {
		char shown[64];

		snprintf(shown, sizeof(shown), "--%.*s", (int)len, name);
		return set_value(c, o, base, eq + 1, shown) ? -1 : 1;
	}
	if (o->type == OPT_OPTSTR)
		return set_value(c, o, base, "", argv[i]) ? -1 : 1;
	if (i + 1 >= argc) {
		opt_usage_error(c, "option requires an argument", argv[i]);
		return -1;
	}
	return set_value(c, o, base, argv[i + 1], argv[i]) ? -1 : 2;
}

/* "-r", "-r0" (grouped flags), "-n VALUE", "-nVALUE". */
static int parse_short(const struct opt_cmd *c, void *args, int i, int argc,
		       char **argv)
{
	const char *p;

	for (p = argv[i] + 1; *p; p++) {
		void *base = args;
		const struct opt *o = find_opt(c, &base, NULL, 0, *p);
		char shown[3] = { '-', *p, 0 };

		if (!o) {
			opt_usage_error(c, "unknown option", shown);
			return -1;
		}
		if (o->type == OPT_BOOL) {
			set_value(c, o, base, NULL, shown);
			continue;
		}
		if (p[1])
			return set_value(c, o, base, p + 1, shown) ? -1 : 1;
		if (i + 1 >= argc) {
			opt_usage_error(c, "option requires an argument",
					shown);
			return -1;
		}
		return set_value(c, o, base, argv[i + 1], shown) ? -1 : 2;
	}
	return 1;
}

int opt_parse_global(int argc, char **argv, int i)
{
	int used = argv[i][1] == '-' ? parse_long(&global_cmd, NULL, i, argc,
						  argv)
				     : parse_short(&global_cmd, NULL, i, argc,
						   argv);

	return used < 0 ? OPT_ERROR : used;
}

int opt_parse(const struct opt_cmd *c, void *args, int argc, char **argv)
{
	int npos = 0;
	bool only_pos = false;
	int i = 1;

	if (argc == 2 && argv[1] == describe_arg) {
		described = c;
		return OPT_HELP;
	}
	while (i < argc) {
		char *a = argv[i];
		int used;

		if (only_pos || a[0] != '-' || !a[1]) {
			argv[npos++] = a;
			i++;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_pos = true;
			i++;
			continue;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			opt_print_help(c);
			return OPT_HELP;
		}
		if (a[1] == '-')
			used = parse_long(c, args, i, argc, argv);
		else
			used = parse_short(c, args, i, argc, argv);
		if (used < 0)
			return OPT_ERROR;
		i += used;
	}
	return npos;
}

const struct opt_cmd *opt_describe(const struct cmd *cmd)
{
	char *argv[] = { (char *)cmd->name, describe_arg, NULL };
	struct cli cli = { .cmd = cmd, .dir = "/nonexistent/udos-describe",
			   .quiet = true, .mode = CMD_NO_STORE };

	described = NULL;
	cmd->fn(&cli, 2, argv);
	return described;
}

void opt_print_list(FILE *f, const struct opt *o)
{
	for (; o->type != OPT_END; o++) {
		char left[80];
		int n = 0;

		if (o->short_name && o->long_name)
			n = snprintf(left, sizeof(left), "-%c, --%s",
				     o->short_name, o->long_name);
		else if (o->short_name)
			n = snprintf(left, sizeof(left), "-%c", o->short_name);
		else
			n = snprintf(left, sizeof(left), "    --%s",
				     o->long_name);
		if (o->type != OPT_BOOL && o->type != OPT_OPTSTR && n > 0 &&
		    (size_t)n < sizeof(left))
			snprintf(left + n, sizeof(left) - (size_t)n, " %s",
				 o->choices ? o->choices : o->arg);
		if (o->type == OPT_OPTSTR && n > 0 && (size_t)n < sizeof(left))
			snprintf(left + n, sizeof(left) - (size_t)n, "[=%s]",
				 o->arg);
		if (strlen(left) > 26)
			fprintf(f, "  %s\n  %-26s  %s\n", left, "", o->help);
		else
			fprintf(f, "  %-26s  %s\n", left, o->help);
	}
}

void opt_print_help(const struct opt_cmd *c)
{
	printf("usage: udos [-C DIR] [-q] %s %s\n\n%s\n", c->name, c->usage,
	       c->summary);
	printf("\noptions:\n");
	opt_print_list(stdout, c->opts);
	printf("  %-26s  %s\n", "-h, --help", "show this help and exit");
	printf("\nglobal options (before or after the command):\n");
	opt_print_list(stdout, opt_globals);
	if (c->about)
		printf("\n%s", c->about);
}
