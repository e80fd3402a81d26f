/* cli/opt.c - the declarative option parser behind every subcommand. */
#include "opt.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"

int opt_usage_error(const struct opt_cmd *c, const char *msg,
		    const char *subject)
{
	if (subject)
		fprintf(stderr, "udos %s: %s '%s'\n", c->name, msg, subject);
	else
		fprintf(stderr, "udos %s: %s\n", c->name, msg);
	fprintf(stderr, "try 'udos %s --help'\n", c->name);
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

static int set_value(const struct opt_cmd *c, const struct opt *o, void *args,
		     const char *val, const char *shown)
{
	char *base = args;

	if (o->type == OPT_BOOL) {
		*(bool *)(base + o->off) = true;
		return 0;
	}
	if (o->choices && !choice_ok(o->choices, val)) {
		char msg[128];

		snprintf(msg, sizeof(msg), "invalid value for %s (%s)", shown,
			 o->choices);
		opt_usage_error(c, msg, val);
		return -1;
	}
	*(const char **)(base + o->off) = val;
	return 0;
}

static const struct opt *find_long(const struct opt *o, const char *name,
				   size_t len)
{
	for (; o->type != OPT_END; o++)
		if (o->long_name && strlen(o->long_name) == len &&
		    !memcmp(o->long_name, name, len))
			return o;
	return NULL;
}

static const struct opt *find_short(const struct opt *o, char ch)
{
	for (; o->type != OPT_END; o++)
		if (o->short_name && o->short_name == ch)
			return o;
	return NULL;
}

/* "--name", "--name=value", "--name value"; returns args consumed or -1. */
static int parse_long(const struct opt_cmd *c, void *args, int i, int argc,
		      char **argv)
{
	const char *name = argv[i] + 2;
	const char *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	const struct opt *o = find_long(c->opts, name, len);

	if (!o) {
		opt_usage_error(c, "unknown option", argv[i]);
		return -1;
	}
	if (o->type == OPT_BOOL) {
		if (eq) {
			opt_usage_error(c, "option takes no value", argv[i]);
			return -1;
		}
		return set_value(c, o, args, NULL, argv[i]) ? -1 : 1;
	}
	if (eq)
		return set_value(c, o, args, eq + 1, argv[i]) ? -1 : 1;
	if (o->type == OPT_OPTSTR)
		return set_value(c, o, args, "", argv[i]) ? -1 : 1;
	if (i + 1 >= argc) {
		opt_usage_error(c, "option requires an argument", argv[i]);
		return -1;
	}
	return set_value(c, o, args, argv[i + 1], argv[i]) ? -1 : 2;
}

/* "-r", "-r0" (grouped flags), "-n VALUE", "-nVALUE". */
static int parse_short(const struct opt_cmd *c, void *args, int i, int argc,
		       char **argv)
{
	const char *p;

	for (p = argv[i] + 1; *p; p++) {
		const struct opt *o = find_short(c->opts, *p);
		char shown[3] = { '-', *p, 0 };

		if (!o) {
			opt_usage_error(c, "unknown option", shown);
			return -1;
		}
		if (o->type == OPT_BOOL) {
			set_value(c, o, args, NULL, shown);
			continue;
		}
		if (p[1])
			return set_value(c, o, args, p + 1, shown) ? -1 : 1;
		if (i + 1 >= argc) {
			opt_usage_error(c, "option requires an argument",
					shown);
			return -1;
		}
		return set_value(c, o, args, argv[i + 1], shown) ? -1 : 2;
	}
	return 1;
}

int opt_parse(const struct opt_cmd *c, void *args, int argc, char **argv)
{
	int npos = 0;
	bool only_pos = false;
	int i = 1;

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

void opt_print_help(const struct opt_cmd *c)
{
	const struct opt *o;

	printf("usage: udos [-C DIR] %s %s\n\n%s\n", c->name, c->usage,
	       c->summary);
	printf("\noptions:\n");
	for (o = c->opts; o->type != OPT_END; o++) {
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
		if (o->type == OPT_STR && n > 0 && (size_t)n < sizeof(left))
			snprintf(left + n, sizeof(left) - (size_t)n, " %s",
				 o->choices ? o->choices : o->arg);
		if (o->type == OPT_OPTSTR && n > 0 && (size_t)n < sizeof(left))
			snprintf(left + n, sizeof(left) - (size_t)n, "[=%s]",
				 o->arg);
		if (strlen(left) > 26)
			printf("  %s\n  %-26s  %s\n", left, "", o->help);
		else
			printf("  %-26s  %s\n", left, o->help);
	}
	printf("  %-26s  %s\n", "-h, --help", "show this help and exit");
	if (c->about)
		printf("\n%s", c->about);
}
