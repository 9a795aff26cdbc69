/*
 * p2mctl commands that build and change things: the host machine, domains,
 * mappings and types.  Each parses every argument before its first call
 * into the module.
 */
#include "p2mctl.h"
#include "hostcost.h"
#include "num.h"

#include <string.h>

#include <xen/errno.h>
#include <xen/memory.h>

static int parse_fragment(struct cli *c, const char *s,
                          enum heap_fragment_mode *mode)
{
    if ( !s || !strcmp(s, "none") )
        *mode = FRAG_NONE;
    else if ( !strcmp(s, "no1g") )
        *mode = FRAG_NO1G;
    else if ( !strcmp(s, "no2m") )
        *mode = FRAG_NO2M;
    else
        return cli_err(c, "bad fragment '%s': expected none, no1g or no2m",
                       s);
    return 0;
}

/* The RAM ranges of `host`: ram= or all of [0, size). */
static int parse_ram(struct cli *c, uint64_t size, const char *layout,
                     struct machine_range *r, unsigned int *n)
{
    const char *why = NULL;

    if ( size == 0 || (size & (PAGE_SIZE - 1)) )
        return cli_err(c, "bad size: must be a non-zero multiple of 4K");
    if ( !layout )
    {
        r[0] = (struct machine_range){ 0, size >> PAGE_SHIFT };
        *n = 1;
        return 0;
    }
    if ( num_parse_layout(layout, r, MACHINE_MAX_RANGES, n, &why) )
        return cli_err(c, "bad ram= '%s': %s", layout, why);
    if ( r[*n - 1].end > (size >> PAGE_SHIFT) )
        return cli_err(c, "ram= '%s' reaches beyond the host size", layout);
    return 0;
}

/* A host whose fragmentation would not fit in this machine is refused. */
static int check_cost(struct cli *c, enum heap_fragment_mode mode,
                      const struct machine_range *r, unsigned int n)
{
    uint64_t need, have, frames = 0;
    unsigned int i;

    for ( i = 0; i < n; i++ )
        frames += r[i].end - r[i].start;
    if ( mode != FRAG_NO2M || host_no2m_fits(frames, &need, &have) )
        return 0;
    return cli_err(c, "fragment=no2m makes the whole frame table resident: "
                   "%llu MiB for this host, more than half of this "
                   "machine's %llu MiB", (unsigned long long)(need >> 20),
                   (unsigned long long)(have >> 20));
}

int cmd_host(struct cli *c, unsigned int argc, char **argv)
{
    static const char *const keys[] = { "ram", "fragment" };
    struct machine_range r[MACHINE_MAX_RANGES];
    enum heap_fragment_mode mode = FRAG_NONE;
    const char *opt[2];
    unsigned int n;
    uint64_t size;
    int rc;

    if ( c->have_host )
        return cli_err(c, "there is a host already (only one per script)");
    if ( arg_size(c, "size", argv[1], &size) ||
         arg_options(c, argc, argv, 2, keys, opt, 2) ||
         parse_ram(c, size, opt[0], r, &n) ||
         parse_fragment(c, opt[1], &mode) ||
         check_cost(c, mode, r, n) )
        return -1;
    rc = hosted_machine_init(r, n);
    if ( rc )
        return cli_errno(c, rc, "cannot set up the machine memory");
    c->have_host = true;
    rc = heap_fragment(mode);
    if ( rc )
        return cli_errno(c, rc, "heap_fragment failed");
    return 0;
}

/* The vcpus= option of `create`: 1 (the default) to MAX_VCPUS. */
static int parse_vcpus(struct cli *c, const char *s, unsigned int *nr)
{
    uint64_t v = 1;

    if ( s && arg_u64(c, "vcpus", s, &v) )
        return -1;
    if ( v == 0 || v > MAX_VCPUS )
        return cli_err(c, "bad vcpus '%s': expected 1..%u", s, MAX_VCPUS);
    *nr = (unsigned int)v;
    return 0;
}

