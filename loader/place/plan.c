/*
 * plan.c - the first half of tfs_load (load.c runs the second): which tensors go where, checks of
 * the options and of the GPUs a selection names, the memory they go to (arenas, in result.c), and
 * the chunks the pipeline moves (docs/DESIGN.md, the "device" box).
 *
 * Chunks: the loaded tensors, in disk order, cut into contiguous runs of one file going to one
 * device, each at most one staging buffer long. Neighbouring small tensors share a chunk (one read,
 * one slot, several copies); a big tensor spans several chunks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "place/place.h"
#include "error.h"
#include "grow.h"

#define DEFAULT_THREADS 4u
#define DEFAULT_SLOTS 8u
#define DEFAULT_SLOT_BYTES (8ull << 20)
#define DEFAULT_STREAMS 4u

void tfs_load_opts_init(struct tfs_load_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->device.type = TFS_DEVICE_CPU;
}

int tfs_plan_opts(struct tfs_load_opts *o, struct tfs_error *err)
{
	if (o->device.type != TFS_DEVICE_CPU && o->device.type != TFS_DEVICE_CUDA)
		return tfs_error_set(err, -EINVAL, "load: the default device must be cpu or cuda:N");
	if (o->device.index < 0)
		return tfs_error_set(err, -EINVAL, "load: negative GPU index %d", o->device.index);
	if (!o->threads)
		o->threads = DEFAULT_THREADS;
	if (!o->staging_buffers)
		o->staging_buffers = DEFAULT_SLOTS;
	if (!o->staging_bytes)
		o->staging_bytes = DEFAULT_SLOT_BYTES;
	if (!o->streams)
		o->streams = DEFAULT_STREAMS;
	if (o->threads > 256)
		return tfs_error_set(err, -EINVAL, "load: threads %u: at most 256", o->threads);
	if (o->staging_buffers < 2 || o->staging_buffers > 1024)
		return tfs_error_set(err, -EINVAL, "load: staging buffers %u: need 2..1024",
				     o->staging_buffers);
	if (o->staging_bytes < 4096 || o->staging_bytes > (1ull << 32))
		return tfs_error_set(err, -EINVAL, "load: staging buffer size %" PRIu64
				     ": need 4 KiB..4 GiB", o->staging_bytes);
	if (o->streams > 64)
		return tfs_error_set(err, -EINVAL, "load: streams %u: at most 64", o->streams);
	return 0;
}

/*
 * Every GPU the load could touch must exist: the default device without a map, every map entry
 * with one (a map naming a missing GPU is wrong even if this checkpoint leaves that entry unused).
 * Sets *ngpu to the device count (0 when no GPU is involved).
 */
int tfs_plan_gpus(const struct tfs_selection *sel, const struct tfs_load_opts *o, int *ngpu,
		  struct tfs_error *err)
{
	int has_map = tfs_selection_has_map(sel), need = 0, count;
	size_t n_map = tfs_selection_map_count(sel);
	const char *key;
	struct tfs_device d;
	const struct tfs_backend *be;
	struct tfs_error e2;
	char why[256], name[32];

	*ngpu = 0;
	if (!has_map)
		need = o->device.type == TFS_DEVICE_CUDA;
	for (size_t i = 0; has_map && i < n_map; i++) {
		tfs_selection_map_entry(sel, i, &key, &d);
		need |= d.type == TFS_DEVICE_CUDA;
	}
	if (!need)
		return 0;
	/* The first CUDA use in the process: this loads the plugin and the CUDA runtime. */
	count = tfs_backend_get(TFS_DEVICE_CUDA, &be, &e2);
	if (count < 0)
		snprintf(why, sizeof(why), "%.255s", e2.msg);
	else
		count = be->count(why, sizeof(why));
	if (count >= 0)
		snprintf(why, sizeof(why), "no such GPU (%d CUDA device%s present)", count,
			 count == 1 ? "" : "s");
	if (!has_map && (count < 0 || o->device.index >= count))
		return tfs_error_set(err, -ENODEV, "%s: %s",
				     tfs_device_name(o->device, name, sizeof(name)), why);
	for (size_t i = 0; has_map && i < n_map; i++) {
		tfs_selection_map_entry(sel, i, &key, &d);
		if (d.type == TFS_DEVICE_CUDA && (count < 0 || d.index >= count))
			return tfs_error_set(err, -ENODEV, "%s: \"%s\": %s: %s",
					     tfs_selection_map_origin(sel), key,
					     tfs_device_name(d, name, sizeof(name)), why);
	}
	*ngpu = count;
	return 0;
}

/* Device slot in per-device tables: cpu first, then cuda:0..ngpu-1. */
static size_t dev_slot(struct tfs_device d)
{
	return d.type == TFS_DEVICE_CPU ? 0 : 1 + (size_t)d.index;
}

