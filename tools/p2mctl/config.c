/*
 * The scenario file parser (format and keys in config.h).  Each key has a
 * handler that checks its value; checks that involve several keys run once
 * the whole file has been read.  Every error is reported, not just the
 * first, and any error makes the file invalid.
 */
#include "config.h"
#include "hostcost.h"
#include "hosted.h"
#include "io.h"
#include "num.h"
#include "xc_hvm_build.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xen/lib.h>

#define MAX_GUEST_MIB (1ull << 24)      /* 16 TiB */

struct cfg_value {
    const char *s;
    bool quoted;
};

enum cfg_key {
    K_NAME, K_MEMORY, K_MAXMEM, K_TARGET, K_HAP, K_SUPERPAGES, K_CPU_1G,
    K_VCPUS, K_MMIO_HOLE, K_HOST, K_HOST_RAM, K_DOM0_MEM, K_FRAGMENT,
    K_WORKLOAD, K_ACCESSES, K_SEED, K_DIRTY, K_OOM_STEP, K_NR
};

struct cfg_parse {
    const char *path;
    unsigned long line;
    const char *key;
    unsigned int errors;
    unsigned long set_line[K_NR];       /* 0 = not set */
};

typedef int (*cfg_set_fn)(struct cfg_parse *p, struct run_config *c,
                          const struct cfg_value *v);

