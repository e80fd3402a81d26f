/* cli/gen.h - documentation made from the option tables: man pages and
 * shell completion (hidden modes `udos --gen-man DIR`, `udos
 * --gen-completion bash|zsh`, run by the build). */
#ifndef UDOS_CLI_GEN_H
#define UDOS_CLI_GEN_H

/* Write udos.1 and udos-<command>.1 for every command into dir (which
 * must exist). Returns the exit status. */
int gen_man(const char *dir);

/* Print the completion script for shell ("bash" or "zsh") on stdout.
 * Returns the exit status. */
int gen_completion(const char *shell);

#endif
