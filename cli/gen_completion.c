/* cli/gen_completion.c - `udos --gen-completion bash|zsh`: completion
 * scripts made from the command table and each command's option table
 * (commands, options, option values, container folders), so that they
 * cannot drift from what the parser accepts. */
#include "gen.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "opt.h"

/* What completes a value or an argument: 'd' folders (containers), 'f'
 * files, 'c' command names, 'w' the option's choices, 'n' nothing. */
static char kind_of(const struct opt *o, const char *meta)
{
	static const char *const dirs[] = { "DIR", "SRC", "DEST" };
	static const char *const files[] = { "FILE", "FILE|-", "PATH" };
	size_t i;

	if (o && o->choices)
		return 'w';
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (!strcmp(meta, dirs[i]))
			return 'd';
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (!strcmp(meta, files[i]))
			return 'f';
	return strcmp(meta, "COMMAND") ? 'n' : 'c';
}

struct posarg {
	char name[32]; /* lowercase: "path" */
	char kind;
	bool many;     /* "PATH...": this and every later argument */
};

/*
 * The positional arguments a usage line names: upper-case words that are
 * not an option's value ("[options] SRC [HASH... | --files-from FILE]"
 * gives SRC, HASH...). Returns how many (at most max).
 */
static int posargs(const char *usage, struct posarg *out, int max)
{
	char word[64];
	bool after_opt = false;
	int n = 0;

	while (*usage && n < max) {
		size_t len = strcspn(usage, " ");
		const char *w = word;
		size_t wl;

		snprintf(word, sizeof(word), "%.*s", (int)len, usage);
		usage += len;
		usage += strspn(usage, " ");
		while (*w == '[')
			w++;
		wl = strcspn(w, "]");
		if (*w == '-') {
			/* "--pack ID" names a value, "[--json]" none */
			after_opt = w[strlen(w) - 1] != ']';
			continue;
		}
		if (!after_opt && wl && isupper((unsigned char)*w)) {
			struct posarg *p = &out[n];
			size_t i, k = 0;

			p->many = wl > 3 && !strncmp(w + wl - 3, "...", 3);
			if (p->many)
				wl -= 3;
			for (i = 0; i < wl && k + 1 < sizeof(p->name); i++)
				if (isupper((unsigned char)w[i]) || w[i] == '_')
					p->name[k++] = (char)tolower(
						(unsigned char)w[i]);
			p->name[k] = '\0';
			if (k == wl) {
				char meta[32];

				snprintf(meta, sizeof(meta), "%.*s", (int)wl, w);
				p->kind = kind_of(NULL, meta);
				n++;
			}
		}
		after_opt = false;
	}
	return n;
}

static void choices_words(const char *choices)
{
	for (; *choices; choices++)
		putchar(*choices == '|' ? ' ' : *choices);
}

/* ---- bash ---- */

/* case patterns "CMD --opt" for a command's options; cmd NULL: the global
 * ones, after any command or none ("*" -C) */
static void bash_optargs(const char *cmd, const struct opt *o)
{
	const char *any = cmd ? "" : "*";

	for (; o->type != OPT_END; o++) {
		char k;

		if (!opt_takes_arg(o))
			continue;
		k = kind_of(o, o->arg ? o->arg : "");
		fputs("\t", stdout);
		if (o->short_name)
			printf("%s\"%s -%c\"", any, cmd ? cmd : "",
			       o->short_name);
		if (o->short_name && o->long_name)
			putchar('|');
		if (o->long_name)
			printf("%s\"%s --%s\"", any, cmd ? cmd : "",
			       o->long_name);
		printf(") echo \"%c", k);
		if (k == 'w') {
			putchar(' ');
			choices_words(o->choices);
		}
		puts("\" ;;");
	}
}

static void opt_names(const struct opt *o)
{
	for (; o->type != OPT_END; o++) {
		if (o->short_name)
			printf(" -%c", o->short_name);
		if (o->long_name)
			printf(" --%s", o->long_name);
	}
}