static int cfg_err(struct cfg_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int cfg_err(struct cfg_parse *p, const char *fmt, ...)
{
    va_list ap;

    if ( p->line )
        fprintf(stderr, "%s:%lu: ", p->path, p->line);
    else
        fprintf(stderr, "%s: ", p->path);
    if ( p->key )
        fprintf(stderr, "%s: ", p->key);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    p->errors++;
    return -1;
}

/* --- value helpers --- */

static int get_number(struct cfg_parse *p, const struct cfg_value *v,
                      const char *what, uint64_t min, uint64_t max,
                      uint64_t *out)
{
    uint64_t n = 0;

    if ( v->quoted || !num_parse_u64(v->s, &n) )
        return cfg_err(p, "expected %s, got \"%s\"%s", what, v->s,
                       v->quoted ? " (numbers take no quotes)" :
                       " (numbers are decimal or 0x hex)");
    if ( n < min || n > max )
        return cfg_err(p, "%llu is out of range: expected %s from %llu to "
                       "%llu", (unsigned long long)n, what,
                       (unsigned long long)min, (unsigned long long)max);
    *out = n;
    return 0;
}

static int get_choice(struct cfg_parse *p, const struct cfg_value *v,
                      const char *const *names, unsigned int n,
                      unsigned int *out)
{
    unsigned int i;

    for ( i = 0; i < n; i++ )
        if ( !strcmp(v->s, names[i]) )
        {
            *out = i;
            return 0;
        }
    fprintf(stderr, "%s:%lu: %s: expected one of", p->path, p->line, p->key);
    for ( i = 0; i < n; i++ )
        fprintf(stderr, "%s \"%s\"", i ? "," : "", names[i]);
    fprintf(stderr, "; got \"%s\"\n", v->s);
    p->errors++;
    return -1;
}

/* --- the keys --- */

static int set_name(struct cfg_parse *p, struct run_config *c,
                    const struct cfg_value *v)
{
    size_t n = strlen(v->s);

    if ( !n || n >= sizeof(c->name) ||
         strspn(v->s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                "0123456789_.-") != n )
        return cfg_err(p, "expected a name of 1 to %zu letters, digits, "
                       "'_', '.' or '-', got \"%s\"", sizeof(c->name) - 1,
                       v->s);
    strcpy(c->name, v->s);
    return 0;
}

static int set_memory(struct cfg_parse *p, struct run_config *c,
                      const struct cfg_value *v)
{
    return get_number(p, v, "a number of MiB", 2, MAX_GUEST_MIB, &c->memory);
}

static int set_maxmem(struct cfg_parse *p, struct run_config *c,
                      const struct cfg_value *v)
{
    return get_number(p, v, "a number of MiB", 2, MAX_GUEST_MIB, &c->maxmem);
}

static int set_target(struct cfg_parse *p, struct run_config *c,
                      const struct cfg_value *v)
{
    return get_number(p, v, "a number of MiB", 2, MAX_GUEST_MIB, &c->target);
}

static int set_hap(struct cfg_parse *p, struct run_config *c,
                   const struct cfg_value *v)
{
    const char *names[P2M_NR_FORMATS];
    unsigned int i;

    for ( i = 0; i < P2M_NR_FORMATS; i++ )
        names[i] = p2m_format_to_name(i);
    if ( get_choice(p, v, names, P2M_NR_FORMATS, &i) )
        return -1;
    c->fmt = i;
    return 0;
}

static int set_superpages(struct cfg_parse *p, struct run_config *c,
                          const struct cfg_value *v)
{
    static const char *const names[] = { "4k", "2m", "1g" };
    unsigned int i;

    if ( get_choice(p, v, names, 3, &i) )
        return -1;
    c->max_order = p2m_level_order(p2m_idx_level(i));
    return 0;
}

static int set_cpu_1g(struct cfg_parse *p, struct run_config *c,
                      const struct cfg_value *v)
{
    uint64_t n = 0;

    if ( get_number(p, v, "0 or 1", 0, 1, &n) )
        return -1;
    c->cpu_1g = n;
    return 0;
}

static int set_vcpus(struct cfg_parse *p, struct run_config *c,
                     const struct cfg_value *v)
{
    uint64_t n = 0;

    if ( get_number(p, v, "a number of vCPUs", 1, MAX_VCPUS, &n) )
        return -1;
    c->vcpus = n;
    return 0;
}

static int set_mmio_hole(struct cfg_parse *p, struct run_config *c,
                         const struct cfg_value *v)
{
    return get_number(p, v, "a number of MiB", 0, XC_MAX_MMIO_HOLE_MIB,
                      &c->mmio_hole);
}

static int set_host(struct cfg_parse *p, struct run_config *c,
                    const struct cfg_value *v)
{
    uint64_t bytes;

    if ( !num_parse_size(v->s, &bytes) || !bytes ||
         (bytes & ((1ull << 21) - 1)) )
        return cfg_err(p, "expected a size such as \"64G\" (a multiple of "
                       "2M), got \"%s\"", v->s);
    c->host_top = bytes;
    return 0;
}

static int set_host_ram(struct cfg_parse *p, struct run_config *c,
                        const struct cfg_value *v)
{
    const char *why = NULL;
    unsigned int i;

    if ( num_parse_layout(v->s, c->ram, MACHINE_MAX_RANGES, &c->nr_ram,
                          &why) )
        return cfg_err(p, "expected RAM ranges such as \"0-3G,4G-64G\", got "
                       "\"%s\": %s", v->s, why ? why : "malformed");
    c->host_ram_pages = 0;
    for ( i = 0; i < c->nr_ram; i++ )
        c->host_ram_pages += c->ram[i].end - c->ram[i].start;
    return 0;
}

static int set_dom0_mem(struct cfg_parse *p, struct run_config *c,
                        const struct cfg_value *v)
{
    return get_number(p, v, "a number of MiB", 0, MAX_GUEST_MIB,
                      &c->dom0_mem);
}

static int set_fragment(struct cfg_parse *p, struct run_config *c,
                        const struct cfg_value *v)
{
    static const char *const names[] = { "none", "no1g", "no2m" };
    size_t len = strlen(v->s);
    char num[24];
    uint64_t pct;
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(names); i++ )
        if ( !strcmp(v->s, names[i]) )
        {
            c->fragment = (enum cfg_fragment)i;
            return 0;
        }
    if ( len >= 2 && len <= sizeof(num) && v->s[len - 1] == '%' )
        snprintf(num, sizeof(num), "%.*s", (int)(len - 1), v->s);
    else
        num[0] = '\0';
    if ( !num_parse_u64(num, &pct) || pct > 100 )
        return cfg_err(p, "expected \"none\", \"no1g\", \"no2m\" or a share "
                       "of 1G blocks to break such as \"30%%\", got \"%s\"",
                       v->s);
    c->fragment = CFG_FRAG_PERCENT;
    c->frag_pct = pct;
    return 0;
}

