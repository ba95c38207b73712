/*
 * result.c - what a load leaves behind: arenas of tensor memory, the result that lists the loaded
 * tensors, their DLPack views, and the report (the "device" box of docs/DESIGN.md).
 *
 * Ownership is reference counting on arenas: the result holds each arena once and every live
 * DLManagedTensor holds its arena once, so a tensor handed to torch outlives the result (and the
 * engine and catalog), and an arena is freed exactly when nothing can reach it any more. The
 * pipeline that fills the memory is in load.c; tfs_load_verify, which checks it, is here.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "place/place.h"
#include "error.h"
#include "grow.h"
#include "fmt.h"

const char *tfs_device_name(struct tfs_device d, char *buf, size_t cap)
{
	switch (d.type) {
	case TFS_DEVICE_CPU:
		snprintf(buf, cap, "cpu");
		break;
	case TFS_DEVICE_CUDA:
		snprintf(buf, cap, "cuda:%d", d.index);
		break;
	default:
		snprintf(buf, cap, "disk");
		break;
	}
	return buf;
}

int tfs_cuda_device_count(struct tfs_error *err)
{
	const struct tfs_backend *be;
	struct tfs_error why;
	int n = tfs_backend_get(TFS_DEVICE_CUDA, &be, &why);

	if (n < 0)
		return tfs_error_set(err, n, "cuda: %.400s", why.msg);
	n = be->count(why.msg, sizeof(why.msg));
	if (n < 0)
		return tfs_error_set(err, n, "cuda: %.400s", why.msg);
	return n;
}

/* ---- arenas -------------------------------------------------------------------------------------- */

int tfs_arena_new(struct tfs_device dev, uint64_t size, struct tfs_arena **out,
		  struct tfs_error *err)
{
	struct tfs_arena *a = calloc(1, sizeof(*a));
	char name[32];
	int rc;

	if (!a)
		return tfs_error_set(err, -ENOMEM, "load: out of memory");
	if (size < TFS_ARENA_ALIGN)
		size = TFS_ARENA_ALIGN;
	a->dev = dev;
	a->size = size;
	atomic_init(&a->refs, 1);
	if (dev.type != TFS_DEVICE_CPU && dev.type != TFS_DEVICE_CUDA) {
		rc = tfs_error_set(err, -EINVAL, "%s: not a memory device",
				   tfs_device_name(dev, name, sizeof(name)));
	} else {
		struct tfs_error why;

		rc = tfs_backend_get(dev.type, &a->be, &why);
		if (rc < 0)
			tfs_error_set(err, rc, "%s: %.400s", tfs_device_name(dev, name, sizeof(name)),
				      why.msg);
		else
			rc = a->be->alloc(dev.index, size, &a->base, err);
	}
	if (rc < 0) {
		free(a);
		return rc;
	}
	*out = a;
	return 0;
}

void tfs_arena_unref(struct tfs_arena *a)
{
	if (!a || atomic_fetch_sub(&a->refs, 1) != 1)
		return;
	a->be->free(a->dev.index, a->base);
	free(a);
}

/* ---- DLPack ---------------------------------------------------------------------------------------- */

/* A DLManagedTensor with what it points to, in one allocation freed by its deleter. */
struct tfs_dl {
	DLManagedTensor m;
	struct tfs_arena *arena;
	int64_t dims[];             /* shape[ndim] then strides[ndim] */
};

static void tfs_dl_deleter(DLManagedTensor *self)
{
	struct tfs_dl *d = (struct tfs_dl *)self;

	tfs_arena_unref(d->arena);
	free(d);
}

/* safetensors dtype -> DLPack v1.0 dtype (the table is documented in include/tensorfs.h). */
static DLDataType dl_dtype(enum tfs_dtype dt)
{
	DLDataType t = { kDLUInt, (uint8_t)tfs_dtype_bits(dt), 1 };

	switch (dt) {
	case TFS_DTYPE_BOOL: t.code = kDLBool; break;
	case TFS_DTYPE_I8: case TFS_DTYPE_I16: case TFS_DTYPE_I32: case TFS_DTYPE_I64:
		t.code = kDLInt;
		break;
	case TFS_DTYPE_F16: case TFS_DTYPE_F32: case TFS_DTYPE_F64: t.code = kDLFloat; break;
	case TFS_DTYPE_BF16: t.code = kDLBfloat; break;
	case TFS_DTYPE_C64: t.code = kDLComplex; break;
	default: break;         /* unsigned ints, and the float8/6/4 codes v1.0 lacks */
	}
	return t;
}

