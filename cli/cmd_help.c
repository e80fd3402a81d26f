/* cli/cmd_help.c - `udos help`: a command's man page, or its --help. */
#include "cmd.h"

#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "opt.h"

extern char **environ;

static const struct opt help_opts[] = { OPT_END_MARK };

static const struct opt_cmd help_cmd = {
	"help", "[COMMAND]",
	"Show the manual page of COMMAND, or with none list the commands.",
	"On a terminal where man(1) is installed, shows udos-COMMAND(1): the\n"
	"page beside this binary (build/cli/man/ in a build, ../share/man/man1/\n"
	"where installed), else the one man finds. Otherwise (piped, or no man\n"
	"page) prints what 'udos COMMAND --help' prints.\n",
	help_opts,
};

/* Run argv (from PATH), its output discarded when quiet; its exit status,
 * or -1 when it could not be run. */
static int run(char *const argv[], bool quiet)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st, rc;

	posix_spawn_file_actions_init(&fa);
	if (quiet) {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY,
						 0);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY,
						 0);
	}
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Show the page: one beside this binary matches it exactly, so it comes
 * first (the build's build/cli/man/, an install's ../share/man/man1/);
 * then man's own search. */
static bool show_man(const char *page)
{
	static const char *const rel[] = { "man", "../share/man/man1" };
	char exe[PATH_MAX], path[PATH_MAX + 64];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash = NULL;
	size_t i;

	fflush(stdout);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
	}
	for (i = 0; slash && i < sizeof(rel) / sizeof(rel[0]); i++) {
		*slash = '\0';
		snprintf(path, sizeof(path), "%s/%s/%s.1", exe, rel[i], page);
		if (!access(path, R_OK))
			return !run((char *const[]){ "man", "-l", path, NULL },
				    false);
	}
	if (run((char *const[]){ "man", "-w", (char *)page, NULL }, true))
		return false;
	return !run((char *const[]){ "man", (char *)page, NULL }, false);
}

int cmd_help(struct cli *cli, int argc, char **argv)
{
	const struct cmd *cmd;
	const struct opt_cmd *c;
	char page[64];
	int n;

	(void)cli;
	n = opt_parse(&help_cmd, NULL, argc, argv);
	if (n == OPT_HELP)
		return EXIT_OK;
	if (n < 0)
		return EXIT_USAGE;
	if (!n) {
		cli_usage(stdout);
		return EXIT_OK;
	}
	if (n > 1)
		return opt_usage_error(&help_cmd, "unexpected argument",
				       argv[1]);
	cmd = cli_find_cmd(argv[0]);
	if (!cmd)
		return opt_usage_error(&help_cmd, "unknown command", argv[0]);
	snprintf(page, sizeof(page), "udos-%s", cmd->name);
	if (isatty(STDOUT_FILENO) && show_man(page))
		return EXIT_OK;
	c = opt_describe(cmd);
	if (c)
		opt_print_help(c);
	else
		printf("udos %s: %s\n", cmd->name, cmd->summary);
	return EXIT_OK;
}