static uint64_t align_up(uint64_t v)
{
	return (v + TFS_ARENA_ALIGN - 1) & ~(uint64_t)(TFS_ARENA_ALIGN - 1);
}

/*
 * Allocates the memory and fills r->items in catalog order. `place` holds each catalog tensor's
 * device (type DISK: not loaded). Also fills the per-device totals of the report.
 */
int tfs_plan_alloc(const struct tfs_catalog *cat, const struct tfs_device *place, int ngpu,
		   int per_tensor, struct tfs_load_result *r, struct tfs_error *err)
{
	size_t n = tfs_catalog_tensor_count(cat), n_dev = 1 + (size_t)ngpu, k = 0;
	struct tfs_arena **arena = calloc(n_dev, sizeof(*arena));
	uint64_t *size = calloc(n_dev, sizeof(*size)), *used = calloc(n_dev, sizeof(*used));
	struct tfs_load_device_total *tot = calloc(n_dev, sizeof(*tot));
	int rc = 0;

	if (!arena || !size || !used || !tot) {
		rc = tfs_error_set(err, -ENOMEM, "load: out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct tfs_tensor *t = tfs_catalog_tensor(cat, i);
		size_t s;

		if (place[i].type == TFS_DEVICE_DISK) {
			r->report.skipped++;
			continue;
		}
		s = dev_slot(place[i]);
		size[s] += align_up(t->length);
		tot[s].device = place[i];
		tot[s].tensors++;
		tot[s].bytes += t->length;
		r->report.tensors++;
		r->report.bytes += t->length;
	}
	/* One arena per device: one cudaMalloc instead of thousands, and no allocator in the way. */
	for (size_t s = 0; s < n_dev && !per_tensor; s++) {
		if (!tot[s].tensors)
			continue;
		rc = tfs_arena_new(tot[s].device, size[s], &arena[s], err);
		if (rc == 0)
			rc = tfs_result_add_arena(r, arena[s], err);
		if (rc < 0)
			goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct tfs_tensor *t = tfs_catalog_tensor(cat, i);
		struct tfs_arena *a;
		size_t s = dev_slot(place[i]);

		if (place[i].type == TFS_DEVICE_DISK)
			continue;
		if (per_tensor) {
			rc = tfs_arena_new(place[i], t->length, &a, err);
			if (rc == 0)
				rc = tfs_result_add_arena(r, a, err);
			if (rc == 0)
				rc = tfs_result_add(r, t, a, 0, err);
		} else {
			rc = tfs_result_add(r, t, arena[s], used[s], err);
			used[s] += align_up(t->length);
		}
		if (rc < 0)
			goto out;
	}
	for (size_t s = 0; s < n_dev; s++)
		if (tot[s].tensors)
			tot[k++] = tot[s];
	r->devices = tot;
	r->report.devices = tot;
	r->report.n_devices = k;
	tot = NULL;
out:
	free(arena);
	free(size);
	free(used);
	free(tot);
	return rc;
}

/* Cuts the loaded tensors (disk order) into chunks of at most slot_bytes; see the file comment. */
int tfs_plan_chunks(const struct tfs_load_result *r, uint64_t slot_bytes, struct tfs_plan *pl,
		    struct tfs_error *err)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct tfs_loaded *it = &r->items[i];
		uint64_t done = 0;

		while (done < it->length) {
			struct tfs_chunk *c = pl->n_chunks ? &pl->chunks[pl->n_chunks - 1] : NULL;
			uint64_t take;

			if (!c || c->file != it->file || c->off + c->len != it->offset + done ||
			    c->dev.type != it->device.type || c->dev.index != it->device.index ||
			    c->len == slot_bytes) {
				if (TFS_GROW(pl, chunks, cap_chunks, pl->n_chunks + 1, 64) < 0)
					goto oom;
				c = &pl->chunks[pl->n_chunks++];
				*c = (struct tfs_chunk){ .file = it->file, .off = it->offset + done,
						     .dev = it->device, .op_begin = pl->n_ops,
						     .op_end = pl->n_ops };
			}
			if (TFS_GROW(pl, ops, cap_ops, pl->n_ops + 1, 64) < 0)
				goto oom;
			take = it->length - done;
			if (take > slot_bytes - c->len)
				take = slot_bytes - c->len;
			pl->ops[pl->n_ops++] = (struct tfs_plan_op){ c->len, (char *)it->data + done, take };
			c->len += take;
			c->op_end = pl->n_ops;
			if (c->op_end - c->op_begin > pl->max_ops)
				pl->max_ops = c->op_end - c->op_begin;
			done += take;
			if (c->len > pl->max_chunk)
				pl->max_chunk = c->len;
		}
	}
	return 0;
oom:
	return tfs_error_set(err, -ENOMEM, "load: out of memory");
}

void tfs_plan_free(struct tfs_plan *pl)
{
	free(pl->chunks);
	free(pl->ops);
	memset(pl, 0, sizeof(*pl));
}
