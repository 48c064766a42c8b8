/* SPDX-License-Identifier: MIT */
/*
 * The one intrusive list of the runtime: doubly linked, NULL-terminated
 * at both ends, with a head that holds the first and the last node.
 *
 * Contract:
 *  - Intrusive: a record that can be on a list embeds a struct list_node
 *    and is found from it with list_entry(). The list allocates nothing
 *    and owns nothing; a node's record must outlive its time on the list.
 *  - All zero is an empty list and an unlinked node, so a list in
 *    static, calloc'd or memset storage needs no list_init(). Nodes do
 *    not point at the head, so a head may be copied or moved (realloc)
 *    while its nodes stay put.
 *  - O(1): push at either end, pop the first, remove any node given the
 *    list it is on. Nothing counts the nodes.
 *  - A node is on at most one list at a time, through one list_node;
 *    list_remove() of a node that is not on @l, or a push of a node that
 *    is on a list, corrupts both. Removal clears the node's links, but a
 *    lone node has NULL links too: a caller that must know whether its
 *    node is linked keeps that itself.
 *  - Not thread safe: whoever changes or walks a list holds the lock
 *    that guards it (or is its only user), as the list's owner says.
 *
 * What is not a list here: the singly linked LIFO caches (free fiber
 * records through fiber.free_next, free stacks through stack.next, the
 * depot's magazines), the cancel inbox (a lock-free stack, pushed by CAS)
 * and the inject queue (a FIFO that a full run queue overflows into, a
 * half at a time, as one chain). None ever takes a node from the middle,
 * some run without a lock, and a list_node there would cost a second
 * pointer a record for nothing.
 */
#ifndef WEFT_LIST_H
#define WEFT_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

struct list_node {
	struct list_node *next;	/* towards the last; NULL at the end    */
	struct list_node *prev;	/* towards the first; NULL at the start */
};

struct list {
	struct list_node *first;	/* NULL when empty */
	struct list_node *last;		/* NULL when empty */
};

/* The record of type @type whose member @member is the node @node. */
#define list_entry(node, type, member) container_of(node, type, member)

/* Each node of @l, first to last. @pos must not be removed meanwhile. */
#define list_for_each(pos, l)                                              \
	for ((pos) = (l)->first; (pos); (pos) = (pos)->next)

/* Each node of @l, first to last; @pos may be removed (or its record
 * freed) in the body: @tmp holds the next one. */
#define list_for_each_safe(pos, tmp, l)                                    \
	for ((pos) = (l)->first; (pos) && ((tmp) = (pos)->next, 1);        \
	     (pos) = (tmp))

static inline void list_init(struct list *l)
{
	l->first = l->last = NULL;
}

static inline bool list_empty(const struct list *l)
{
	return l->first == NULL;
}

static inline void list_push_back(struct list *l, struct list_node *n)
{
	n->next = NULL;
	n->prev = l->last;
	if (l->last)
		l->last->next = n;
	else
		l->first = n;
	l->last = n;
}

static inline void list_push_front(struct list *l, struct list_node *n)
{
	n->prev = NULL;
	n->next = l->first;
	if (l->first)
		l->first->prev = n;
	else
		l->last = n;
	l->first = n;
}

/* Take @n, which is on @l, off it; its links are cleared. */
static inline void list_remove(struct list *l, struct list_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		l->first = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		l->last = n->prev;
	n->next = n->prev = NULL;
}

/* Take the first node off @l and return it, or NULL if @l is empty. */
static inline struct list_node *list_pop_front(struct list *l)
{
	struct list_node *n = l->first;

	if (n)
		list_remove(l, n);
	return n;
}

#endif /* WEFT_LIST_H */
