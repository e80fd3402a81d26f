/* uring/ring.c - ring setup, feature probe, teardown and the io_uring reader.
 *
 * One thread owns the ring. Each file starts with a hard-linked chain
 *   openat (into a fixed-file slot) -> read_fixed (ING_HEAD bytes into a
 *   registered head slot) -> close
 * so a small file costs one submission and three completions and no
 * round trip between the steps. Hard links, not soft ones: a short read
 * (the normal case for a small file) counts as a failure for IOSQE_IO_LINK
 * and would cancel the close. The chain's last completion decides: a short
 * read reached end of file (regular files only read short at EOF), so the
 * file is whole; a full head means a bigger file, which is statx'ed and
 * then either read whole into one buffer (<= ING_MED_MAX) or streamed in
 * ING_CHUNK pieces (ring_stream.c). The last read of a file asks for one
 * byte more than the size statx gave: getting it, or getting less, means
 * the file changed.
 *
 * Fixed-file slots and SQEs are taken only when there: each step first
 * asks need() for the SQEs and slot it is about to use, and a file that
 * cannot have them parks in a state that says which step to redo. Only
 * this thread takes and gives slots, so a parked file is retried at the
 * top of the loop after the completions that freed them.
 */
#include "ring_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static void dispatch(struct rr *x, struct ing_file *f)
{
	f->kind = ING_WHOLE;
	f->task.type = ING_T_WHOLE;
	f->task.obj = f;
	f->task.node.next = NULL;
	if (x->disp_last)
		x->disp_last->next = &f->task.node;
	else
		x->disp_first = &f->task.node;
	x->disp_last = &f->task.node;
	x->disp_n++;
}

static void dispatch_flush(struct rr *x)
{
	if (!x->disp_n)
		return;
	ing_queue_push_list(&x->r->tasks, x->disp_first, x->disp_last,
			    x->disp_n);
	x->disp_first = x->disp_last = NULL;
	x->disp_n = 0;
}

static bool no_uring_env(void)
{
	const char *e = getenv("UDOS_INGEST_NO_URING");

	return e && *e && strcmp(e, "0") != 0;
}

int ing_ring_probe(void)
{
	struct io_uring ring;
	struct io_uring_probe *p;
	int rc;

	if (no_uring_env())
		return -ENOSYS;
	rc = io_uring_queue_init(8, &ring, 0);
	if (rc < 0)
		return rc;
	/* what the reader needs: openat/close (direct), statx, read */
	p = io_uring_get_probe_ring(&ring);
	if (p) {
		if (!io_uring_opcode_supported(p, IORING_OP_OPENAT) ||
		    !io_uring_opcode_supported(p, IORING_OP_CLOSE) ||
		    !io_uring_opcode_supported(p, IORING_OP_STATX) ||
		    !io_uring_opcode_supported(p, IORING_OP_READ))
			rc = -ENOSYS;
		io_uring_free_probe(p);
	}
	if (rc == 0) {
		rc = io_uring_register_files_sparse(&ring, 4);
		if (rc == 0)
			io_uring_unregister_files(&ring);
	}
	io_uring_queue_exit(&ring);
	return rc;
}

