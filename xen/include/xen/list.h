/* Circular doubly linked lists with a sentinel head. */
#ifndef XEN_LIST_H
#define XEN_LIST_H

#include <xen/lib.h>

struct list_head { struct list_head *next, *prev; };

static inline void list_init(struct list_head *h) { h->next = h->prev = h; }
static inline bool list_empty(const struct list_head *h) { return h->next == h; }

static inline void list_add(struct list_head *n, struct list_head *h)
{
    n->next = h->next;
    n->prev = h;
    h->next->prev = n;
    h->next = n;
}

static inline void list_add_tail(struct list_head *n, struct list_head *h)
{
    list_add(n, h->prev);
}

static inline void list_del(struct list_head *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->next = n->prev = NULL;
}

#define list_entry(p, type, member) container_of(p, type, member)
#define list_first(h, type, member) list_entry((h)->next, type, member)
#define list_for_each_safe(p, tmp, h) \
    for ( (p) = (h)->next, (tmp) = (p)->next; (p) != (h); \
          (p) = (tmp), (tmp) = (p)->next )

#endif /* XEN_LIST_H */
