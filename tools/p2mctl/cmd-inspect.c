/*
 * p2mctl commands that look at a domain (stats, audit, dumps, log-dirty
 * bitmaps) or act as its guest (write, read through vCPU 0's TLB).
 */
#include "p2mctl.h"

#include <stdlib.h>
#include <string.h>

#include <asm-x86/p2m-pod.h>
#include <xen/errno.h>

/* Default guest write value: a tag that differs for every gfn. */
#define WRITE_TAG 0x5a5a5a5a5a5a5a5aull

/* A guest access failed: the module crashed the domain (or had before). */
static int guest_fault(struct cli *c, struct domain *d, int rc)
{
    if ( rc == -EFAULT && d->crashed )
        return cli_errno(c, rc, "the guest access faulted: the domain has "
                         "crashed");
    return cli_errno(c, rc, NULL);
}

/* write/read: the gfn of a guest access, which must be guest-physical. */
static int guest_args(struct cli *c, char **argv, struct domain **d,
                      uint64_t *gfn)
{
    if ( arg_domain(c, argv[1], d) || arg_u64(c, "gfn", argv[2], gfn) )
        return -1;
    return *gfn < P2M_MAX_GFN ? 0 : cli_errno(c, -ERANGE, NULL);
}

int cmd_write(struct cli *c, unsigned int argc, char **argv)
{
    struct domain *d;
    uint64_t gfn, val;
    int rc;

    if ( guest_args(c, argv, &d, &gfn) )
        return -1;
    val = gfn ^ WRITE_TAG;
    if ( argc > 3 && arg_u64(c, "value", argv[3], &val) )
        return -1;
    rc = hosted_guest_write(&d->vcpu[0], _gfn(gfn), 0, val);
    return rc ? guest_fault(c, d, rc) : 0;
}

int cmd_read(struct cli *c, unsigned int argc, char **argv)
{
    struct domain *d;
    uint64_t gfn, val;
    int rc;

    if ( guest_args(c, argv, &d, &gfn) )
        return -1;
    rc = hosted_guest_read(&d->vcpu[0], _gfn(gfn), 0, &val);
    if ( rc )
        return guest_fault(c, d, rc);
    printf("{\"gfn\": %llu, \"value\": %llu}\n", (unsigned long long)gfn,
           (unsigned long long)val);
    return 0;
}

/* A growable list of numbers. */
struct u64_list {
    uint64_t *v;
    size_t n, cap;
};