static int setup(struct rr *x)
{
	struct ing_run *r = x->r;
	unsigned qd = r->o.queue_depth, entries = 1, cq, i;
	struct io_uring_params p;
	struct iovec *iov;
	unsigned wq[2];
	const char *e;
	int rc;

	if (no_uring_env())
		return -ENOSYS;
	while (entries < qd * 4)
		entries <<= 1;
	/* Room for every completion that can be outstanding, so none has
	 * to wait in the kernel's overflow list: three per fixed-file slot
	 * (open, read, close), a statx per head slot, the stream reads and
	 * the wake-up read. */
	x->n_fixed = qd + 4 * ING_MAX_STREAMS + 8;
	cq = entries * 2;
	while (cq < 3 * x->n_fixed + r->n_slots + RD_MAXR * ING_MAX_STREAMS + 1)
		cq <<= 1;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_CQSIZE;
	p.cq_entries = cq;
	rc = io_uring_queue_init_params(entries, &x->ring, &p);
	if (rc < 0)
		return rc;
	x->ring_ok = true;

	if (r->wake_fd < 0) {
		r->wake_fd = eventfd(0, EFD_CLOEXEC);
		if (r->wake_fd < 0)
			return -errno;
	}

	rc = io_uring_register_files_sparse(&x->ring, x->n_fixed);
	if (rc < 0)
		return rc;
	x->ffree = malloc(x->n_fixed * sizeof(int));
	if (!x->ffree)
		return -ENOMEM;
	for (i = 0; i < x->n_fixed; i++)
		x->ffree[i] = (int)(x->n_fixed - 1 - i);
	x->n_ffree = x->n_fixed;

	/* Registered head buffers save the page pinning of every read; if
	 * the memlock limit says no, plain reads into the same memory. */
	iov = malloc(r->n_slots * sizeof(*iov));
	if (iov) {
		for (i = 0; i < r->n_slots; i++) {
			iov[i].iov_base = ing_slot_ptr(r, (int)i);
			iov[i].iov_len = ING_HEAD;
		}
		x->fixed_bufs = io_uring_register_buffers(&x->ring, iov,
							  r->n_slots) == 0;
		free(iov);
	}

	/* Cold reads block in io-wq; its default of a few workers per CPU
	 * leaves the disk idle. */
	e = getenv("UDOS_INGEST_IOWQ");
	wq[0] = wq[1] = e ? (unsigned)atoi(e) : 64;
	if (wq[0])
		io_uring_register_iowq_max_workers(&x->ring, wq);
	return 0;
}

static void teardown(struct rr *x)
{
	if (x->ring_ok)
		io_uring_queue_exit(&x->ring);
	free(x->ffree);
}

/* openat -> read -> close, hard-linked. The caller made sure of three SQEs
 * and a fixed-file slot. */
static void start_head(struct rr *x, struct ing_file *f)
{
	struct ing_run *r = x->r;
	struct io_uring_sqe *sqe;
	uint8_t *buf = ing_slot_ptr(r, f->slot);

	f->fslot = slot_take(x);
	f->step = 3;
	f->failop = 0;
	f->err = 0;
	f->len = 0;

	sqe = sqe_get(x);
	io_uring_prep_openat_direct(sqe, ing_file_dirfd(f), ing_file_rel(f),
				    open_flags(x, f), 0, (unsigned)f->fslot);
	sqe->flags |= IOSQE_IO_HARDLINK;
	set_data(sqe, f, OP_H_OPEN);

	sqe = sqe_get(x);
	if (x->fixed_bufs)
		io_uring_prep_read_fixed(sqe, f->fslot, buf, ING_HEAD, 0,
					 f->slot);
	else
		io_uring_prep_read(sqe, f->fslot, buf, ING_HEAD, 0);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
	set_data(sqe, f, OP_H_READ);

	sqe = sqe_get(x);
	io_uring_prep_close_direct(sqe, (unsigned)f->fslot);
	set_data(sqe, f, OP_H_CLOSE);

	x->heads++;
	x->ops += 3;
}

void ring_rd_free(struct rr *x, struct rd *d)
{
	if (d->fslot >= 0)
		slot_give(x, d->fslot);
	free(d);
}

static void submit_statx(struct rr *x, struct rd *d)
{
	struct io_uring_sqe *sqe;

	if (!need(x, 1, false)) {
		d->state = RD_WANT_STAT;
		park(x, d);
		return;
	}
	sqe = sqe_get(x);
	d->state = RD_STAT;
	io_uring_prep_statx(sqe, ing_file_dirfd(d->f), ing_file_rel(d->f),
			    d->f->follow ? 0 : (int)x->statx_flags,
			    STATX_TYPE | STATX_SIZE, &d->stx);
	set_data(sqe, d, OP_STATX);
	x->ops++;
}