int cmd_create(struct cli *c, unsigned int argc, char **argv)
{
    static const char *const keys[] = { "hap", "maxmem", "vcpus" };
    struct heap_stats hs;
    enum p2m_format fmt;
    const char *opt[3];
    uint64_t max_pages, bytes;
    unsigned int vcpus = 1;
    domid_t id = 0;
    int rc;

    if ( arg_domid(c, argv[1], &id) ||
         arg_options(c, argc, argv, 2, keys, opt, 3) ||
         parse_vcpus(c, opt[2], &vcpus) )
        return -1;
    if ( !opt[0] )
        return cli_err(c, "hap= is required (hap=%s or hap=%s)",
                       p2m_format_to_name(P2M_FORMAT_NPT),
                       p2m_format_to_name(P2M_FORMAT_EPT));
    if ( p2m_format_from_name(opt[0], &fmt) )
        return cli_err(c, "bad hap '%s': expected %s or %s", opt[0],
                       p2m_format_to_name(P2M_FORMAT_NPT),
                       p2m_format_to_name(P2M_FORMAT_EPT));
    heap_get_stats(&hs);
    max_pages = hs.total_pages;
    if ( opt[1] )
    {
        if ( arg_size(c, "maxmem", opt[1], &bytes) )
            return -1;
        if ( bytes & (PAGE_SIZE - 1) )
            return cli_err(c, "bad maxmem '%s': not a multiple of 4K",
                           opt[1]);
        max_pages = bytes >> PAGE_SHIFT;
    }
    domain_create(id, fmt, max_pages, vcpus, &rc);
    if ( rc == -EEXIST )
        return cli_errno(c, rc, "the domain exists already");
    if ( !rc )
        pod_touch_forget(id);
    return rc ? cli_errno(c, rc, NULL) : 0;
}

int cmd_destroy(struct cli *c, unsigned int argc, char **argv)
{
    struct domain *d;

    if ( arg_domain(c, argv[1], &d) )
        return -1;
    domain_destroy(d);
    return 0;
}

int cmd_check(struct cli *c, unsigned int argc, char **argv)
{
    struct heap_stats s;
    int bad = heap_check_accounting();

    heap_get_stats(&s);
    printf("{\"ok\": %s, \"errors\": %d, \"free_pages\": %llu, "
           "\"total_pages\": %llu, \"xen_pages\": %llu}\n",
           bad ? "false" : "true", bad, (unsigned long long)s.free_pages,
           (unsigned long long)s.total_pages,
           (unsigned long long)s.xen_pages);
    c->not_ok |= bad != 0;
    return 0;
}

/* The mfn word of `map`: a number, "auto" (allocate) or "none". */
static int parse_mfn(struct cli *c, const char *s, bool *populate, mfn_t *mfn)
{
    uint64_t m;

    *populate = !strcmp(s, "auto");
    *mfn = INVALID_MFN;
    if ( *populate || !strcmp(s, "none") )
        return 0;
    if ( arg_u64(c, "mfn", s, &m) )
        return -1;
    /* The module reads this value as "no frame": a number must not be. */
    if ( m == mfn_x(INVALID_MFN) )
        return cli_err(c, "bad mfn '%s': that is the no-frame value; write "
                       "none", s);
    *mfn = _mfn(m);
    return 0;
}

int cmd_map(struct cli *c, unsigned int argc, char **argv)
{
    static const char *const keys[] = { "type", "access" };
    p2m_type_t t = p2m_ram_rw;
    p2m_access_t a = P2M_ACCESS_RWX;
    const char *opt[2];
    unsigned int order;
    struct domain *d;
    bool populate;
    uint64_t gfn;
    mfn_t mfn;
    int rc;

    if ( arg_domain(c, argv[1], &d) || arg_u64(c, "gfn", argv[2], &gfn) ||
         parse_mfn(c, argv[3], &populate, &mfn) ||
         arg_order(c, argv[4], &order) ||
         arg_options(c, argc, argv, 5, keys, opt, 2) ||
         (opt[0] && arg_type(c, opt[0], &t)) ||
         (opt[1] && arg_access(c, opt[1], &a)) )
        return -1;
    if ( populate )
        rc = memory_populate(d, _gfn(gfn), order, t, a, &mfn);
    else
        rc = memory_map_frames(d, _gfn(gfn), mfn, order, t, a);
    if ( rc == -EBADR && populate )
        return cli_errno(c, rc, "auto maps RAM types only");
    return rc ? cli_errno(c, rc, NULL) : 0;
}