/* A trace path is relative to the directory of the scenario file. */
static int set_trace(struct cfg_parse *p, struct run_config *c,
                     const char *file)
{
    const char *slash = strrchr(p->path, '/');
    FILE *f;
    int n;

    if ( !*file )
        return cfg_err(p, "\"trace:\" needs a file name");
    if ( file[0] == '/' || !slash )
        n = snprintf(c->trace, sizeof(c->trace), "%s", file);
    else
        n = snprintf(c->trace, sizeof(c->trace), "%.*s/%s",
                     (int)(slash - p->path), p->path, file);
    if ( n < 0 || (size_t)n >= sizeof(c->trace) )
        return cfg_err(p, "trace path too long");
    if ( !(f = open_input(c->trace)) )
        return cfg_err(p, "cannot read the trace file %s: %s", c->trace,
                       strerror(errno));
    fclose(f);
    return 0;
}

static int set_workload(struct cfg_parse *p, struct run_config *c,
                        const struct cfg_value *v)
{
    static const char *const names[] = { "windows-boot", "linux-boot",
                                         "random" };
    unsigned int i;

    if ( !strncmp(v->s, "trace:", 6) )
    {
        c->workload = WL_TRACE;
        return set_trace(p, c, v->s + 6);
    }
    for ( i = 0; i < ARRAY_SIZE(names); i++ )
        if ( !strcmp(v->s, names[i]) )
        {
            c->workload = (enum cfg_workload)i;
            return 0;
        }
    return cfg_err(p, "expected \"windows-boot\", \"linux-boot\", \"random\" "
                   "or \"trace:<lackey file>\", got \"%s\"", v->s);
}

static int set_accesses(struct cfg_parse *p, struct run_config *c,
                        const struct cfg_value *v)
{
    return get_number(p, v, "a number of accesses per vCPU", 1, 1ull << 32,
                      &c->accesses);
}

static int set_seed(struct cfg_parse *p, struct run_config *c,
                    const struct cfg_value *v)
{
    return get_number(p, v, "a number", 0, UINT64_MAX, &c->seed);
}

static int set_dirty(struct cfg_parse *p, struct run_config *c,
                     const struct cfg_value *v)
{
    return get_number(p, v, "a number of pages", 1, 1ull << 30, &c->dirty);
}

static int set_oom_step(struct cfg_parse *p, struct run_config *c,
                        const struct cfg_value *v)
{
    return get_number(p, v, "a number of MiB", 1, MAX_GUEST_MIB,
                      &c->oom_step);
}

static const struct {
    const char *name;
    cfg_set_fn set;
} keys[K_NR] = {
    [K_NAME] = { "name", set_name },
    [K_MEMORY] = { "memory", set_memory },
    [K_MAXMEM] = { "maxmem", set_maxmem },
    [K_TARGET] = { "target", set_target },
    [K_HAP] = { "hap", set_hap },
    [K_SUPERPAGES] = { "superpages", set_superpages },
    [K_CPU_1G] = { "cpu_1g", set_cpu_1g },
    [K_VCPUS] = { "vcpus", set_vcpus },
    [K_MMIO_HOLE] = { "mmio_hole", set_mmio_hole },
    [K_HOST] = { "host", set_host },
    [K_HOST_RAM] = { "host_ram", set_host_ram },
    [K_DOM0_MEM] = { "dom0_mem", set_dom0_mem },
    [K_FRAGMENT] = { "fragment", set_fragment },
    [K_WORKLOAD] = { "workload", set_workload },
    [K_ACCESSES] = { "accesses", set_accesses },
    [K_SEED] = { "seed", set_seed },
    [K_DIRTY] = { "dirty", set_dirty },
    [K_OOM_STEP] = { "oom_step", set_oom_step },
};

/* --- lines --- */

/*
 * Cut "key = value [;] [# comment]" into key and value.  1 for a pair, 0
 * for a blank or comment line, -1 after reporting a malformed line.
 */
static int split_line(struct cfg_parse *p, char *s, char **key,
                      struct cfg_value *v)
{
    char *kend, *vend;

