/* cli/pathwalk.c - named paths, recursive directory walk and path lists. */
#include "pathwalk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"

static void report(struct pathwalk *w, int err, const char *path)
{
	cli_msg(w->cli, strerror(err), path);
	w->errors++;
}

static void skip(struct pathwalk *w, const char *what, const char *path)
{
	char msg[64];

	w->skipped++;
	if (w->cli->quiet)
		return;
	snprintf(msg, sizeof(msg), "skipping %s", what);
	cli_msg(w->cli, msg, path);
}

static const char *kind_of(mode_t m)
{
	if (S_ISLNK(m))
		return "symlink";
	if (S_ISFIFO(m))
		return "fifo";
	if (S_ISSOCK(m))
		return "socket";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "device";
	return "special file";
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "dir" + "name" -> "dir/name" ("dir/" + "name" -> "dir/name") */
static char *join(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	bool slash = dl && dir[dl - 1] == '/';
	char *p = malloc(dl + nl + 2);

	if (!p)
		return NULL;
	memcpy(p, dir, dl);
	if (!slash)
		p[dl++] = '/';
	memcpy(p + dl, name, nl + 1);
	return p;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/*
 * List the directory, sort, close it, then visit: only one directory fd is
 * open at a time however deep the tree.
 */
static int walk_dir(struct pathwalk *w, const char *dir, bool walked)
{
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;
	int fd, rc = 0;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
			  (walked ? O_NOFOLLOW : 0));
	if (fd < 0) {
		report(w, errno, dir);
		return 0;
	}
	d = fdopendir(fd);
	if (!d) {
		report(w, errno, dir);
		close(fd);
		return 0;
	}
	errno = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			char **nn = realloc(names, ncap * sizeof(*nn));

			if (!nn)
				goto nomem;
			names = nn;
			cap = ncap;
		}
		names[n] = strdup(de->d_name);
		if (!names[n])
			goto nomem;
		n++;
		errno = 0;
	}
	if (errno)
		report(w, errno, dir);
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);

	for (i = 0; i < n && !rc; i++) {
		char *p = join(dir, names[i]);
		struct stat sb;

		if (!p) {
			free_names(names, n);
			return -ENOMEM;
		}
		if (lstat(p, &sb) < 0) {
			/* vanished since listed, or unreadable folder */
			report(w, errno, p);
		} else if (S_ISDIR(sb.st_mode)) {
			rc = walk_dir(w, p, true);
		} else if (S_ISREG(sb.st_mode)) {
			rc = w->fn(w->ctx, p, true);
		} else {
			skip(w, kind_of(sb.st_mode), p);
		}
		free(p);
	}
	free_names(names, n);
	return rc;

nomem:
	closedir(d);
	free_names(names, n);
	return -ENOMEM;
}

int pathwalk_one(struct pathwalk *w, const char *path)
{
	struct stat sb;

	if (stat(path, &sb) < 0) {
		report(w, errno, path);
		return 0;
	}
	if (S_ISREG(sb.st_mode))
		return w->fn(w->ctx, path, false);
	if (S_ISDIR(sb.st_mode)) {
		if (!w->recursive) {
			cli_msg(w->cli, "is a directory (use -r)", path);
			w->errors++;
			return 0;
		}
		return walk_dir(w, path, false);
	}
	cli_msg(w->cli, "not a regular file", path);
	w->errors++;
	return 0;
}

int pathwalk_list(struct pathwalk *w, const char *file, bool nul)
{
	FILE *f = stdin;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0;

	if (strcmp(file, "-")) {
		f = fopen(file, "re");
		if (!f) {
			rc = -errno;
			cli_msg(w->cli, strerror(errno), file);
			return rc;
		}
	}
	while (!rc && (len = getdelim(&line, &cap, nul ? '\0' : '\n', f)) >= 0) {
		if (len && line[len - 1] == (nul ? '\0' : '\n'))
			line[--len] = '\0';
		if (!len)
			continue;
		rc = pathwalk_one(w, line);
	}
	if (!rc && ferror(f)) {
		rc = -EIO;
		cli_msg(w->cli, strerror(EIO), file);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return rc;
}
