/*
 * stream.c - readahead: one access pattern per open file handle (struct tfs_stream).
 *
 * Data flow: tfs_engine_read() tells the stream each range it reads; the stream answers which
 * blocks to prefetch, and the engine queues them in the reader pool at background priority.
 *
 * Heuristic (in the spirit of Linux readahead, but on cache blocks):
 *  - A read is sequential when it starts in the block where the previous read on the stream ended,
 *    or in the next one. A stream's first read is judged against the previous read of the same
 *    file through any stream (engine->seq_end), so `cat a b c` or a loader opening each tensor in
 *    shard order keeps one sequential pattern across handles. Anything else is random: the window
 *    closes and nothing is prefetched.
 *  - Prefetch targets [end of this read, end + window), clamped to the file. A stream told its
 *    extent (tfs_stream_set_extent: the one tensor a FUSE handle reads) is also clamped to that
 *    extent, unless its first read was sequential with the previous read of the file (same or
 *    next block): then the reader is walking the shard in file order and the window runs on into
 *    the next tensors. So a loader
 *    reading 1 tensor in 10 prefetches nothing it will not read, and `cat` in shard order streams.
 *  - Fills stay inside a bound too (bound_locked): a tensor file's extent, or for a checkpoint
 *    file the tensors the read touches, until its reader walks on past them in file order. A
 *    block shared with a neighbour is then read only in part (cache.h: windows).
 *  - It is issued asynchronously when less than half a window is left ahead of the reader; the
 *    window starts at engine->ra_init and doubles per trigger up to engine->ra_max (see engine.c
 *    for the per-strategy values).
 */
#include <stdlib.h>

#include "engine/engine.h"
#include "minmax.h"

struct tfs_stream {
	struct tfs_engine *e;
	pthread_mutex_t lock;      /* FUSE may run reads of one handle concurrently */
	int have;                  /* s->lock: a previous read exists */
	uint32_t file;             /* s->lock */
	uint64_t last_end;         /* s->lock: end of the previous read */
	uint64_t ra_end;           /* s->lock: prefetch issued up to here (block-aligned or EOF) */
	uint64_t window;           /* s->lock: 0 while not sequential */
	uint32_t ext_file;         /* s->lock: the extent set by tfs_stream_set_extent, if ext_end */
	uint64_t ext_start, ext_end;
	int crossing;              /* s->lock: began where the file's last read ended: may run past
				    * ext_end */
	uint64_t run_lo, run_hi;   /* s->lock: the current run of sequential reads began at run_lo;
				    * its anchor region ends at run_hi, the next region at
				    * run_next_hi (bound_locked; all 0: a walker) */
	uint64_t run_next_hi;
	uint64_t b_lo, b_hi;       /* s->lock: the fill bound of the last read (bound_locked) */
};

void tfs_stream_set_extent(struct tfs_stream *s, uint32_t file, uint64_t start, uint64_t end)
{
	pthread_mutex_lock(&s->lock);
	s->ext_file = file;
	s->ext_start = start;
	s->ext_end = end;
	pthread_mutex_unlock(&s->lock);
}

