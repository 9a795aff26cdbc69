/*
 * p2mctl argument parsing and error reports.  Every parser either accepts
 * the whole word or reports, naming the line, what is wrong with it.
 */
#include "p2mctl.h"
#include "num.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <xen/errno.h>

/* Every value of xen/errno.h, with what it means from the module. */
static const struct {
    int nr;
    const char *name, *meaning;
} errnos[] = {
    { EPERM, "EPERM", "frame not the domain's to map (another domain's, "
      "its PoD cache, or MMIO it was not granted)" },
    { ENOENT, "ENOENT", "no such entry" },
    { ESRCH, "ESRCH", "no such domain" },
    { ENXIO, "ENXIO", "frame lies in a hole of machine memory" },
    { E2BIG, "E2BIG", "argument list too long" },
    { EAGAIN, "EAGAIN", "resource temporarily unavailable, try again" },
    { ENOMEM, "ENOMEM", "out of memory (no free extent of that order, or "
                        "no page for a table)" },
    { EFAULT, "EFAULT", "frame number beyond the top of machine memory" },
    { EBUSY, "EBUSY", "frame already mapped at another gfn, or in use" },
    { EEXIST, "EEXIST", "already exists" },
    { EINVAL, "EINVAL", "invalid argument (gfn or mfn misaligned for the "
                        "order?)" },
    { ENOSPC, "ENOSPC", "the domain would exceed its maxmem" },
    { EDOM, "EDOM", "order must be 0, 9 or 18" },
    { ERANGE, "ERANGE", "gfn outside the guest-physical address space "
                        "(2^36 frames)" },
    { EDEADLK, "EDEADLK", "deadlock avoided" },
    { ENOSYS, "ENOSYS", "function not implemented" },
    { EBADR, "EBADR", "unknown or unsuitable P2M type or access" },
    { EOPNOTSUPP, "EOPNOTSUPP", "operation not supported" },
    { ECANCELED, "ECANCELED", "operation cancelled" },
    { ERESTART, "ERESTART", "stopped at a preemption point: call again" },
};

const char *errno_name(int rc)
{
    unsigned int i, nr = rc < 0 ? -rc : rc;

    for ( i = 0; i < ARRAY_SIZE(errnos); i++ )
        if ( (unsigned int)errnos[i].nr == nr )
            return errnos[i].name;
    return NULL;
}

const char *errno_meaning(int rc)
{
    unsigned int i, nr = rc < 0 ? -rc : rc;

    for ( i = 0; i < ARRAY_SIZE(errnos); i++ )
        if ( (unsigned int)errnos[i].nr == nr )
            return errnos[i].meaning;
    return "unknown error";
}

int cli_err(struct cli *c, const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fprintf(stderr, "p2mctl: line %lu: %s: ", c->line, c->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

int cli_errno(struct cli *c, int rc, const char *why)
{
    const char *name = errno_name(rc);

    if ( name )
        return cli_err(c, "%s (errno %d): %s", name, rc < 0 ? -rc : rc,
                       why ? why : errno_meaning(rc));
    return cli_err(c, "error %d: %s", rc, why ? why : "unknown error");
}

int arg_u64(struct cli *c, const char *what, const char *s, uint64_t *v)
{
    if ( num_parse_u64(s, v) )
        return 0;
    return cli_err(c, "bad %s '%s': expected a decimal or 0x hex number",
                   what, s);
}

int arg_size(struct cli *c, const char *what, const char *s, uint64_t *bytes)
{
    if ( num_parse_size(s, bytes) )
        return 0;
    return cli_err(c, "bad %s '%s': expected a size such as 4096, 0x1000, "
                   "2M or 1T+16G (suffixes K, M, G, T)", what, s);
}

/* Any order is passed on: the module answers EDOM for the bad ones. */
int arg_order(struct cli *c, const char *s, unsigned int *order)
{
    uint64_t v;

    if ( arg_u64(c, "order", s, &v) )
        return -1;
    *order = v > 63 ? 63 : (unsigned int)v;
    return 0;
}

int arg_type(struct cli *c, const char *s, p2m_type_t *t)
{
    int rc = p2m_type_from_name(s);
    char why[160];

    if ( rc < 0 )
    {
        snprintf(why, sizeof(why), "unknown type '%s' (types: ram_rw, "
                 "ram_ro, ram_logdirty, mmio_direct, populate_on_demand, "
                 "invalid)", s);
        return cli_errno(c, rc, why);
    }
    *t = (p2m_type_t)rc;
    return 0;
}

int arg_access(struct cli *c, const char *s, p2m_access_t *a)
{
    int rc = p2m_access_from_str(s);
    char why[160];

    if ( rc < 0 )
    {
        snprintf(why, sizeof(why), "bad access '%s': expected the letters "
                 "r, w, x (each at most once) or n", s);
        return cli_errno(c, rc, why);
    }
    *a = (p2m_access_t)rc;
    return 0;
}

int arg_domid(struct cli *c, const char *s, domid_t *id)
{
    uint64_t v;

    if ( !num_parse_u64(s[0] == 'd' ? s + 1 : s, &v) || v >= MAX_DOMAINS )
        return cli_err(c, "bad domain '%s': expected an id 0..%u",
                       s, MAX_DOMAINS - 1);
    *id = (domid_t)v;
    return 0;
}

int arg_domain(struct cli *c, const char *s, struct domain **d)
{
    domid_t id = 0;

    if ( arg_domid(c, s, &id) )
        return -1;
    *d = domain_lookup(id);
    if ( !*d )
        return cli_errno(c, -ESRCH, "no such domain (create it first)");
    return 0;
}

int arg_options(struct cli *c, unsigned int argc, char **argv,
                unsigned int first, const char *const *keys,
                const char **vals, unsigned int nkeys)
{
    unsigned int i, k;

    for ( k = 0; k < nkeys; k++ )
        vals[k] = NULL;
    for ( i = first; i < argc; i++ )
    {
        const char *eq = strchr(argv[i], '=');

        for ( k = 0; eq && k < nkeys; k++ )
            if ( strlen(keys[k]) == (size_t)(eq - argv[i]) &&
                 !strncmp(argv[i], keys[k], eq - argv[i]) )
                break;
        if ( !eq || k == nkeys )
            return cli_err(c, "unexpected argument '%s'", argv[i]);
        if ( vals[k] )
            return cli_err(c, "%s= given twice", keys[k]);
        vals[k] = eq + 1;
    }
    return 0;
}

FILE *cli_open(struct cli *c, const char *path, const char *mode)
{
    FILE *f = strcmp(path, "-") ? fopen(path, mode) : stdout;

    if ( !f )
        cli_err(c, "cannot open %s: %m", path);
    return f;
}

int cli_close(struct cli *c, FILE *f, const char *path)
{
    bool bad = ferror(f);

    if ( f == stdout )
        bad |= fflush(f) != 0;
    else
        bad |= fclose(f) != 0;
    return bad ? cli_err(c, "writing %s failed", path) : 0;
}

void print_lookup(FILE *f, uint64_t gfn, const struct p2m_lookup *l)
{
    char acc[4];

    p2m_access_str(l->access, acc);
    fprintf(f, "{\"gfn\": %llu, \"mfn\": ", (unsigned long long)gfn);
    if ( mfn_eq(l->mfn, INVALID_MFN) )
        fprintf(f, "null");
    else
        fprintf(f, "%llu", (unsigned long long)mfn_x(l->mfn));
    fprintf(f, ", \"order\": %u, \"type\": \"%s\", \"access\": \"%s\"}\n",
            l->order, p2m_type_name(l->type), acc);
}