static const char bash_engine[] =
	"_udos() {\n"
	"\tlocal cur=${COMP_WORDS[COMP_CWORD]} prev= cmd= spec= pre= w a i "
	"k=0\n"
	"\tCOMPREPLY=()\n"
	"\t((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD-1]}\n"
	"\t# bash splits --opt=value at '=' (COMP_WORDBREAKS), unless '=' "
	"was\n\t# taken out of it\n"
	"\tif [[ $cur == --*=* ]]; then\n"
	"\t\tprev=${cur%%=*} pre=${cur%%=*}= cur=${cur#*=}\n"
	"\telif [[ $cur == = ]]; then\n"
	"\t\tcur=\n"
	"\telif [[ $prev == = ]] && ((COMP_CWORD > 1)); then\n"
	"\t\tprev=${COMP_WORDS[COMP_CWORD-2]}\n"
	"\tfi\n"
	"\t# the command, and how many arguments it has before this word\n"
	"\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
	"\t\tw=${COMP_WORDS[i]}\n"
	"\t\tcase $w in\n"
	"\t\t=) ((i++)) ;;\n"
	"\t\t--) ;;\n"
	"\t\t-*) [[ ${COMP_WORDS[i+1]} != = && -n $(_udos_optarg \"$cmd\" "
	"\"$w\") ]] && ((i++)) ;;\n"
	"\t\t*) if [[ -z $cmd ]]; then cmd=$w; else ((k++)); fi ;;\n"
	"\t\tesac\n"
	"\tdone\n"
	"\tif [[ $prev == -?* && $prev != -- ]]; then\n"
	"\t\tspec=$(_udos_optarg \"$cmd\" \"$prev\")\n"
	"\tfi\n"
	"\tif [[ -z $spec ]]; then\n"
	"\t\tif [[ $cur == -* ]]; then\n"
	"\t\t\tspec=\"w $(_udos_opts \"$cmd\")\"\n"
	"\t\telif [[ -z $cmd ]]; then\n"
	"\t\t\tspec=\"w $_udos_commands\"\n"
	"\t\telse\n"
	"\t\t\ta=$(_udos_args \"$cmd\")\n"
	"\t\t\tspec=${a:k:1}\n"
	"\t\t\tif [[ -z $spec || $spec == '*' ]]; then\n"
	"\t\t\t\tspec=\n"
	"\t\t\t\t[[ $a == *'*' ]] && spec=${a: -2:1}\n"
	"\t\t\tfi\n"
	"\t\tfi\n"
	"\tfi\n"
	"\tcase $spec in\n"
	"\tw\\ *) mapfile -t COMPREPLY < <(compgen -W \"${spec#w }\" -- "
	"\"$cur\") ;;\n"
	"\tc) mapfile -t COMPREPLY < <(compgen -W \"$_udos_commands\" -- "
	"\"$cur\") ;;\n"
	"\td) compopt -o filenames 2>/dev/null\n"
	"\t   mapfile -t COMPREPLY < <(compgen -d -- \"$cur\") ;;\n"
	"\tf) compopt -o filenames 2>/dev/null\n"
	"\t   mapfile -t COMPREPLY < <(compgen -f -- \"$cur\") ;;\n"
	"\tesac\n"
	"\t[[ -n $pre ]] && COMPREPLY=(\"${COMPREPLY[@]/#/$pre}\")\n"
	"\treturn 0\n"
	"}\n"
	"complete -F _udos udos\n";

static int gen_bash(const struct opt_cmd *const *cs)
{
	size_t i;
	int j, n;

	puts("# bash completion for udos, made by `udos --gen-completion "
	     "bash` from the\n# option tables of the udos command: edit "
	     "those, not this.\n");
	fputs("_udos_commands=\"", stdout);
	for (i = 0; i < cli_ncommands; i++)
		printf("%s%s", i ? " " : "", cli_commands[i].name);
	puts("\"\n");
	puts("# _udos_optarg COMMAND OPTION: how the value of OPTION "
	     "completes: \"w WORDS\",\n# d (folders), f (files), n (nothing "
	     "to offer); nothing when it takes no value.\n"
	     "_udos_optarg() {\n\tcase \"$1 $2\" in");
	for (i = 0; i < cli_ncommands; i++)
		bash_optargs(cli_commands[i].name, cs[i]->opts);
	bash_optargs(NULL, opt_globals);
	puts("\tesac\n}\n");
	puts("# _udos_opts COMMAND: its options (and the global ones)\n"
	     "_udos_opts() {\n\tcase $1 in");
	for (i = 0; i < cli_ncommands; i++) {
		printf("\t%s) echo \"", cli_commands[i].name);
		opt_names(cs[i]->opts);
		puts(" -h --help\" ;;");
	}
	fputs("\t'') echo \"--version -h --help\" ;;\n\tesac\n\techo \"",
	      stdout);
	opt_names(opt_globals);
	puts("\"\n}\n");
	puts("# _udos_args COMMAND: what completes its arguments, one letter "
	     "each; a\n# last '*' repeats the one before it\n"
	     "_udos_args() {\n\tcase $1 in");
	for (i = 0; i < cli_ncommands; i++) {
		struct posarg p[8];

		n = posargs(cs[i]->usage, p, 8);
		printf("\t%s) echo \"", cli_commands[i].name);
		for (j = 0; j < n; j++)
			printf("%c%s", p[j].kind, p[j].many ? "*" : "");
		puts("\" ;;");
	}
	puts("\tesac\n}\n");
	fputs(bash_engine, stdout);
	return EXIT_OK;
}