int cmd_unmap(struct cli *c, unsigned int argc, char **argv)
{
    unsigned int order;
    struct domain *d;
    uint64_t gfn;
    int rc;

    if ( arg_domain(c, argv[1], &d) || arg_u64(c, "gfn", argv[2], &gfn) ||
         arg_order(c, argv[3], &order) )
        return -1;
    rc = p2m_remove(&d->p2m, _gfn(gfn), order);
    return rc ? cli_errno(c, rc, NULL) : 0;
}

/* iomem: let the domain map the machine's MMIO frames [mfn, mfn + nr). */
int cmd_iomem(struct cli *c, unsigned int argc, char **argv)
{
    struct domain *d;
    uint64_t mfn, nr;
    int rc;

    if ( arg_domain(c, argv[1], &d) || arg_u64(c, "mfn", argv[2], &mfn) ||
         arg_u64(c, "nr", argv[3], &nr) )
        return -1;
    rc = domain_iomem_permit(d, _mfn(mfn), nr);
    if ( rc == -EINVAL )
        return cli_errno(c, rc, "not inside one MMIO range of the machine");
    return rc ? cli_errno(c, rc, NULL) : 0;
}

int cmd_translate(struct cli *c, unsigned int argc, char **argv)
{
    struct p2m_lookup l;
    struct domain *d;
    uint64_t gfn;
    int rc;

    if ( arg_domain(c, argv[1], &d) || arg_u64(c, "gfn", argv[2], &gfn) )
        return -1;
    rc = p2m_get_entry(&d->p2m, _gfn(gfn), &l);
    if ( rc )
        return cli_errno(c, rc, NULL);
    print_lookup(stdout, gfn, &l);
    return 0;
}

/*
 * settype: every RAM entry of [gfn, gfn + 2^order) becomes type t, one
 * p2m_change_type_range per other RAM type.  Only the first call can split
 * at a given end, so a later one fails only if the pool runs dry.
 */
int cmd_settype(struct cli *c, unsigned int argc, char **argv)
{
    static const p2m_type_t ram[] = { p2m_ram_rw, p2m_ram_ro,
                                      p2m_ram_logdirty };
    unsigned int order, i;
    struct domain *d;
    p2m_type_t t;
    uint64_t gfn;
    int rc = 0;

    if ( arg_domain(c, argv[1], &d) || arg_u64(c, "gfn", argv[2], &gfn) ||
         arg_order(c, argv[3], &order) || arg_type(c, argv[4], &t) )
        return -1;
    if ( order != PAGE_ORDER_4K && order != PAGE_ORDER_2M &&
         order != PAGE_ORDER_1G )
        return cli_errno(c, -EDOM, NULL);
    if ( !p2m_type_is_ram(t) )
        return cli_errno(c, -EBADR, "settype takes RAM types only "
                         "(ram_rw, ram_ro, ram_logdirty)");
    for ( i = 0; i < ARRAY_SIZE(ram) && !rc; i++ )
        if ( ram[i] != t )
            rc = p2m_change_type_range(&d->p2m, _gfn(gfn), 1ull << order,
                                       ram[i], t);
    return rc ? cli_errno(c, rc, NULL) : 0;
}

/*
 * fail: allocation failure injection, for tests of what an operation that
 * fails half-way reports.  "fail table <dom> <n>": the n-th table page the
 * domain's P2M takes from now on fails (1: the next); "fail heap <n>": the
 * n-th heap allocation from now on fails; "fail off" ends both.
 */
int cmd_fail(struct cli *c, unsigned int argc, char **argv)
{
    struct domain *d;
    uint64_t n;

    if ( !strcmp(argv[1], "off") && argc == 2 )
    {
        heap_fail_nth(0);
        for ( n = 0; n < MAX_DOMAINS; n++ )
            if ( (d = domain_lookup((domid_t)n)) )
                d->p2m.pool_fail_at = 0;
        return 0;
    }
    if ( !strcmp(argv[1], "heap") && argc == 3 )
    {
        if ( arg_u64(c, "n", argv[2], &n) )
            return -1;
        heap_fail_nth(n);
        return 0;
    }
    if ( !strcmp(argv[1], "table") && argc == 4 )
    {
        if ( arg_domain(c, argv[2], &d) || arg_u64(c, "n", argv[3], &n) )
            return -1;
        d->p2m.pool_fail_at = n ? d->p2m.pool_allocs + n : 0;
        return 0;
    }
    return cli_err(c, "usage: fail table <dom> <n> | fail heap <n> | "
                   "fail off");
}