static DLManagedTensor *dl_new(const struct tfs_loaded *it, struct tfs_arena *a)
{
	uint32_t be, bb, ndim = it->ndim;
	int block = tfs_dtype_block(it->dtype, &be, &bb);
	uint64_t blocks[2];
	const uint64_t *shape = it->shape;
	struct tfs_dl *d;
	int64_t stride = 1;

	if (block) {
		/* ggml blocks have no DLPack type: uint8 rows of one block each */
		blocks[0] = it->length / bb;
		blocks[1] = bb;
		shape = blocks;
		ndim = 2;
	}
	d = calloc(1, sizeof(*d) + 2 * (size_t)ndim * sizeof(int64_t));
	if (!d)
		return NULL;
	for (uint32_t k = ndim; k-- > 0;) {
		d->dims[k] = (int64_t)shape[k];
		d->dims[ndim + k] = stride;
		stride *= shape[k] ? (int64_t)shape[k] : 1;
	}
	d->m.dl_tensor.data = it->data;
	d->m.dl_tensor.device.device_type = (DLDeviceType)a->be->dl_device;
	d->m.dl_tensor.device.device_id = it->device.type == TFS_DEVICE_CUDA ? it->device.index : 0;
	d->m.dl_tensor.ndim = (int32_t)ndim;
	d->m.dl_tensor.dtype = block ? (DLDataType){ kDLUInt, 8, 1 } : dl_dtype(it->dtype);
	d->m.dl_tensor.shape = ndim ? d->dims : NULL;
	d->m.dl_tensor.strides = ndim ? d->dims + ndim : NULL;
	d->m.dl_tensor.byte_offset = 0;
	d->m.manager_ctx = d;
	d->m.deleter = tfs_dl_deleter;
	d->arena = a;
	atomic_fetch_add(&a->refs, 1);
	return &d->m;
}

/* ---- the result -------------------------------------------------------------------------------- */

int tfs_result_new(struct tfs_load_result **out, struct tfs_error *err)
{
	struct tfs_load_result *r = calloc(1, sizeof(*r));

	if (!r)
		return tfs_error_set(err, -ENOMEM, "load: out of memory");
	r->report.staging = "host";
	*out = r;
	return 0;
}

int tfs_result_add_arena(struct tfs_load_result *r, struct tfs_arena *a, struct tfs_error *err)
{
	if (TFS_GROW(r, arenas, cap_arenas, r->n_arenas + 1, 8) < 0) {
		tfs_arena_unref(a);
		return tfs_error_set(err, -ENOMEM, "load: out of memory");
	}
	r->arenas[r->n_arenas++] = a;
	return 0;
}

int tfs_result_add(struct tfs_load_result *r, const struct tfs_tensor *t, struct tfs_arena *a,
		   uint64_t off, struct tfs_error *err)
{
	struct tfs_loaded *it;
	uint64_t *shape = NULL;
	char *key = NULL;

	if (TFS_GROW(r, items, cap, r->n + 1, 64) < 0 || TFS_GROW(r, dl, cap_dl, r->n + 1, 64) < 0)
		return tfs_error_set(err, -ENOMEM, "load: out of memory");
	key = strdup(t->key);
	shape = malloc((t->ndim ? t->ndim : 1) * sizeof(*shape));
	if (!key || !shape)
		goto oom;
	memcpy(shape, t->shape, t->ndim * sizeof(*shape));
	it = &r->items[r->n];
	*it = (struct tfs_loaded){
		.key = key, .dtype = t->dtype, .ndim = t->ndim, .shape = shape, .device = a->dev,
		.data = (char *)a->base + off, .length = t->length, .file = t->file,
		.offset = t->offset,
	};
	r->dl[r->n] = dl_new(it, a);
	if (!r->dl[r->n])
		goto oom;
	r->n++;
	return 0;
oom:
	free(key);
	free(shape);
	return tfs_error_set(err, -ENOMEM, "load: out of memory");
}

size_t tfs_load_count(const struct tfs_load_result *r)
{
	return r ? r->n : 0;
}

