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
 * ING_CHUNK pieces. The last read of a file asks for one byte more than the
 * size statx gave: getting it, or getting less, means the file changed.
 *
 * Fixed-file slots and SQEs are taken only when there: each step first
 * asks need() for the SQEs and slot it is about to use, and a file that
 * cannot have them parks in a state that says which step to redo. Only
 * this thread takes and gives slots, so a parked file is retried at the
 * top of the loop after the completions that freed them.
 */
#include "ingest_int.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* user_data tags (low bits of a pointer aligned to at least 8) */
enum {
	OP_H_OPEN = 1, /* head chain, data = struct ing_file */
	OP_H_READ = 2,
	OP_H_CLOSE = 3,
	OP_STATX = 4,  /* data = struct rd */
	OP_OPEN = 5,
	OP_READ = 6,
	OP_CLOSE = 7,
	OP_SREAD = 8,  /* stream chunk read, data = struct ing_chunk */
	OP_WAKE = 9,   /* read of the wake eventfd, no data */
};
/* malloc'd pointers are 16-byte aligned */
#define TAG_MASK 15ull
/* chunk reads in flight per stream */
#define RD_MAXR 4

/* Reader-side state of a file bigger than its head. It outlives the
 * ing_file for streams: once the last chunk is handed over the appender
 * owns (and frees) the file, but the reader still has to close it. */
struct rd {
	struct rd *next;         /* parked list */
	struct ing_file *f;
	struct ing_stream *s;
	int fslot;
	int state;               /* RD_* */
	uint64_t size, off;
	uint64_t want;           /* medium: bytes expected from the read */
	/* stream: chunks issued, in file order (in flight or done but not
	 * yet handed over) */
	struct ing_chunk *fifo_head, *fifo_tail;
	unsigned nin;
	int err;
	int pending;             /* completions still to come */
	struct statx stx;
};
enum { RD_STAT = 1, RD_WANT_BUDGET, RD_MED, RD_WANT_STREAM, RD_OPENING,
       RD_WANT_ROOM, RD_READING, RD_CLOSING,
       RD_WANT_STAT,   /* no SQE for the statx */
       RD_WANT_SLOT,   /* no fixed-file slot or SQEs for the next open */
       RD_WANT_CLOSE }; /* no SQE for the close */

struct rr {
	struct ing_run *r;
	struct io_uring ring;
	bool ring_ok;
	bool fixed_bufs;
	int *ffree;              /* free fixed-file slots */
	unsigned n_ffree, n_fixed;
	unsigned heads;          /* head chains in flight */
	unsigned ops;            /* completions outstanding */
	struct rd *parked;       /* waiting for budget, a stream or room */
	unsigned open_flags;
	unsigned statx_flags;
	/* whole files for the workers, handed over once per reap */
	struct ing_node *disp_first, *disp_last;
	size_t disp_n;
	bool wake_armed;
	uint64_t wake_buf;
};

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

static int open_flags(const struct rr *x, const struct ing_file *f)
{
	return (int)(f->follow ? x->open_flags & ~(unsigned)O_NOFOLLOW
			       : x->open_flags);
}

/* Callers have made sure of the room with need() or sq_room(). */
static struct io_uring_sqe *sqe_get(struct rr *x)
{
	return io_uring_get_sqe(&x->ring);
}

static void set_data(struct io_uring_sqe *sqe, void *p, unsigned op)
{
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)p | op);
}

/* Room for n more SQEs without submitting in between. */
static bool sq_room(struct rr *x, unsigned n)
{
	return io_uring_sq_space_left(&x->ring) >= n;
}

/* n SQEs (submitting what is queued to make room) and, with slot, a free
 * fixed-file slot. false: the caller parks and retries later. */
static bool need(struct rr *x, unsigned n, bool slot)
{
	if (slot && !x->n_ffree)
		return false;
	if (!sq_room(x, n))
		io_uring_submit(&x->ring);
	return sq_room(x, n);
}

static int slot_take(struct rr *x)
{
	return x->ffree[--x->n_ffree];
}