/* ---- zsh ---- */

/* s inside a single-quoted zsh word and an _arguments [explanation] */
static void zq(const char *s)
{
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else if (*s == '[' || *s == ']' || *s == ':' || *s == '\\')
			printf("\\%c", *s);
		else if (*s == '\n')
			putchar(' ');
		else
			putchar(*s);
	}
}

static void zsh_value(const struct opt *o)
{
	char k = kind_of(o, o->arg ? o->arg : "");

	fputs(":", stdout);
	zq(o->arg ? o->arg : o->long_name);
	if (k == 'w') {
		fputs(":(", stdout);
		choices_words(o->choices);
		putchar(')');
	} else if (k == 'd') {
		fputs(":_directories", stdout);
	} else if (k == 'f') {
		fputs(":_files", stdout);
	} else {
		fputs(": ", stdout);
	}
}

static void zsh_opts(const struct opt *o)
{
	for (; o->type != OPT_END; o++) {
		bool val = opt_takes_arg(o);

		fputs("\t\t", stdout);
		if (o->short_name && o->long_name)
			printf("'(-%c --%s)'{-%c%s,--%s%s}'", o->short_name,
			       o->long_name, o->short_name, val ? "+" : "",
			       o->long_name, val ? "=" : "");
		else if (o->short_name)
			printf("'-%c%s", o->short_name, val ? "+" : "");
		else
			printf("'--%s%s", o->long_name, val ? "=" : "");
		putchar('[');
		zq(o->help);
		putchar(']');
		if (val)
			zsh_value(o);
		puts("' \\");
	}
}

static int gen_zsh(const struct opt_cmd *const *cs)
{
	size_t i;
	int j, n;

	puts("#compdef udos\n# zsh completion for udos, made by `udos "
	     "--gen-completion zsh` from the\n# option tables of the udos "
	     "command: edit those, not this.\n");
	puts("_udos() {\n\tlocal curcontext=$curcontext state line ret=1\n"
	     "\tlocal -a globals cmds");
	puts("\tglobals=(");
	zsh_opts(opt_globals);
	puts("\t)\n\tcmds=(");
	for (i = 0; i < cli_ncommands; i++) {
		printf("\t\t'%s:", cli_commands[i].name);
		zq(cli_commands[i].summary);
		puts("' \\");
	}
	puts("\t)\n"
	     "\t_arguments -C -s $globals \\\n"
	     "\t\t'(- *)'{-h,--help}'[list the commands and exit]' \\\n"
	     "\t\t'(- *)--version[print the version and exit]' \\\n"
	     "\t\t'1:command:->command' '*::argument:->argument' && ret=0\n"
	     "\tcase $state in\n"
	     "\tcommand) _describe -t commands 'udos command' cmds && ret=0 "
	     ";;\n"
	     "\targument)\n"
	     "\t\tcurcontext=${curcontext%:*:*}:udos-$words[1]:\n"
	     "\t\tcase $words[1] in");
	for (i = 0; i < cli_ncommands; i++) {
		struct posarg p[8];

		printf("\t\t%s) _arguments -s $globals \\\n",
		       cli_commands[i].name);
		zsh_opts(cs[i]->opts);
		puts("\t\t'(- *)'{-h,--help}'[show this help and exit]' \\");
		n = posargs(cs[i]->usage, p, 8);
		for (j = 0; j < n; j++) {
			static const char *const act[] = {
				['d'] = "_directories", ['f'] = "_files",
				['c'] = "_describe -t commands command cmds",
				['n'] = " ", ['w'] = " ",
			};

			if (p[j].many)
				printf("\t\t'*:%s:", p[j].name);
			else
				printf("\t\t'%d:%s:", j + 1, p[j].name);
			printf("%s' \\\n", act[(unsigned char)p[j].kind]);
		}
		puts("\t\t&& ret=0 ;;");
	}
	puts("\t\tesac ;;\n\tesac\n\treturn ret\n}\n\n_udos \"$@\"");
	return EXIT_OK;
}

int gen_completion(const char *shell)
{
	const struct opt_cmd *cs[64];
	size_t i;

	if (cli_ncommands > sizeof(cs) / sizeof(cs[0]))
		return EXIT_STORE;
	for (i = 0; i < cli_ncommands; i++) {
		cs[i] = opt_describe(&cli_commands[i]);
		if (!cs[i]) {
			fprintf(stderr, "udos: command '%s' does not describe "
				"its options\n", cli_commands[i].name);
			return EXIT_STORE;
		}
	}
	if (!strcmp(shell, "bash"))
		return gen_bash(cs);
	if (!strcmp(shell, "zsh"))
		return gen_zsh(cs);
	fprintf(stderr, "udos: unknown shell '%s' (bash or zsh)\n", shell);
	return EXIT_USAGE;
}
