/* uring/ring_int.h - the io_uring reader's state, shared by ring.c (the
 * ring, head chains, medium files, the loop) and ring_stream.c (files
 * read in chunks). Only the reader thread touches any of it. */
#ifndef UDOS_RING_INT_H
#define UDOS_RING_INT_H

#include "ingest_int.h"

#include <fcntl.h>
#include <liburing.h>
#include <sys/stat.h>

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

static inline int open_flags(const struct rr *x, const struct ing_file *f)
{
	return (int)(f->follow ? x->open_flags & ~(unsigned)O_NOFOLLOW
			       : x->open_flags);
}

/* Callers have made sure of the room with need() or sq_room(). */
static inline struct io_uring_sqe *sqe_get(struct rr *x)
{
	return io_uring_get_sqe(&x->ring);
}

static inline void set_data(struct io_uring_sqe *sqe, void *p, unsigned op)
{
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)p | op);
}

/* Room for n more SQEs without submitting in between. */
static inline bool sq_room(struct rr *x, unsigned n)
{
	return io_uring_sq_space_left(&x->ring) >= n;
}

/* n SQEs (submitting what is queued to make room) and, with slot, a free
 * fixed-file slot. false: the caller parks and retries later. */
static inline bool need(struct rr *x, unsigned n, bool slot)
{
	if (slot && !x->n_ffree)
		return false;
	if (!sq_room(x, n))
		io_uring_submit(&x->ring);
	return sq_room(x, n);
}

static inline int slot_take(struct rr *x)
{
	return x->ffree[--x->n_ffree];
}

static inline void slot_give(struct rr *x, int fslot)
{
	x->ffree[x->n_ffree++] = fslot;
}

static inline void park(struct rr *x, struct rd *d)
{
	d->next = x->parked;
	x->parked = d;
}

void ring_rd_free(struct rr *x, struct rd *d);
void ring_submit_close(struct rr *x, struct rd *d);

/* ring_stream.c: after statx said "stream" and a stream permit, a fixed
 * slot and the SQE were taken: open the file again and read chunks */
void ring_stream_start(struct rr *x, struct rd *d);
void ring_stream_fill(struct rr *x, struct rd *d);
void ring_on_chunk_cqe(struct rr *x, struct ing_chunk *c, int res);

#endif
