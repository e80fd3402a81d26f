/* backup_state.c - backup.state: what the last synced backup into a folder
 * covers (docs/FORMAT.md, "Backup folders").
 *
 * A text file, replaced atomically (temp file, fsync, rename, fsync dir):
 *
 *   udos-backup 1
 *   container <uuid>
 *   state started|synced
 *   pack <id> <data end> <record file end>
 *   ...
 *   end
 *
 * "started" marks a folder a backup is filling and trusts nothing in it;
 * "synced" says every loose file in the folder and each listed pack up to
 * the listed ends were synced by a backup (and checked by it). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_NAME "backup.state"
#define STATE_TMP "backup.state.tmp"
#define STATE_MAX (4u << 20) /* ~100k packs */

void udos__bk_state_release(udos__bk_state *s)
{
	free(s->packs);
	s->packs = NULL;
	s->n = s->cap = 0;
}

int udos__bk_state_add(udos__bk_state *s, uint32_t id, uint64_t data_end,
		       uint64_t rec_end)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		udos__bk_pack *p = realloc(s->packs, cap * sizeof(*p));

		if (!p)
			return udos__err(-ENOMEM, "out of memory");
		s->packs = p;
		s->cap = cap;
	}
	s->packs[s->n++] = (udos__bk_pack){ id, data_end, rec_end };
	return 0;
}

const udos__bk_pack *udos__bk_state_find(const udos__bk_state *s, uint32_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->packs[i].id == id)
			return &s->packs[i];
	return NULL;
}

static int parse(udos__bk_state *s, char *text)
{
	char *save = NULL, *line;
	int n = 0;
	bool end = false;

	for (line = strtok_r(text, "\n", &save); line && !end;
	     line = strtok_r(NULL, "\n", &save), n++) {
		char word[16], val[40];
		unsigned long long d, r;
		unsigned id;
		int pos = 0;

		if (n == 0) {
			if (strcmp(line, "udos-backup 1"))
				return -1;
		} else if (sscanf(line, "container %36s%n", val, &pos) == 1 &&
			   !line[pos]) {
			snprintf(s->container_id, sizeof(s->container_id),
				 "%s", val);
		} else if (sscanf(line, "state %15s%n", word, &pos) == 1 &&
			   !line[pos]) {
			if (strcmp(word, "synced") && strcmp(word, "started"))
				return -1;
			s->synced = !strcmp(word, "synced");
		} else if (sscanf(line, "pack %u %llu %llu%n", &id, &d, &r,
				  &pos) == 3 && !line[pos]) {
			if (udos__bk_state_add(s, id, d, r) < 0)
				return -ENOMEM;
		} else if (!strcmp(line, "end")) {
			end = true;
		} else {
			return -1;
		}
	}
	return end && s->container_id[0] ? 0 : -1;
}

int udos__bk_state_read(udos__bk_state *out, int dfd, const char *dest)
{
	char *text = NULL;
	ssize_t len;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	fd = openat(dfd, STATE_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? UDOS_ENOTFOUND
				       : udos__err(-errno, "cannot read '%s/%s':"
						   " %s", dest, STATE_NAME,
						   udos_strerror(-errno));
	text = udos__alloc(STATE_MAX + 1);
	if (!text) {
		rc = udos__err(-ENOMEM, "out of memory");
		goto done;
	}
	len = udos__read_full(fd, text, STATE_MAX + 1);
	if (len < 0) {
		rc = udos__err((int)len, "cannot read '%s/%s': %s", dest,
			       STATE_NAME, udos_strerror((int)len));
		goto done;
	}
	if ((size_t)len > STATE_MAX) {
		rc = udos__err(UDOS_ECORRUPT, "'%s/%s' is too large", dest,
			       STATE_NAME);
		goto done;
	}
	text[len] = '\0';
	rc = parse(out, text);
	if (rc == -ENOMEM)
		rc = udos__err(rc, "out of memory");
	else if (rc < 0)
		rc = udos__err(UDOS_ECORRUPT, "'%s/%s' is not a backup "
			       "state file", dest, STATE_NAME);
done:
	if (rc < 0)
		udos__bk_state_release(out);
	free(text);
	close(fd);
	return rc;
}

int udos__bk_state_write(int dfd, const char *dest, const udos__bk_state *s)
{
	size_t cap = 128 + s->n * 64, len;
	char *text = udos__alloc(cap);
	int fd = -1, rc;

	if (!text)
		return udos__err(-ENOMEM, "out of memory");
	len = (size_t)snprintf(text, cap, "udos-backup 1\ncontainer %s\n"
			       "state %s\n", s->container_id,
			       s->synced ? "synced" : "started");
	for (size_t i = 0; i < s->n; i++)
		len += (size_t)snprintf(text + len, cap - len, "pack %" PRIu32
					" %" PRIu64 " %" PRIu64 "\n",
					s->packs[i].id, s->packs[i].data_end,
					s->packs[i].rec_end);
	len += (size_t)snprintf(text + len, cap - len, "end\n");
	fd = openat(dfd, STATE_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644);
	rc = fd < 0 ? -errno : udos__write_all(fd, text, len);
	if (rc == 0)
		rc = udos__fsync(fd);
	if (rc == 0 && renameat(dfd, STATE_TMP, dfd, STATE_NAME) < 0)
		rc = -errno;
	if (rc == 0)
		rc = udos__fsync_dir(dfd, ".");
	if (rc < 0)
		rc = udos__err(rc, "cannot write '%s/%s': %s", dest,
			       STATE_NAME, udos_strerror(rc));
	if (fd >= 0)
		close(fd);
	free(text);
	return rc;
}