struct tfs_stream *tfs_stream_open(struct tfs_engine *e)
{
	struct tfs_stream *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->e = e;
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

void tfs_stream_close(struct tfs_stream *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/*
 * The region [*lo, *hi) anchoring a new run that begins with the read [off, end) of a checkpoint
 * file (no extent). A reader that faults at a tensor's start (an mmap consumer copying tensors
 * out in its own order) gets the kernel's read-around of that page: page-cache requests (whole
 * pages) that end at the page, and one that begins with it, in either order. So for such a
 * request a region starting in its first page, or else in the page after it, anchors the run
 * (returns 1); otherwise the region holding the read's middle does (returns 0).
 */
static int run_anchor(const struct tfs_engine *e, uint32_t file, uint64_t off, uint64_t end,
		      uint64_t *lo, uint64_t *hi)
{
	uint64_t size = e->files[file]->size;

	/* The region holding a page's last byte is the last one starting in that page, if any. */
	if (off % 4096 == 0 && (end % 4096 == 0 || end == size)) {
		tfs_engine_region(e, file, tfs_min_u64(off + 4095, size - 1), lo, hi);
		if (*lo >= off)
			return 1;
		if (end < size) {
			tfs_engine_region(e, file, tfs_min_u64(end + 4095, size - 1), lo, hi);
			if (*lo >= end)
				return 1;
		}
	}
	tfs_engine_region(e, file, off + (end - off) / 2, lo, hi);
	return 0;
}

/*
 * The fill bound of the read [off, end) of `file`, into s->b_lo, s->b_hi; requires s->lock. With
 * an extent and not crossing: the extent. Without one (a checkpoint file read or mmapped through
 * the mount), a reader that jumps from tensor to tensor reads each in a run of its own, which
 * the kernel's readahead around the first page fault may start a little before the tensor and
 * carry a little past its end. So a run has an "anchor" region (run_anchor): fills reach from
 * where the run began to the anchor's end; past it, only what a read asks for; and a run that
 * went on past the region after the anchor is a reader walking the file (cat), whose fills and
 * readahead take whole blocks. Returns 1 when a new run begins at its anchor's start (the reader
 * is about to read that tensor from its start: tfs_stream_note opens the readahead window, as for
 * a tensor file's first read).
 */
static int bound_locked(struct tfs_stream *s, uint32_t file, uint64_t off, uint64_t end,
			int new_run)
{
	uint64_t lo, size = s->e->files[file]->size;
	int at_start = 0;

	if (s->ext_end && s->ext_file == file && !s->crossing) {
		s->b_lo = s->ext_start;
		s->b_hi = s->ext_end;
		return 0;
	}
	s->b_lo = 0;
	s->b_hi = UINT64_MAX;
	if (s->ext_end || end <= off)
		return 0;
	if (new_run) {
		s->run_lo = off & ~4095ull;
		at_start = run_anchor(s->e, file, off, end, &lo, &s->run_hi);
		s->run_next_hi = s->run_hi;
		if (s->run_hi < size)
			tfs_engine_region(s->e, file, s->run_hi, &lo, &s->run_next_hi);
	}
	if (end <= s->run_hi) {
		s->b_lo = s->run_lo;
		s->b_hi = s->run_hi;
	} else if (off < s->run_next_hi) {
		s->b_lo = off & ~4095ull;
		s->b_hi = end;
	}
	return at_start;
}

void tfs_stream_fill_bound(struct tfs_stream *s, uint32_t file, uint64_t *lo, uint64_t *hi)
{
	pthread_mutex_lock(&s->lock);
	*lo = s->have && s->file == file ? s->b_lo : 0;
	*hi = s->have && s->file == file ? s->b_hi : UINT64_MAX;
	pthread_mutex_unlock(&s->lock);
}

int tfs_stream_note(struct tfs_stream *s, uint32_t file, uint64_t off, uint64_t end,
		    uint64_t *first, uint64_t *last)
{
	struct tfs_engine *e = s->e;
	uint64_t bs = e->bs, size = e->files[file]->size, prev;
	int same = 0, seq, was_first, at_start;

	*first = *last = 0;
	pthread_mutex_lock(&s->lock);
	was_first = !s->have;
	if (s->have && s->file == file) {
		prev = s->last_end;
		same = 1;
	} else {
		prev = atomic_load(&e->seq_end[file]);
	}
	seq = prev != 0 && (off / bs == prev / bs || off / bs == prev / bs + 1);
	if (!s->have) /* judged like any sequential read: requests may land slightly out of order */
		s->crossing = !same && seq;
	if (seq && !s->have) /* continues another stream's run: a walker */
		s->run_lo = s->run_hi = s->run_next_hi = 0;
	at_start = bound_locked(s, file, off, end, !seq);
	if (size > s->b_hi)
		size = s->b_hi; /* prefetch stays inside the bound too */
	/* A tensor file's reader starts at its start and reads it all: readahead from there on;
	 * the same for a run of a checkpoint file that begins at a tensor's start. */
	if (was_first && s->ext_end && s->ext_file == file && off == s->ext_start)
		at_start = 1;
	if ((!seq && !at_start) || !e->ra_max) {
		s->window = 0;
		s->ra_end = 0;
	} else {
		if (!same || s->window == 0 || !seq) { /* a new run */
			s->window = e->ra_init;
			s->ra_end = 0;
		}
		if (s->ra_end < end)
			s->ra_end = end;
		if (s->ra_end < size && s->ra_end - end < s->window / 2 + 1) {
			uint64_t to = tfs_min_u64(end + s->window, size);
			to = tfs_min_u64((to + bs - 1) / bs * bs, size);
			*first = (s->ra_end + bs - 1) / bs; /* the block holding `end` is read by demand */
			*last = (to + bs - 1) / bs;
			s->ra_end = to;
			s->window = tfs_min_u64(s->window * 2, e->ra_max);
		}
	}
	s->have = 1;
	s->file = file;
	s->last_end = end;
	pthread_mutex_unlock(&s->lock);
	atomic_store(&e->seq_end[file], end);
	return (seq ? TFS_NOTE_SEQ : 0) | (was_first ? TFS_NOTE_FIRST : 0);
}
