/*
 * profile.h - the learned warm-up order: which blocks of a checkpoint its readers asked for first,
 * in the order they asked, kept in a small file between engines (tfs_engine_opts.profile_path).
 *
 * An engine records the first demand read of every shard block (tfs_profile_note); at close the
 * order is written to the profile file (whole, by rename). The next engine on the same, unchanged
 * checkpoint loads it, and the eager warm-up reads those blocks first, in that order, so a consumer
 * that reads in its execution order finds its next tensor already in the cache.
 *
 * File format (text, one record a line):
 *   tensorfs-profile 1 BLOCK_SIZE N_FILES
 *   F SIZE MTIME_NS REL          one per catalog file, in catalog order (the identity check)
 *   R FILE FIRST COUNT           a run of COUNT blocks FIRST.. of file FILE, in first-read order
 * A profile whose header, block size or files differ from the engine's is ignored (and replaced at
 * close); a malformed one too. Loading never fails the engine.
 *
 * Locking: `lock` guards the recorded runs; the seen-bitmap is atomic words; the loaded order and
 * planned-bitmap are immutable after open.
 * Ownership: tfs_profile_open hands the engine one profile, released by tfs_profile_close.
 */
#ifndef TFS_PROFILE_H
#define TFS_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "tensorfs.h"

struct tfs_profile;

struct tfs_profile_run {
	uint32_t file;
	uint64_t first, count;
};

/* Opens a recorder for `files` in blocks of `bs`, loading `path` when it holds a matching order.
 * path NULL: records nothing, loads nothing. 0, or -ENOMEM (message in err). */
int tfs_profile_open(const char *path, const struct tfs_file *const *files, size_t n_files,
		     uint64_t bs, struct tfs_profile **out, struct tfs_error *err);

/* Blocks in the loaded order (loaded = 1) or recorded so far (0). */
uint64_t tfs_profile_blocks(struct tfs_profile *p, int loaded);

/* Keeps the file as it is at close (this engine's readers were not the ones it describes). */
void tfs_profile_discard(struct tfs_profile *p);

/* Writes the recorded order to the path (if anything was read and not discarded) and frees.
 * Accepts NULL. */
void tfs_profile_close(struct tfs_profile *p);

/* Records a demand read of blocks [first, end) of `file` (only the first read of a block counts).
 * Thread-safe; a few atomic loads when the blocks were seen before. */
void tfs_profile_note(struct tfs_profile *p, uint32_t file, uint64_t first, uint64_t end);

/* The loaded order (runs[0..n)), empty when none was loaded. Immutable until close. */
size_t tfs_profile_order(const struct tfs_profile *p, const struct tfs_profile_run **runs);

/* 1 when block `index` of `file` is among the first n blocks of the loaded order. */
int tfs_profile_head(const struct tfs_profile *p, uint32_t file, uint64_t index, uint64_t n);

/* 1 when block `index` of `file` is in the loaded order. */
int tfs_profile_planned(const struct tfs_profile *p, uint32_t file, uint64_t index);

/* "off", "none yet (PATH)", "loaded N blocks (PATH)" or "ignored: why (PATH)"; stable until close. */
const char *tfs_profile_status(const struct tfs_profile *p);

#endif