/* Medium file: one buffer, openat -> read the rest (+1 byte) -> close.
 * The caller made sure of three SQEs and a fixed-file slot. */
static void submit_medium(struct rr *x, struct rd *d)
{
	struct ing_file *f = d->f;
	struct io_uring_sqe *sqe;

	d->state = RD_MED;
	d->fslot = slot_take(x);
	d->pending = 3;
	d->err = 0;
	d->want = d->size - ING_HEAD;

	sqe = sqe_get(x);
	io_uring_prep_openat_direct(sqe, ing_file_dirfd(f), ing_file_rel(f),
				    open_flags(x, f), 0, (unsigned)d->fslot);
	sqe->flags |= IOSQE_IO_HARDLINK;
	set_data(sqe, d, OP_OPEN);
	sqe = sqe_get(x);
	io_uring_prep_read(sqe, d->fslot, f->heap + ING_HEAD,
			   (unsigned)(d->want + 1), ING_HEAD);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
	set_data(sqe, d, OP_READ);
	sqe = sqe_get(x);
	io_uring_prep_close_direct(sqe, (unsigned)d->fslot);
	set_data(sqe, d, OP_CLOSE);
	x->ops += 3;
}

void ring_submit_close(struct rr *x, struct rd *d)
{
	struct io_uring_sqe *sqe;

	if (!need(x, 1, false)) {
		d->state = RD_WANT_CLOSE;
		park(x, d);
		return;
	}
	sqe = sqe_get(x);
	d->state = RD_CLOSING;
	io_uring_prep_close_direct(sqe, (unsigned)d->fslot);
	set_data(sqe, d, OP_CLOSE);
	x->ops++;
}

/* After statx: medium (needs budget) or stream (needs a stream permit);
 * either opens the file again, so first a fixed-file slot and the SQEs,
 * taken before the budget so that a parked file holds no budget. */
static void advance(struct rr *x, struct rd *d)
{
	struct ing_run *r = x->r;
	struct ing_file *f = d->f;

	if (!need(x, 3, true)) {
		d->state = RD_WANT_SLOT;
		park(x, d);
		return;
	}
	if (d->size <= ING_MED_MAX) {
		uint64_t ch = ing_charge(r, d->size + 1);

		if (!ing_budget_try(&r->budget, ch)) {
			d->state = RD_WANT_BUDGET;
			park(x, d);
			return;
		}
		f->charged = ch;
		f->heap = malloc(d->size + 1);
		if (!f->heap) {
			ing_file_fail(r, f, -ENOMEM, "'%s': out of memory",
				      f->path);
			ring_rd_free(x, d);
			return;
		}
		memcpy(f->heap, ing_slot_ptr(r, f->slot), ING_HEAD);
		ing_slot_put(r, f->slot);
		f->slot = -1;
		submit_medium(x, d);
		return;
	}
	if (!ing_budget_try(&r->streams, 1)) {
		d->state = RD_WANT_STREAM;
		park(x, d);
		return;
	}
	ring_stream_start(x, d);
}

static void retry_parked(struct rr *x)
{
	struct rd *list = x->parked, *d;

	x->parked = NULL;
	/* each step checks what it needs and parks again without it */
	while ((d = list)) {
		list = d->next;
		switch (d->state) {
		case RD_WANT_ROOM:
			ring_stream_fill(x, d);
			break;
		case RD_WANT_STAT:
			submit_statx(x, d);
			break;
		case RD_WANT_CLOSE:
			ring_submit_close(x, d);
			break;
		default: /* RD_WANT_SLOT, RD_WANT_BUDGET, RD_WANT_STREAM */
			advance(x, d);
			break;
		}
	}
}