const struct tfs_loaded *tfs_load_get(const struct tfs_load_result *r, size_t i)
{
	return r && i < r->n ? &r->items[i] : NULL;
}

ssize_t tfs_load_find(const struct tfs_load_result *r, const char *key)
{
	/* Linear: results are looked up by name rarely (tests, the CLI); callers iterate. */
	for (size_t i = 0; r && i < r->n; i++)
		if (strcmp(r->items[i].key, key) == 0)
			return (ssize_t)i;
	return -ENOENT;
}

const struct tfs_load_report *tfs_load_report(const struct tfs_load_result *r)
{
	return &r->report;
}

DLManagedTensor *tfs_load_take(struct tfs_load_result *r, size_t i)
{
	DLManagedTensor *m;

	if (!r || i >= r->n)
		return NULL;
	m = r->dl[i];
	r->dl[i] = NULL;
	return m;
}

void tfs_load_free(struct tfs_load_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		if (r->dl[i])
			r->dl[i]->deleter(r->dl[i]);
		free((char *)r->items[i].key);
		free((uint64_t *)r->items[i].shape);
	}
	for (size_t i = 0; i < r->n_arenas; i++)
		tfs_arena_unref(r->arenas[i]);
	free(r->items);
	free(r->dl);
	free(r->arenas);
	free(r->devices);
	free(r);
}

/* ---- the report ---------------------------------------------------------------------------------- */

void tfs_load_report_print(const struct tfs_load_report *rep, FILE *f)
{
	char b[32], s[32], dev[32];

	tfs_fmt_bytes(rep->bytes, b, sizeof(b));
	fprintf(f, "loaded %" PRIu64 " tensors, %s (%" PRIu64 " bytes) in %.3f s: %.2f GB/s"
		" (setup %.3f s)\n", rep->tensors, b, rep->bytes, rep->seconds, rep->gbps,
		rep->setup_seconds);
	for (size_t i = 0; i < rep->n_devices; i++) {
		tfs_fmt_bytes(rep->devices[i].bytes, b, sizeof(b));
		fprintf(f, "  %-8s %8" PRIu64 " tensors  %s\n",
			tfs_device_name(rep->devices[i].device, dev, sizeof(dev)),
			rep->devices[i].tensors, b);
	}
	if (rep->skipped)
		fprintf(f, "  not loaded: %" PRIu64 " tensors (unselected, unmapped or \"disk\")\n",
			rep->skipped);
	tfs_fmt_bytes(rep->bytes_from_disk, b, sizeof(b));
	fprintf(f, "  engine: %s from disk, %" PRIu64 " cache hits, %" PRIu64 " misses\n", b,
		rep->cache_hits, rep->cache_misses);
	tfs_fmt_bytes(rep->bytes_uncached, b, sizeof(b));
	tfs_fmt_bytes(rep->bytes_direct, s, sizeof(s));
	fprintf(f, "  read past the engine's cache (page cache or remote source): %s; copied straight\n"
		"  out of its cache blocks: %s; the rest through staging\n", b, s);
	tfs_fmt_bytes(rep->staging_bytes, s, sizeof(s));
	fprintf(f, "  pipeline: %u reader threads, %u x %s %s staging, %u streams per GPU\n",
		rep->threads, rep->staging_buffers, s, rep->staging ? rep->staging : "?",
		rep->streams);
}

int tfs_load_report_json(const struct tfs_load_report *rep, char *buf, size_t cap)
{
	size_t used = 0;
	char dev[32];
	int n;

#define PUT(...) do { \
		n = snprintf(buf + used, used < cap ? cap - used : 0, __VA_ARGS__); \
		if (n < 0) \
			return -ENOSPC; \
		used += (size_t)n; \
	} while (0)
	PUT("{\"tensors\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"skipped\": %" PRIu64
	    ", \"setup_seconds\": %.6f, \"seconds\": %.6f, \"gbps\": %.3f"
	    ", \"bytes_from_disk\": %" PRIu64 ", \"cache_hits\": %" PRIu64
	    ", \"cache_misses\": %" PRIu64 ", \"threads\": %u, \"staging_buffers\": %u"
	    ", \"staging_bytes\": %" PRIu64 ", \"staging\": \"%s\", \"streams\": %u"
	    ", \"bytes_direct\": %" PRIu64 ", \"bytes_uncached\": %" PRIu64 ", \"devices\": [",
	    rep->tensors, rep->bytes, rep->skipped, rep->setup_seconds, rep->seconds, rep->gbps,
	    rep->bytes_from_disk, rep->cache_hits, rep->cache_misses, rep->threads,
	    rep->staging_buffers, rep->staging_bytes, rep->staging ? rep->staging : "",
	    rep->streams, rep->bytes_direct, rep->bytes_uncached);
	for (size_t i = 0; i < rep->n_devices; i++)
		PUT("%s{\"device\": \"%s\", \"tensors\": %" PRIu64 ", \"bytes\": %" PRIu64 "}",
		    i ? ", " : "", tfs_device_name(rep->devices[i].device, dev, sizeof(dev)),
		    rep->devices[i].tensors, rep->devices[i].bytes);
	PUT("]}");
