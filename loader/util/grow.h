/*
 * grow.h - the one growth rule for every dynamic array in tensorfs: capacity doubles (starting at
 * `first`), so n appends cost O(n) copies in all, and the byte count is checked for overflow.
 */
#ifndef TFS_GROW_H
#define TFS_GROW_H

#include <stddef.h>

/*
 * Makes the array *arr (elements of `elem` bytes, *cap of them allocated) hold at least `need`
 * elements. Returns 0, or -ENOMEM (also on overflow) with *arr and *cap unchanged: the caller's
 * array stays valid either way. `arr` is the address of the caller's pointer (void ** by intent).
 */
int tfs_grow(void *arr, size_t *cap, size_t need, size_t elem, size_t first);

/*
 * Appends `line` and a newline to the NUL-terminated text *text (*len bytes before the NUL, *cap
 * allocated; all zero/NULL for an empty text). 0, or -ENOMEM with the text unchanged.
 */
int tfs_text_add_line(char **text, size_t *len, size_t *cap, const char *line);

/* tfs_grow for an array whose pointer and capacity are named fields: TFS_GROW(r, items, cap, n+1). */
#define TFS_GROW(obj, field, capfield, need, first)                                                \
	tfs_grow(&(obj)->field, &(obj)->capfield, (need), sizeof(*(obj)->field), (first))

#endif