static void head_done(struct rr *x, struct ing_file *f)
{
	struct ing_run *r = x->r;
	struct rd *d;

	x->heads--;
	slot_give(x, f->fslot);
	f->fslot = -1;
	if (f->err) {
		ing_file_fail(r, f, f->err, "%s '%s': %s",
			      f->failop ? "open" : "read", f->path,
			      strerror(-f->err));
		return;
	}
	if (f->len < ING_HEAD) {
		f->data = ing_slot_ptr(r, f->slot);
		f->size = f->len;
		dispatch(x, f);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		ing_file_fail(r, f, -ENOMEM, "'%s': out of memory", f->path);
		return;
	}
	d->f = f;
	d->fslot = -1;
	submit_statx(x, d);
}

static void on_head_cqe(struct rr *x, struct ing_file *f, unsigned op, int res)
{
	/* hard links: all three completions always arrive, in order */
	switch (op) {
	case OP_H_OPEN:
		if (res < 0 && !f->err) {
			f->err = res;
			f->failop = 1;
		}
		break;
	case OP_H_READ:
		if (res >= 0)
			f->len = (size_t)res;
		else if (!f->err)
			f->err = res;
		break;
	}
	if (--f->step == 0)
		head_done(x, f);
}

static void changed(struct ing_run *r, struct ing_file *f, uint64_t expect,
		    uint64_t got)
{
	ing_file_fail(r, f, UDOS_ECHANGED,
		      "'%s' changed while being read (size %llu, read %llu)",
		      f->path, (unsigned long long)expect,
		      (unsigned long long)got);
}

static void on_rd_cqe(struct rr *x, struct rd *d, unsigned op, int res)
{
	struct ing_run *r = x->r;
	struct ing_file *f = d->f;

	switch (op) {
	case OP_STATX:
		if (res < 0) {
			ing_file_fail(r, f, res, "statx '%s': %s", f->path,
				      strerror(-res));
			ring_rd_free(x, d);
			return;
		}
		if (!S_ISREG(d->stx.stx_mode)) {
			ing_file_fail(r, f, -EINVAL,
				      "'%s' is no longer a regular file",
				      f->path);
			ring_rd_free(x, d);
			return;
		}
		d->size = d->stx.stx_size;
		if (d->size < ING_HEAD) {
			changed(r, f, d->size, ING_HEAD);
			ring_rd_free(x, d);
			return;
		}
		advance(x, d);
		return;
	case OP_OPEN:
		if (d->state == RD_MED) {
			if (res < 0 && !d->err)
				d->err = res;
			break;
		}
		/* stream open */
		if (res < 0) {
			slot_give(x, d->fslot);
			d->fslot = -1;
			ing_stream_fail(r, d->s, res, "open '%s': %s", f->path,
					strerror(-res));
			ring_rd_free(x, d);
			return;
		}
		ring_stream_fill(x, d);
		return;
	case OP_READ:
		if (d->state == RD_MED) {
			if (res < 0 && !d->err)
				d->err = res;
			else if (res >= 0 && (uint64_t)res != d->want &&
				 !d->err)
				d->err = 1; /* changed */
			d->off = res >= 0 ? (uint64_t)res : 0;
			break;
		}
		break;
	case OP_CLOSE:
		if (d->state == RD_MED)
			break;
		ring_rd_free(x, d);
		return;
	}
	/* medium chain: 3 completions */
	if (--d->pending)
		return;
	slot_give(x, d->fslot);
	d->fslot = -1;
	if (d->err < 0) {
		ing_file_fail(r, f, d->err, "read '%s': %s", f->path,
			      strerror(-d->err));
	} else if (d->err) {
		changed(r, f, d->size, ING_HEAD + d->off);
	} else {
		f->data = f->heap;
		f->len = d->size;
		f->size = d->size;
		f->stat_size = d->size;
		dispatch(x, f);
	}
	ring_rd_free(x, d);
}

