/*
 * list.h - the one intrusive doubly linked list of tensorfs (LRU order, reader queues, open
 * handles). The links live inside the element, so linking and unlinking never allocate and cannot
 * fail. A list is a circular ring through a head node; an unlinked node points at itself.
 * Locking is the owner's: every list names the lock that guards it beside its head.
 */
#ifndef TFS_LIST_H
#define TFS_LIST_H

#include <stddef.h>

struct tfs_list {
	struct tfs_list *prev, *next;
};

/* The element that holds link `ptr` (a struct tfs_list * inside `type` at `member`). */
#define tfs_list_entry(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* An empty head, or an unlinked node. */
static inline void tfs_list_init(struct tfs_list *l)
{
	l->prev = l->next = l;
}

static inline int tfs_list_empty(const struct tfs_list *head)
{
	return head->next == head;
}

/* 1 while n is on some list (it was initialised and added, not removed since). */
static inline int tfs_list_linked(const struct tfs_list *n)
{
	return n->next != n;
}

static inline void tfs_list_insert_(struct tfs_list *n, struct tfs_list *prev, struct tfs_list *next)
{
	n->prev = prev;
	n->next = next;
	prev->next = n;
	next->prev = n;
}

/* Adds n at the front (most recent end) / at the back of the list. */
static inline void tfs_list_push_front(struct tfs_list *head, struct tfs_list *n)
{
	tfs_list_insert_(n, head, head->next);
}

static inline void tfs_list_push_back(struct tfs_list *head, struct tfs_list *n)
{
	tfs_list_insert_(n, head->prev, head);
}

/* Unlinks n and leaves it unlinked (safe to remove twice). */
static inline void tfs_list_remove(struct tfs_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	tfs_list_init(n);
}

/* First / last node, or NULL when empty. */
static inline struct tfs_list *tfs_list_first(const struct tfs_list *head)
{
	return head->next == head ? NULL : head->next;
}

static inline struct tfs_list *tfs_list_last(const struct tfs_list *head)
{
	return head->prev == head ? NULL : head->prev;
}

#endif