static int list_push(struct u64_list *l, uint64_t x)
{
    if ( l->n == l->cap )
    {
        size_t cap = l->cap * 2 + 64;
        uint64_t *v = realloc(l->v, cap * sizeof(*v));

        if ( !v )
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return 0;
}

/*
 * The 1G windows holding leaves, and the end of the highest leaf.  No leaf
 * crosses a 1G boundary, so reading the bitmap window by window (and
 * cleaning it) never has to split anything.
 */
struct windows {
    struct u64_list w;
    uint64_t top;
};

static int note_window(void *ctx, gfn_t gfn, const struct p2m_lookup *l)
{
    struct windows *s = ctx;
    uint64_t w = gfn_x(gfn) >> PAGE_ORDER_1G;

    s->top = gfn_x(gfn) + (1ull << l->order);
    if ( s->w.n && s->w.v[s->w.n - 1] == w )
        return 0;
    return list_push(&s->w, w);
}

/* Read (and with clean, re-protect) each window; dirty gfns go to out. */
static int64_t logdirty_collect(struct domain *d, bool clean,
                                struct u64_list *out)
{
    static uint8_t bm[(1u << PAGE_ORDER_1G) / 8];
    struct windows s = { { NULL, 0, 0 }, 0 };
    int64_t rc;
    size_t i;
    uint64_t g;

    rc = p2m_for_each_leaf(&d->p2m, note_window, &s);
    /* Pages whose entries went away stay dirty: every window up to the
     * log's reach is read, not only those that hold leaves now. */
    s.top = MAX(s.top, p2m_logdirty_reach(&d->p2m));
    s.w.n = 0;
    for ( g = 0; !rc && (g << PAGE_ORDER_1G) < s.top; g++ )
        rc = list_push(&s.w, g);
    for ( i = 0; i < s.w.n && !rc; i++ )
    {
        uint64_t start = s.w.v[i] << PAGE_ORDER_1G;
        uint64_t nr = MIN(1ull << PAGE_ORDER_1G, s.top - start);

        rc = p2m_logdirty_read(&d->p2m, _gfn(start), nr, bm, clean);
        if ( rc < 0 )
            break;
        for ( g = 0, rc = 0; g < nr && !rc; g++ )
            if ( bm[g / 8] & (1u << (g % 8)) )
                rc = list_push(out, start + g);
    }
    free(s.w.v);
    return rc;
}

int cmd_logdirty(struct cli *c, unsigned int argc, char **argv)
{
    struct u64_list dirty = { NULL, 0, 0 };
    const char *op = argv[2];
    struct domain *d;
    int64_t rc;
    size_t i;

    if ( arg_domain(c, argv[1], &d) )
        return -1;
    if ( !strcmp(op, "on") || !strcmp(op, "on-eager") )
    {
        /* on: superpages split on their first write; on-eager: all now. */
        rc = d->p2m.logdirty ? 0 : p2m_logdirty_set_split(&d->p2m,
                 strcmp(op, "on") ? P2M_SPLIT_EAGER : P2M_SPLIT_ON_WRITE);
        if ( !rc )
            rc = p2m_logdirty_enable(&d->p2m, true);
        return rc ? cli_errno(c, rc, NULL) : 0;
    }
    if ( !strcmp(op, "off") )
    {
        rc = p2m_logdirty_enable(&d->p2m, false);
        return rc ? cli_errno(c, rc, NULL) : 0;
    }
    if ( strcmp(op, "peek") && strcmp(op, "clean") )
        return cli_err(c, "bad operation '%s': expected on, on-eager, off, "
                       "peek or clean", op);
    if ( !d->p2m.logdirty )
        return cli_errno(c, -EINVAL, "log-dirty mode is off");
    rc = logdirty_collect(d, !strcmp(op, "clean"), &dirty);
    if ( rc )
    {
        free(dirty.v);
        return cli_errno(c, (int)rc, NULL);
    }
    printf("{\"dirty\": %zu, \"gfns\": [", dirty.n);
    for ( i = 0; i < dirty.n; i++ )
        printf("%s%llu", i ? ", " : "", (unsigned long long)dirty.v[i]);
    printf("]}\n");
    free(dirty.v);
    return 0;
}

static void print_audit_errors(const struct p2m_audit_report *r)
{
    unsigned int i;

    for ( i = 0; i < r->nr_recorded; i++ )
        printf("%s{\"code\": \"%s\", \"level\": %u, \"gfn\": %llu, "
               "\"entry\": %llu, \"detail\": %llu}", i ? ", " : "",
               p2m_audit_code_name(r->err[i].code), r->err[i].level,
               (unsigned long long)r->err[i].gfn,
               (unsigned long long)r->err[i].entry,
               (unsigned long long)r->err[i].detail);
}

/*
 * audit: the domain's tables, its PoD accounting invariants and the whole
 * heap's accounting.
 */
int cmd_audit(struct cli *c, unsigned int argc, char **argv)
{
    static struct p2m_audit_report r;
    struct domain *d;
    unsigned int n;
    int acc, pod;

    if ( arg_domain(c, argv[1], &d) )
        return -1;
    n = p2m_audit(&d->p2m, &r);
    pod = p2m_pod_check(d);
    acc = heap_check_accounting();
    printf("{\"ok\": %s, \"nr_errors\": %u, \"errors\": [",
           n || acc || pod ? "false" : "true", n);
    print_audit_errors(&r);
    printf("], \"accounting_errors\": %d, \"pod_invariant_errors\": %d}\n",
           acc, pod);
    c->not_ok |= n || acc || pod;
    return 0;
}

/* The PoD part of `stats`: cache, target, fills and sweeps per order. */
static void print_stat(void *ctx, const char *name, uint64_t value,
                       bool is_bool)
{
    (void)ctx;
    if ( is_bool )
        printf(", \"%s\": %s", name, value ? "true" : "false");
    else
        printf(", \"%s\": %llu", name, (unsigned long long)value);
}

int cmd_stats(struct cli *c, unsigned int argc, char **argv)
{
    struct domain *d;

    if ( arg_domain(c, argv[1], &d) )
        return -1;
    printf("{\"format\": \"%s\"", p2m_format_name(&d->p2m));
    domain_stats_each(d, print_stat, NULL);
    printf("}\n");
    return 0;
}

static int dump_leaf(void *ctx, gfn_t gfn, const struct p2m_lookup *l)
{
    print_lookup(ctx, gfn_x(gfn), l);
    return 0;
}

/* dump: one JSON line per leaf (and typed empty entry), by gfn. */
int cmd_dump(struct cli *c, unsigned int argc, char **argv)
{
    struct domain *d;
    FILE *f;
    int rc;

    if ( arg_domain(c, argv[1], &d) )
        return -1;
    f = cli_open(c, argv[2], "w");
    if ( !f )
        return -1;
    rc = p2m_for_each_leaf(&d->p2m, dump_leaf, f);
    if ( cli_close(c, f, argv[2]) )
        return -1;
    return rc ? cli_errno(c, rc, NULL) : 0;
}

struct table_dump { FILE *f; uint64_t pages; };

static int dump_table(void *ctx, mfn_t mfn, const uint64_t *entries)
{
    struct table_dump *t = ctx;
    uint8_t le[8];
    unsigned int i;

    for ( i = 0; i < 8; i++ )
        le[i] = (uint8_t)(mfn_x(mfn) >> (8 * i));
    fwrite(le, 1, sizeof(le), t->f);
    fwrite(entries, 1, PAGE_SIZE, t->f);
    t->pages++;
    return 0;
}

static int dump_table_meta(struct cli *c, struct domain *d, const char *path,
                           uint64_t pages)
{
    char meta[4096];
    FILE *f;

    if ( snprintf(meta, sizeof(meta), "%s.json", path) >= (int)sizeof(meta) )
        return cli_err(c, "file name too long");
    f = cli_open(c, meta, "w");
    if ( !f )
        return -1;
    fprintf(f, "{\"format\": \"%s\", \"root_mfn\": %llu, \"levels\": %u, "
            "\"root_pointer\": %llu, \"table_pages\": %llu}\n",
            p2m_format_name(&d->p2m), (unsigned long long)mfn_x(d->p2m.root),
            P2M_LEVELS, (unsigned long long)p2m_root_pointer(&d->p2m),
            (unsigned long long)pages);
    return cli_close(c, f, meta);
}

/*
 * dumptables: each table page reachable from the root, root first, as an
 * 8-byte little-endian mfn and the page's 4096 bytes; <file>.json says how
 * to read them.
 */
int cmd_dumptables(struct cli *c, unsigned int argc, char **argv)
{
    struct table_dump t = { NULL, 0 };
    struct domain *d;
    int rc;

    if ( arg_domain(c, argv[1], &d) )
        return -1;
    if ( !strcmp(argv[2], "-") )
        return cli_err(c, "dumptables needs a file, not stdout");
    t.f = cli_open(c, argv[2], "wb");
    if ( !t.f )
        return -1;
    rc = p2m_for_each_table(&d->p2m, dump_table, &t);
    if ( cli_close(c, t.f, argv[2]) )
        return -1;
    if ( rc )
        return cli_errno(c, rc, NULL);
    return dump_table_meta(c, d, argv[2], t.pages);
}