#undef PUT
	if (used >= cap)
		return -ENOSPC;
	return (int)used;
}

/* ---- verification -------------------------------------------------------------------------------- */

#define VERIFY_BUF (8u << 20)

/* XXH3 of `len` bytes at a loaded tensor's destination, copied back in pieces when on a GPU. */
static int hash_loaded(const struct tfs_loaded *it, void *buf, XXH3_state_t *st, uint64_t *out,
		       struct tfs_error *err)
{
	const struct tfs_backend *be;
	struct tfs_error why;
	char name[32];
	int rc = tfs_backend_get(it->device.type, &be, &why);

	if (rc < 0)
		return tfs_error_set(err, rc, "%s: %s: %.400s", it->key,
				     tfs_device_name(it->device, name, sizeof(name)), why.msg);
	XXH3_64bits_reset(st);
	if (it->device.type == TFS_DEVICE_CPU) {
		XXH3_64bits_update(st, it->data, it->length);
	} else {
		for (uint64_t off = 0; off < it->length; off += VERIFY_BUF) {
			uint64_t n = it->length - off < VERIFY_BUF ? it->length - off : VERIFY_BUF;
			rc = be->to_host(it->device.index, buf, (char *)it->data + off, n, err);
			if (rc < 0)
				return rc;
			XXH3_64bits_update(st, buf, n);
		}
	}
	*out = XXH3_64bits_digest(st);
	return 0;
}

int tfs_load_verify(struct tfs_engine *e, const struct tfs_load_result *r, struct tfs_error *err)
{
	XXH3_state_t *fs = XXH3_createState(), *ds = XXH3_createState();
	void *fbuf = NULL, *dbuf = NULL;
	char name[32];
	int rc = 0;

	if (!fs || !ds || tfs_backend_host()->host_alloc(VERIFY_BUF, &fbuf, err) < 0 ||
	    tfs_backend_host()->host_alloc(VERIFY_BUF, &dbuf, err) < 0) {
		rc = tfs_error_set(err, -ENOMEM, "verify: out of memory");
		goto out;
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct tfs_loaded *it = &r->items[i];
		uint64_t want, got = 0;

		XXH3_64bits_reset(fs);
		for (uint64_t off = 0; off < it->length; off += VERIFY_BUF) {
			uint64_t n = it->length - off < VERIFY_BUF ? it->length - off : VERIFY_BUF;
			ssize_t k = tfs_engine_read(e, NULL, it->file, it->offset + off, fbuf, n, err);

			if (k >= 0 && (uint64_t)k != n)
				k = tfs_error_set(err, -EIO, "%s: short read from the file", it->key);
			if (k < 0) {
				rc = (int)k;
				goto out;
			}
			XXH3_64bits_update(fs, fbuf, n);
		}
		want = XXH3_64bits_digest(fs);
		rc = hash_loaded(it, dbuf, ds, &got, err);
		if (rc < 0)
			goto out;
		if (got != want) {
			rc = tfs_error_set(err, -EIO, "%s: the copy on %s differs from the file "
					   "(xxh3 %016" PRIx64 ", file %016" PRIx64 ")", it->key,
					   tfs_device_name(it->device, name, sizeof(name)), got, want);
			goto out;
		}
	}
out:
	tfs_backend_host()->host_free(fbuf);
	tfs_backend_host()->host_free(dbuf);
	XXH3_freeState(fs);
	XXH3_freeState(ds);
	return rc;
}