static void slot_give(struct rr *x, int fslot)
{
	x->ffree[x->n_ffree++] = fslot;
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

static void park(struct rr *x, struct rd *d)
{
	d->next = x->parked;
	x->parked = d;
}

static void rd_free(struct rr *x, struct rd *d)
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

static void submit_close(struct rr *x, struct rd *d)
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

static unsigned stream_held(struct ing_stream *s)
{
	unsigned h;

	pthread_mutex_lock(&s->mu);
	h = s->held;
	pthread_mutex_unlock(&s->mu);
	return h;
}

/* A failed or cancelled stream: once no read is in flight any more, tell
 * the appender and close the file. */
static void stream_settle_err(struct rr *x, struct rd *d)
{
	struct ing_run *r = x->r;
	const char *p = d->f->path;

	if (d->nin)
		return;
	if (d->err == UDOS_ECHANGED)
		ing_stream_fail(r, d->s, UDOS_ECHANGED,
				"'%s' changed while being read (size %llu)", p,
				(unsigned long long)d->size);
	else if (d->err == -ECANCELED)
		ing_stream_fail(r, d->s, -ECANCELED, "'%s': %s", p,
				"ingest stopped");
	else if (d->err == -ENOMEM)
		ing_stream_fail(r, d->s, -ENOMEM, "'%s': out of memory", p);
	else
		ing_stream_fail(r, d->s, d->err, "read '%s': %s", p,
				strerror(-d->err));
	d->s = NULL;
	d->f = NULL;
	submit_close(x, d);
}

/*
 * Issue chunk reads while the stream has room: up to RD_MAXR in flight,
 * and chunks held downstream plus reads in flight within the stream's
 * quota. With nothing in flight and no room, the stream parks until
 * ing_wake says a chunk was freed.
 */
/* The appender gave the stream up (a store error): stop reading it. */
static bool stream_cancelled(struct ing_stream *s)
{
	bool c;

	pthread_mutex_lock(&s->mu);
	c = s->err != 0;
	pthread_mutex_unlock(&s->mu);
	return c;
}

static void stream_fill(struct rr *x, struct rd *d)
{
	struct ing_run *r = x->r;
	unsigned held = stream_held(d->s);

	if (!d->err && (atomic_load(&r->stop) || stream_cancelled(d->s)))
		d->err = -ECANCELED;
	while (!d->err && d->off < d->size && d->nin < RD_MAXR &&
	       held + d->nin < ING_STREAM_QUOTA && need(x, 1, false)) {
		uint64_t left = d->size - d->off;
		size_t want = left < ING_CHUNK ? (size_t)left : ING_CHUNK;
		bool last = want == left;
		struct io_uring_sqe *sqe;
		struct ing_chunk *c = calloc(1, sizeof(*c));

		if (c)
			c->heap = malloc(want + 1);
		if (!c || !c->heap) {
			free(c);
			d->err = -ENOMEM;
			break;
		}
		c->slot = -1;
		c->data = c->heap;
		c->len = want;
		c->last = last;
		c->rd = d;
		c->next = NULL;
		if (d->fifo_tail)
			d->fifo_tail->next = c;
		else
			d->fifo_head = c;
		d->fifo_tail = c;
		d->nin++;
		sqe = sqe_get(x);
		io_uring_prep_read(sqe, d->fslot, c->heap,
				   (unsigned)(want + (last ? 1 : 0)), d->off);
		sqe->flags |= IOSQE_FIXED_FILE;
		set_data(sqe, c, OP_SREAD);
		x->ops++;
		d->off += want;
	}
	if (d->err) {
		stream_settle_err(x, d);
		return;
	}
	if (!d->nin) {
		d->state = RD_WANT_ROOM;
		park(x, d);
	} else {
		d->state = RD_READING;
	}
}

/* A chunk read completed: hand over the chunks that are complete in file
 * order, then read more. */
static void on_chunk_cqe(struct rr *x, struct ing_chunk *c, int res)
{
	struct ing_run *r = x->r;
	struct rd *d = c->rd;

	c->done = true;
	if (res < 0) {
		if (!d->err)
			d->err = res;
	} else if ((size_t)res != c->len) {
		if (!d->err)
			d->err = UDOS_ECHANGED;
	}
	if (!d->err && stream_cancelled(d->s))
		d->err = -ECANCELED;
	while ((c = d->fifo_head) && c->done) {
		bool last = c->last;

		d->fifo_head = c->next;
		if (!d->fifo_head)
			d->fifo_tail = NULL;
		d->nin--;
		if (d->err) {
			ing_chunk_free(r, c);
			continue;
		}
		c->rd = NULL;
		ing_stream_push(r, d->s, c);
		if (last) {
			/* the appender owns the file now */
			d->s = NULL;
			d->f = NULL;
			submit_close(x, d);
			return;
		}
	}
	if (d->err) {
		stream_settle_err(x, d);
		return;
	}
	if (d->state != RD_WANT_ROOM)
		stream_fill(x, d);
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
			rd_free(x, d);
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
	{
		struct ing_chunk *c = calloc(1, sizeof(*c));

		f->stat_size = d->size;
		d->s = c ? ing_stream_new(r, f) : NULL;
		if (!d->s) {
			free(c);
			ing_budget_give(&r->streams, 1);
			ing_file_fail(r, f, -ENOMEM, "'%s': out of memory",
				      f->path);
			rd_free(x, d);
			return;
		}
		/* chunk 0 is the head, already read */
		c->slot = f->slot;
		f->slot = -1;
		c->data = ing_slot_ptr(r, c->slot);
		c->len = ING_HEAD;
		ing_stream_push(r, d->s, c);
	}
	d->off = ING_HEAD;
	d->state = RD_OPENING;
	d->fslot = slot_take(x);
	{
		struct io_uring_sqe *sqe = sqe_get(x);

		io_uring_prep_openat_direct(sqe, ing_file_dirfd(f),
					    ing_file_rel(f), open_flags(x, f), 0,
					    (unsigned)d->fslot);
		set_data(sqe, d, OP_OPEN);
		x->ops++;
	}
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
			stream_fill(x, d);
			break;
		case RD_WANT_STAT:
			submit_statx(x, d);
			break;
		case RD_WANT_CLOSE:
			submit_close(x, d);
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
			rd_free(x, d);
			return;
		}
		if (!S_ISREG(d->stx.stx_mode)) {
			ing_file_fail(r, f, -EINVAL,
				      "'%s' is no longer a regular file",
				      f->path);
			rd_free(x, d);
			return;
		}
		d->size = d->stx.stx_size;
		if (d->size < ING_HEAD) {
			changed(r, f, d->size, ING_HEAD);
			rd_free(x, d);
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
			rd_free(x, d);
			return;
		}
		stream_fill(x, d);
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
		rd_free(x, d);
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
	rd_free(x, d);
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
			on_chunk_cqe(x, p, cqe->res);
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
				rd_free(&x, d);
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