    s += strspn(s, " \t\r\n");
    if ( !*s || *s == '#' )
        return 0;
    *key = s;
    while ( (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
            *s == '_' || (*s >= 'A' && *s <= 'Z') )
        s++;
    kend = s;
    s += strspn(s, " \t");
    if ( kend == *key || *s != '=' )
        return cfg_err(p, "expected `key = value`, got \"%.*s\"",
                       (int)strcspn(*key, "\r\n"), *key);
    *kend = '\0';
    p->key = *key;
    s += 1 + strspn(s + 1, " \t");
    v->quoted = *s == '"';
    if ( v->quoted )
    {
        v->s = ++s;
        if ( !(vend = strchr(s, '"')) )
            return cfg_err(p, "unterminated string");
        s = vend + 1;
    }
    else
    {
        v->s = s;
        s = vend = s + strcspn(s, " \t\r\n;#");
        if ( vend == v->s )
            return cfg_err(p, "missing value");
    }
    s += strspn(s, " \t\r\n");
    s += *s == ';';
    s += strspn(s, " \t\r\n");
    if ( *s && *s != '#' )
        return cfg_err(p, "unexpected text after the value: \"%.*s\"",
                       (int)strcspn(s, "\r\n"), s);
    *vend = '\0';
    return 1;
}

static void parse_line(struct cfg_parse *p, struct run_config *c, char *s)
{
    struct cfg_value v;
    unsigned int i;
    char *key;

    p->key = NULL;
    if ( split_line(p, s, &key, &v) <= 0 )
        return;
    for ( i = 0; i < K_NR && strcmp(keys[i].name, key); i++ )
        ;
    p->key = NULL;
    if ( i == K_NR )
    {
        cfg_err(p, "unknown key \"%s\"", key);
        return;
    }
    p->key = keys[i].name;
    if ( p->set_line[i] )
    {
        cfg_err(p, "set twice (first on line %lu)", p->set_line[i]);
        return;
    }
    p->set_line[i] = p->line;
    keys[i].set(p, c, &v);
}

/* --- the whole file --- */

static void at_key(struct cfg_parse *p, enum cfg_key k)
{
    p->line = p->set_line[k];
    p->key = keys[k].name;
}

static void check_host(struct cfg_parse *p, struct run_config *c)
{
    uint64_t ram_top;

    if ( !p->set_line[K_HOST_RAM] )
    {
        c->nr_ram = 1;
        c->ram[0] = (struct machine_range){ 0, c->host_top >> PAGE_SHIFT };
        c->host_ram_pages = c->ram[0].end;
        return;
    }
    ram_top = c->ram[c->nr_ram - 1].end << PAGE_SHIFT;
    if ( !p->set_line[K_HOST] )
        c->host_top = ram_top;
    else if ( ram_top > c->host_top )
    {
        at_key(p, K_HOST_RAM);
        cfg_err(p, "RAM reaches %llu MiB, beyond the host's %llu MiB "
                "(host, line %lu)", (unsigned long long)(ram_top >> 20),
                (unsigned long long)(c->host_top >> 20), p->set_line[K_HOST]);
    }
}

/* fragment = "no2m" makes the whole frame table resident. */
static void check_cost(struct cfg_parse *p, const struct run_config *c)
{
    uint64_t need, have;

    if ( c->fragment != CFG_FRAG_NO2M ||
         host_no2m_fits(c->host_ram_pages, &need, &have) )
        return;
    at_key(p, K_FRAGMENT);
    cfg_err(p, "\"no2m\" makes the whole frame table resident: %llu MiB "
            "for this host, more than half of this machine's %llu MiB",
            (unsigned long long)(need >> 20),
            (unsigned long long)(have >> 20));
}

static void check_whole(struct cfg_parse *p, struct run_config *c)
{
    p->line = 0;
    p->key = "memory";
    if ( !p->set_line[K_MEMORY] )
    {
        cfg_err(p, "missing: the guest's memory in MiB is required");
        return;
    }
    if ( !p->set_line[K_MAXMEM] )
        c->maxmem = c->memory;
    else if ( c->maxmem < c->memory )
        at_key(p, K_MAXMEM), cfg_err(p, "%llu MiB is below memory (%llu MiB, "
                                     "line %lu)",
                                     (unsigned long long)c->maxmem,
                                     (unsigned long long)c->memory,
                                     p->set_line[K_MEMORY]);
    if ( !p->set_line[K_TARGET] )
        c->target = c->memory;
    else if ( c->target > c->maxmem )
        at_key(p, K_TARGET), cfg_err(p, "%llu MiB is above maxmem (%llu MiB)",
                                     (unsigned long long)c->target,
                                     (unsigned long long)c->maxmem);
    check_host(p, c);
    check_cost(p, c);
    if ( (c->dom0_mem << 8) >= c->host_ram_pages )
        at_key(p, K_DOM0_MEM), cfg_err(p, "%llu MiB leaves nothing of the "
                                       "host's %llu MiB of RAM",
                                       (unsigned long long)c->dom0_mem,
                                       (unsigned long long)
                                       (c->host_ram_pages >> 8));
    /*
     * The guest's memory plus its page tables (about 1/512) must fit in the
     * host's RAM.  Whether it fits next to dom0_mem and the fragmentation is
     * for the build to find out, as on a real host.
     */
    if ( (c->memory << 8) + (c->memory << 8) / 256 > c->host_ram_pages )
        at_key(p, K_MEMORY), cfg_err(p, "%llu MiB does not fit in the host's "
                                     "%llu MiB of RAM",
                                     (unsigned long long)c->memory,
                                     (unsigned long long)
                                     (c->host_ram_pages >> 8));
    if ( p->set_line[K_ACCESSES] && c->workload != WL_RANDOM )
        at_key(p, K_ACCESSES), cfg_err(p, "only the random workload takes a "
                                       "number of accesses");
}

static void set_defaults(struct run_config *c, const char *path)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->path, sizeof(c->path), "%s", path);
    strcpy(c->name, "guest");
    c->mmio_hole = XC_DEFAULT_MMIO_HOLE_MIB;
    c->fmt = P2M_FORMAT_NPT;
    c->max_order = PAGE_ORDER_1G;
    c->cpu_1g = true;
    c->vcpus = 1;
    c->host_top = 64ull << 30;
    c->workload = WL_LINUX_BOOT;
    c->accesses = 20000;
    c->seed = 1;
    c->dirty = 1024;
    c->oom_step = 256;
}