static void reap(struct rr *x)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&x->ring, head, cqe) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		unsigned op = (unsigned)(ud & TAG_MASK);
		void *p = (void *)(uintptr_t)(ud & ~TAG_MASK);

		n++;
		if (op == OP_WAKE) {
			x->wake_armed = false;
			continue;
		}
		x->ops--;
		if (op == OP_SREAD)
			ring_on_chunk_cqe(x, p, cqe->res);
		else if (op <= OP_H_CLOSE)
			on_head_cqe(x, p, op, cqe->res);
		else
			on_rd_cqe(x, p, op, cqe->res);
	}
	io_uring_cq_advance(&x->ring, n);
	dispatch_flush(x);
}

int ing_ring_read(struct ing_run *r)
{
	struct rr x;
	unsigned qd = r->o.queue_depth;
	bool closed = false;
	int rc;

	memset(&x, 0, sizeof(x));
	x.r = r;
	/* O_CLOEXEC is refused for direct descriptors */
	x.open_flags = O_RDONLY |
		       (r->o.follow_symlinks ? 0 : O_NOFOLLOW);
	x.statx_flags = r->o.follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW;
	rc = setup(&x);
	if (rc < 0) {
		teardown(&x);
		return rc;
	}

	for (;;) {
		/* a safety net only: every state change the loop waits for
		 * comes with an ing_wake() */
		struct __kernel_timespec ts = { 0, 100 * 1000000 };
		struct io_uring_cqe *cqe;
		uint64_t gen = atomic_load(&r->wake_gen);

		if (x.parked)
			retry_parked(&x);
		/* admit new files while there is a file, a slot, a fixed
		 * file and queue depth */
		while (!closed && !atomic_load(&r->stop) && x.heads < qd &&
		       x.n_ffree > 4 * ING_MAX_STREAMS && sq_room(&x, 3)) {
			struct ing_node *n = ing_queue_pop(&r->files, 0,
							   &closed);
			int slot;

			if (!n)
				break;
			slot = ing_slot_get(r, false);
			if (slot < 0) {
				/* back to the head: not the end after all */
				ing_queue_push_front(&r->files, n);
				closed = false;
				break;
			}
			((struct ing_file *)n)->slot = slot;
			start_head(&x, (struct ing_file *)n);
		}
		if (closed && !x.ops && !x.parked)
			break;
		if (atomic_load(&r->stop) && !x.ops) {
			/* parked files are dropped */
			while (x.parked) {
				struct rd *d = x.parked;

				x.parked = d->next;
				if (d->s)
					ing_stream_fail(r, d->s, -ECANCELED,
							"ingest stopped");
				else if (d->f)
					ing_file_free(r, d->f);
				d->fslot = -1;
				ring_rd_free(&x, d);
			}
			break;
		}
		/* without an SQE for it now, the timeout stands in */
		if (!x.wake_armed && need(&x, 1, false)) {
			struct io_uring_sqe *sqe = sqe_get(&x);

			io_uring_prep_read(sqe, r->wake_fd, &x.wake_buf,
					   sizeof(x.wake_buf), 0);
			io_uring_sqe_set_data64(sqe, OP_WAKE);
			x.wake_armed = true;
		}
		if (io_uring_cq_ready(&x.ring)) {
			rc = io_uring_submit(&x.ring);
		} else {
			/* sleep until a completion or a wake-up; the
			 * generation check closes the race with a waker
			 * that changed something since the top of the loop */
			atomic_store(&r->rd_waiting, true);
			atomic_thread_fence(memory_order_seq_cst);
			if (atomic_load(&r->wake_gen) != gen) {
				atomic_store(&r->rd_waiting, false);
				rc = io_uring_submit(&x.ring);
			} else {
				rc = io_uring_submit_and_wait_timeout(
					&x.ring, &cqe, 1, &ts, NULL);
				atomic_store(&r->rd_waiting, false);
			}
		}
		if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY) {
			ing_set_fatal(r, udos__err(rc, "io_uring: %s",
						   strerror(-rc)));
			break;
		}
		reap(&x);
	}
	rc = 0;
	teardown(&x);
	return rc;
}
