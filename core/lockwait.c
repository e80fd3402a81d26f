/* lockwait.c - taking the writer lock after the process holding it. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* the pid writer.lock names (0: empty, unreadable, or being written) */
static long holder_pid(udos_store *st)
{
	char buf[32];
	ssize_t n;
	int fd;

	fd = openat(st->dirfd, UDOS__LOCK_NAME, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = udos__pread_full(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strtol(buf, NULL, 10);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int udos_store_lock_writer_wait(udos_store *st, int64_t timeout_ms,
				udos_lock_wait_fn fn, void *ctx)
{
	int64_t start = now_ms();
	long told = -1;
	long step = 10; /* ms, doubling up to 200: a short wait stays short */
	int rc;

	UDOS_ASSERT_ARG(st);
	/* flock has no timed wait and a blocking one cannot be left
	 * politely from a library: poll, which also lets us name each new
	 * holder as the queue moves */
	for (;;) {
		struct timespec ts;
		long pid;

		rc = udos_store_lock_writer(st);
		if (rc != UDOS_ELOCKED)
			return rc;
		if (timeout_ms >= 0 && now_ms() - start >= timeout_ms)
			return rc; /* the detail names the holder */
		pid = holder_pid(st);
		if (fn && pid != told && (pid || told < 0))
			fn(ctx, pid);
		if (pid || told < 0)
			told = pid;
		ts.tv_sec = step / 1000;
		ts.tv_nsec = (step % 1000) * 1000000;
		nanosleep(&ts, NULL);
		if (step < 200)
			step *= 2;
	}
}