int config_load(const char *path, struct run_config *c)
{
    struct cfg_parse p = { .path = path };
    FILE *f = open_input(path);
    char line[IO_MAX_LINE + 1];
    long len;

    set_defaults(c, path);
    if ( !f )
    {
        fprintf(stderr, "%s: cannot open the scenario file: %s\n", path,
                strerror(errno));
        return -1;
    }
    while ( (len = read_line(f, line)) != -1 )
    {
        p.line++;
        p.key = NULL;
        if ( len == IO_TOO_LONG )
        {
            cfg_err(&p, "line longer than %u bytes", IO_MAX_LINE);
            break;
        }
        /* A NUL would end the line early for every check below. */
        if ( strlen(line) != (size_t)len )
            cfg_err(&p, "NUL byte at column %zu", strlen(line) + 1);
        else
            parse_line(&p, c, line);
    }
    if ( ferror(f) )
        p.line = 0, p.key = NULL, cfg_err(&p, "reading failed: %s",
                                          strerror(errno));
    fclose(f);
    if ( !p.errors )
        check_whole(&p, c);
    return p.errors ? -1 : 0;
}

const char *cfg_workload_name(enum cfg_workload w)
{
    static const char *const names[] = { "windows-boot", "linux-boot",
                                         "random", "trace" };

    return (unsigned int)w < ARRAY_SIZE(names) ? names[w] : "?";
}

const char *cfg_fragment_name(const struct run_config *c, char *buf,
                              unsigned int len)
{
    static const char *const names[] = { "none", "no1g", "no2m" };

    if ( c->fragment != CFG_FRAG_PERCENT )
        return names[c->fragment];
    snprintf(buf, len, "%u%% of 1G blocks", c->frag_pct);
    return buf;
}
