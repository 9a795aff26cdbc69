/*
 * What `p2mctl run` prints: the phase table and the summary (report_table),
 * one JSON document (report_json), the P2M dump after the build and the
 * plot of the time series (tools/plot.py).
 */
#include "run.h"
#include "hosted.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xen/lib.h>

#define PLOT_NO_MATPLOTLIB 3    /* tools/plot.py's exit status for that */

const char *report_size(char *buf, size_t len, uint64_t pages)
{
    double b = (double)pages * PAGE_SIZE;

    if ( pages >= (1ull << 18) )
        snprintf(buf, len, "%.2f GiB", b / (1ull << 30));
    else if ( pages >= 256 )
        snprintf(buf, len, "%.1f MiB", b / (1ull << 20));
    else
        snprintf(buf, len, "%llu KiB", (unsigned long long)pages * 4);
    return buf;
}

#define SZ(p) report_size((char[24]){ 0 }, 24, (p))

static const char *order_name(unsigned int order)
{
    return order == PAGE_ORDER_1G ? "1g" : order == PAGE_ORDER_2M ? "2m" :
           "4k";
}

/* --- the table --- */

static void table_header(FILE *f, const struct run *r)
{
    const struct run_config *c = &r->cfg;
    char fr[32];

    fprintf(f, "\np2mctl run %s\n", c->path);
    fprintf(f, "  guest \"%s\": hap %s, %u vCPUs, memory %llu MiB, maxmem "
            "%llu MiB, target %llu MiB, superpages %s%s, mmio_hole %llu "
            "MiB\n", c->name, p2m_format_to_name(c->fmt), c->vcpus,
            (unsigned long long)c->memory, (unsigned long long)c->maxmem,
            (unsigned long long)c->target, order_name(c->max_order),
            c->cpu_1g ? "" : " (CPU without 1G pages)",
            (unsigned long long)c->mmio_hole);
    fprintf(f, "  host: %s of RAM in %u ranges, dom0 %llu MiB, "
            "fragmentation %s", SZ(r->host.total_pages), c->nr_ram,
            (unsigned long long)c->dom0_mem,
            cfg_fragment_name(c, fr, sizeof(fr)));
    if ( c->fragment == CFG_FRAG_PERCENT )
        fprintf(f, " (%llu of %llu free 1G blocks broken)",
                (unsigned long long)r->frag_broken,
                (unsigned long long)r->frag_blocks);
    fprintf(f, "; workload %s\n\n", cfg_workload_name(c->workload));
    fprintf(f, "%-10s %8s  %-18s %-18s %10s %10s %11s %6s %10s %10s\n",
            "phase", "time", "leaves 1G/2M/4K", "PoD fills 1G/2M/4K",
            "populated", "PoD cache", "PoD entries", "splits", "swept",
            "host free");
}

static void table_row(FILE *f, const struct run_snap *s)
{
    char lv[48], fl[48];
    uint64_t swept = s->swept[POD_4K] + (s->swept[POD_2M] << PAGE_ORDER_2M) +
                     (s->swept[POD_1G] << PAGE_ORDER_1G);

    snprintf(lv, sizeof(lv), "%llu/%llu/%llu",
             (unsigned long long)s->leaves[p2m_level_idx(P2M_L3)],
             (unsigned long long)s->leaves[p2m_level_idx(P2M_L2)],
             (unsigned long long)s->leaves[p2m_level_idx(P2M_L1)]);
    snprintf(fl, sizeof(fl), "%llu/%llu/%llu",
             (unsigned long long)s->filled[POD_1G],
             (unsigned long long)s->filled[POD_2M],
             (unsigned long long)s->filled[POD_4K]);
    if ( !s->guest )
    {
        fprintf(f, "%-10s %7.3fs  %-18s %-18s %10s %10s %11s %6s %10s %10s\n",
                s->phase, s->seconds, "-", "-", "-", "-", "-", "-", "-",
                SZ(s->host_free));
        return;
    }
    fprintf(f, "%-10s %7.3fs  %-18s %-18s %10s %10s %11s %6llu %10s %10s\n",
            s->phase, s->seconds, lv, fl, SZ(s->populated),
            SZ(s->pod_cache), SZ(s->pod_entries),
            (unsigned long long)s->splits, SZ(swept), SZ(s->host_free));
}

static void summary_workload(FILE *f, const struct run *r)
{
    unsigned int i;

    fprintf(f, "  boot: %llu page fills, %llu writes, %llu reads by %u "
            "vCPUs; %llu bad values; %llu accesses found the vCPU paused\n",
            (unsigned long long)r->boot.fills,
            (unsigned long long)r->boot.writes,
            (unsigned long long)r->boot.reads, r->cfg.vcpus,
            (unsigned long long)r->boot.bad,
            (unsigned long long)r->boot.pauses);
    if ( r->oom_total )
        fprintf(f, "  PoD exhaustion: the toolstack raised the target %llu "
                "times and resumed the guest\n",
                (unsigned long long)r->oom_total);
    for ( i = 0; i < r->nr_oom && i < 4; i++ )
        fprintf(f, "    at %.3f s: d%uv%u paused at gfn %#llx; target %s -> "
                "%s\n", r->oom[i].t, RUN_GUEST_ID, r->oom[i].vcpu,
                (unsigned long long)r->oom[i].gfn,
                SZ(r->oom[i].target_before), SZ(r->oom[i].target_after));
    if ( r->oom_failed )
        fprintf(f, "  the toolstack gave up: %s\n", r->oom_failed);
    if ( r->crashed )
        fprintf(f, "  THE GUEST CRASHED\n");
}

static void summary_memory(FILE *f, const struct run *r)
{
    if ( r->ran_balloon )
        fprintf(f, "  balloon: released %s from the top (1G x%llu, 2M x%llu,"
                " 4K x%llu); RAM now ends at gfn %#llx; the guest holds %llu "
                "pages, target %llu\n", SZ(r->balloon_released),
                (unsigned long long)r->balloon_chunks[p2m_level_idx(P2M_L3)],
                (unsigned long long)r->balloon_chunks[p2m_level_idx(P2M_L2)],
                (unsigned long long)r->balloon_chunks[p2m_level_idx(P2M_L1)],
                (unsigned long long)r->balloon_floor,
                (unsigned long long)r->held_after,
                (unsigned long long)r->target_pages);
    if ( r->ran_sweep )
        fprintf(f, "  sweep: %s of zero pages reclaimed into the PoD cache\n",
                SZ(r->swept > 0 ? (uint64_t)r->swept : 0));
    if ( r->ran_logdirty )
        fprintf(f, "  log-dirty: %llu pages written, %lld reported dirty "
                "(%llu of them populated on demand during the round), %llu "
                "written pages missing; %llu superpages split, %llu folded "
                "back when log-dirty went off\n",
                (unsigned long long)r->dirty_expected,
                (long long)r->dirty_found,
                (unsigned long long)r->dirty_pod_pages,
                (unsigned long long)r->dirty_missing,
                (unsigned long long)r->dirty_splits,
                (unsigned long long)r->dirty_merges);
    if ( r->verify.total )
        fprintf(f, "  verify: %llu written pages read back, %llu bad\n",
                (unsigned long long)r->verify.done,
                (unsigned long long)r->verify.bad);
}

void report_table(FILE *f, const struct run *r)
{
    unsigned int i;

    table_header(f, r);
    for ( i = 0; i < r->nr_snaps; i++ )
        table_row(f, &r->snap[i]);
    fprintf(f, "\n");
    if ( r->have_wl )
        summary_workload(f, r);
    summary_memory(f, r);
    fprintf(f, "  audit: P2M %u errors, PoD invariants %s, heap accounting "
            "%s\n", r->audit_errors, r->pod_bad ? "BROKEN" : "ok",
            r->heap_bad ? "BROKEN" : "ok");
    fprintf(f, "  host: free before the build %s, after destroy %s: %s\n",
            SZ(r->free_before), SZ(r->free_after),
            r->leak ? "PAGES WERE NOT RETURNED" : "every page returned");
    if ( r->host_leak || r->host_heap_bad )
        fprintf(f, "  host teardown: %llu pages not free, %d accounting "
                "errors\n", (unsigned long long)r->host_leak,
                r->host_heap_bad);
    fprintf(f, "result: %s\n", r->status == 0 ? "OK" :
            r->status == 1 ? "FAILED (a check above failed)" :
            "ERROR (the run stopped early)");
}

/* --- JSON --- */

/* v: one counter per leaf size, by p2m_level_idx (POD_4K.. alike). */
static void json_orders(FILE *f, const char *key, const uint64_t *v)
{
    fprintf(f, "\"%s\": {\"4k\": %llu, \"2m\": %llu, \"1g\": %llu}", key,
            (unsigned long long)v[p2m_level_idx(P2M_L1)],
            (unsigned long long)v[p2m_level_idx(P2M_L2)],
            (unsigned long long)v[p2m_level_idx(P2M_L3)]);
}

/* A JSON string: quotes, backslashes and control characters escaped. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for ( ; *s; s++ )
    {
        if ( *s == '"' || *s == '\\' )
            fprintf(f, "\\%c", *s);
        else if ( (unsigned char)*s < 0x20 )
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static void json_config(FILE *f, const struct run *r)
{
    const struct run_config *c = &r->cfg;
    char fr[32];

    fprintf(f, "  \"config\": {\"file\": ");
    json_str(f, c->path);
    fprintf(f, ", \"name\": \"%s\", "
            "\"memory\": %llu, \"maxmem\": %llu, \"target\": %llu, "
            "\"hap\": \"%s\", \"superpages\": \"%s\", \"cpu_1g\": %s, "
            "\"vcpus\": %u, \"mmio_hole\": %llu, \"dom0_mem\": %llu, "
            "\"fragment\": \"%s\", "
            "\"workload\": \"%s\"},\n", c->name,
            (unsigned long long)c->memory, (unsigned long long)c->maxmem,
            (unsigned long long)c->target, p2m_format_to_name(c->fmt),
            order_name(c->max_order), c->cpu_1g ? "true" : "false",
            c->vcpus, (unsigned long long)c->mmio_hole,
            (unsigned long long)c->dom0_mem,
            cfg_fragment_name(c, fr, sizeof(fr)),
            cfg_workload_name(c->workload));
    fprintf(f, "  \"host\": {\"total_pages\": %llu, \"frag_blocks\": %llu, "
            "\"frag_broken\": %llu, \"free_before\": %llu, \"free_after\": "
            "%llu, \"leak\": %s, \"teardown_not_free\": %llu},\n",
            (unsigned long long)r->host.total_pages,
            (unsigned long long)r->frag_blocks,
            (unsigned long long)r->frag_broken,
            (unsigned long long)r->free_before,
            (unsigned long long)r->free_after, r->leak ? "true" : "false",
            (unsigned long long)r->host_leak);
}

static void json_build(FILE *f, const struct run *r)
{
    const struct xc_hvm_build_report *b = &r->build;
    unsigned int i;

    fprintf(f, "  \"build\": {\"error\": %d, \"pod\": %s, \"pages\": %llu, "
            "\"layout\": [", r->build_rc, b->pod ? "true" : "false",
            (unsigned long long)b->layout.pages);
    for ( i = 0; i < b->layout.nr_ram; i++ )
        fprintf(f, "%s[%llu, %llu]", i ? ", " : "",
                (unsigned long long)b->layout.ram[i].start,
                (unsigned long long)b->layout.ram[i].end);
    fprintf(f, "], ");
    json_orders(f, "extents", b->extents);
    fprintf(f, ", \"want_1g\": %llu, \"fallback_1g\": {\"fragmentation\": "
            "%llu, \"alignment\": %llu, \"hole\": %llu}, \"fallback_2m\": "
            "%llu, \"target_pages\": %llu, ",
            (unsigned long long)b->want_1g,
            (unsigned long long)b->fallback_1g[XC_FB_FRAG],
            (unsigned long long)b->fallback_1g[XC_FB_ALIGN],
            (unsigned long long)b->fallback_1g[XC_FB_HOLE],
            (unsigned long long)b->fallback_2m,
            (unsigned long long)b->target_pages);
    json_orders(f, "pod_cache", b->pod_cache);
    fprintf(f, ", \"seconds\": %.6f},\n", b->seconds);
}

static void json_snap(FILE *f, const struct run_snap *s, bool last)
{
    fprintf(f, "    {\"phase\": \"%s\", \"start\": %.6f, \"seconds\": %.6f, "
            "\"host_free\": %llu", s->phase, s->start, s->seconds,
            (unsigned long long)s->host_free);
    if ( s->guest )
    {
        fprintf(f, ", ");
        json_orders(f, "leaves", s->leaves);
        fprintf(f, ", ");
        json_orders(f, "pod_filled", s->filled);
        fprintf(f, ", ");
        json_orders(f, "pod_swept", s->swept);
        fprintf(f, ", \"populated\": %llu, \"pod_cache\": %llu, "
                "\"pod_entries\": %llu, \"tot_pages\": %llu, \"target\": "
                "%llu, \"splits\": %llu, \"merges\": %llu, \"table_pages\": "
                "%llu",
                (unsigned long long)s->populated,
                (unsigned long long)s->pod_cache,
                (unsigned long long)s->pod_entries,
                (unsigned long long)s->tot_pages,
                (unsigned long long)s->target,
                (unsigned long long)s->splits,
                (unsigned long long)s->merges,
                (unsigned long long)s->table_pages);
    }
    fprintf(f, "}%s\n", last ? "" : ",");
}

static void json_vcpus(FILE *f, const char *key, const struct wl_vcpu *v)
{
    fprintf(f, "\"%s\": {\"accesses\": %llu, \"fills\": %llu, \"writes\": "
            "%llu, \"reads\": %llu, \"bad\": %llu, \"pauses\": %llu, "
            "\"error\": %d}", key, (unsigned long long)v->done,
            (unsigned long long)v->fills, (unsigned long long)v->writes,
            (unsigned long long)v->reads, (unsigned long long)v->bad,
            (unsigned long long)v->pauses, v->error);
}

static void json_guest(FILE *f, const struct run *r)
{
    unsigned int i;

    fprintf(f, "  \"workload\": {");
    json_vcpus(f, "boot", &r->boot);
    fprintf(f, ", ");
    json_vcpus(f, "dirty", &r->dirty);
    fprintf(f, ", ");
    json_vcpus(f, "verify", &r->verify);
    fprintf(f, ", \"crashed\": %s},\n", r->crashed ? "true" : "false");
    fprintf(f, "  \"oom\": {\"raised\": %llu, \"gave_up\": %s%s%s, "
            "\"events\": [", (unsigned long long)r->oom_total,
            r->oom_failed ? "\"" : "", r->oom_failed ? r->oom_failed : "null",
            r->oom_failed ? "\"" : "");
    for ( i = 0; i < r->nr_oom; i++ )
        fprintf(f, "%s{\"t\": %.6f, \"vcpu\": %u, \"gfn\": %llu, "
                "\"target_before\": %llu, \"target_after\": %llu}",
                i ? ", " : "", r->oom[i].t, r->oom[i].vcpu,
                (unsigned long long)r->oom[i].gfn,
                (unsigned long long)r->oom[i].target_before,
                (unsigned long long)r->oom[i].target_after);
    fprintf(f, "]},\n  \"balloon\": {\"ran\": %s, \"released\": %llu, ",
            r->ran_balloon ? "true" : "false",
            (unsigned long long)r->balloon_released);
    json_orders(f, "chunks", r->balloon_chunks);
    fprintf(f, ", \"floor\": %llu, \"held\": %llu, \"target\": %llu},\n",
            (unsigned long long)r->balloon_floor,
            (unsigned long long)r->held_after,
            (unsigned long long)r->target_pages);
    fprintf(f, "  \"sweep\": {\"ran\": %s, \"pages\": %lld},\n",
            r->ran_sweep ? "true" : "false", (long long)r->swept);
    fprintf(f, "  \"logdirty\": {\"ran\": %s, \"written\": %llu, \"dirty\": "
            "%lld, \"pod_populated\": %llu, \"missing\": %llu, "
            "\"splits\": %llu, \"merges\": %llu},\n",
            r->ran_logdirty ? "true" : "false",
            (unsigned long long)r->dirty_expected, (long long)r->dirty_found,
            (unsigned long long)r->dirty_pod_pages,
            (unsigned long long)r->dirty_missing,
            (unsigned long long)r->dirty_splits,
            (unsigned long long)r->dirty_merges);
}

void report_json(FILE *f, const struct run *r)
{
    unsigned int i;

    fprintf(f, "{\n");
    json_config(f, r);
    json_build(f, r);
    fprintf(f, "  \"phases\": [\n");
    for ( i = 0; i < r->nr_snaps; i++ )
        json_snap(f, &r->snap[i], i + 1 == r->nr_snaps);
    fprintf(f, "  ],\n");
    json_guest(f, r);
    fprintf(f, "  \"audit\": {\"p2m_errors\": %u, \"pod_check\": %d, "
            "\"heap_check\": %d, \"clean\": %s},\n", r->audit_errors,
            r->pod_bad, r->heap_bad,
            !r->audit_errors && !r->pod_bad && !r->heap_bad ? "true"
                                                            : "false");
    fprintf(f, "  \"status\": %d, \"ok\": %s\n}\n", r->status,
            r->status == 0 ? "true" : "false");
}

/* --- the dump and the plot --- */

static int dump_leaf(void *ctx, gfn_t gfn, const struct p2m_lookup *l)
{
    FILE *f = ctx;

    if ( mfn_eq(l->mfn, INVALID_MFN) )
        fprintf(f, "%#llx %u %s -\n", (unsigned long long)gfn_x(gfn),
                l->order, p2m_type_name(l->type));
    else
        fprintf(f, "%#llx %u %s %#llx\n", (unsigned long long)gfn_x(gfn),
                l->order, p2m_type_name(l->type),
                (unsigned long long)mfn_x(l->mfn));
    return 0;
}

int report_dump(const struct run *r, FILE *f, const char *path)
{
    int bad;

    fprintf(f, "# P2M of d%u after the build: gfn order type mfn\n",
            RUN_GUEST_ID);
    p2m_for_each_leaf(&r->d->p2m, dump_leaf, f);
    bad = ferror(f);
    if ( fclose(f) || bad )
        return fprintf(stderr, "p2mctl: %s: write failed\n", path), -1;
    return 0;
}

static void series_array(FILE *f, const struct run *r, const char *key,
                         size_t off)
{
    size_t i;

    fprintf(f, "  \"%s\": [", key);
    for ( i = 0; i < r->nr_series; i++ )
        fprintf(f, "%s%llu", i ? ", " : "", (unsigned long long)
                *(const uint64_t *)((const char *)&r->series[i] + off));
    fprintf(f, "],\n");
}

static int write_series(const struct run *r, const char *path)
{
    FILE *f = fopen(path, "w");
    size_t i;
    int bad;

    if ( !f )
        return fprintf(stderr, "p2mctl: %s: %s\n", path, strerror(errno)), -1;
    fprintf(f, "{\n  \"title\": \"%s: %s, memory %llu MiB, maxmem %llu MiB, "
            "%u vCPUs\",\n  \"phases\": [", r->cfg.name,
            cfg_workload_name(r->cfg.workload),
            (unsigned long long)r->cfg.memory,
            (unsigned long long)r->cfg.maxmem, r->cfg.vcpus);
    for ( i = 0; i < r->nr_snaps; i++ )
        fprintf(f, "%s{\"name\": \"%s\", \"start\": %.6f, \"end\": %.6f}",
                i ? ", " : "", r->snap[i].phase, r->snap[i].start,
                r->snap[i].start + r->snap[i].seconds);
    fprintf(f, "],\n  \"t\": [");
    for ( i = 0; i < r->nr_series; i++ )
        fprintf(f, "%s%.6f", i ? ", " : "", r->series[i].t);
    fprintf(f, "],\n");
    series_array(f, r, "populated", offsetof(struct run_sample, populated));
    series_array(f, r, "pod_cache", offsetof(struct run_sample, cache));
    series_array(f, r, "pod_entries", offsetof(struct run_sample, entries));
    series_array(f, r, "mapped_4k", offsetof(struct run_sample,
                                             mapped[p2m_level_idx(P2M_L1)]));
    series_array(f, r, "mapped_2m", offsetof(struct run_sample,
                                             mapped[p2m_level_idx(P2M_L2)]));
    series_array(f, r, "mapped_1g", offsetof(struct run_sample,
                                             mapped[p2m_level_idx(P2M_L3)]));
    series_array(f, r, "host_free", offsetof(struct run_sample, host_free));
    fprintf(f, "  \"page_size\": %lu\n}\n", PAGE_SIZE);
    bad = ferror(f);
    if ( fclose(f) || bad )
        return fprintf(stderr, "p2mctl: %s: write failed\n", path), -1;
    return 0;
}

/* tools/plot.py of the tree this binary was built in (or $P2MCTL_PLOT). */
static int find_plot_script(char *out, size_t len)
{
    char exe[PATH_MAX], *slash;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    unsigned int up;

    if ( getenv("P2MCTL_PLOT") )
        return snprintf(out, len, "%s", getenv("P2MCTL_PLOT")), 0;
    if ( n > 0 )
    {
        exe[n] = '\0';
        for ( up = 0; up < 4 && (slash = strrchr(exe, '/')); up++ )
        {
            *slash = '\0';
            if ( (size_t)snprintf(out, len, "%s/tools/plot.py", exe) < len &&
                 !access(out, R_OK) )
                return 0;
        }
    }
    snprintf(out, len, "tools/plot.py");
    return access(out, R_OK) ? -1 : 0;
}

static int run_python(const char *script, const char *series,
                      const char *png)
{
    int status;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if ( pid == 0 )
    {
        execl("/usr/bin/python3", "python3", script, series, png,
              (char *)NULL);
        _exit(127);
    }
    if ( pid < 0 || waitpid(pid, &status, 0) < 0 )
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int report_plot(const struct run *r, const char *png)
{
    char series[PATH_MAX], script[PATH_MAX];
    size_t n = strlen(png);
    int rc;

    snprintf(series, sizeof(series), "%.*s.series.json",
             (int)(n > 4 && !strcmp(png + n - 4, ".png") ? n - 4 : n), png);
    if ( write_series(r, series) )
        return -1;
    if ( find_plot_script(script, sizeof(script)) )
        return fprintf(stderr, "p2mctl: no plot: tools/plot.py not found "
                       "(set P2MCTL_PLOT); the series is in %s\n", series), -1;
    rc = run_python(script, series, png);
    if ( rc == PLOT_NO_MATPLOTLIB )
    {
        fprintf(stderr, "p2mctl: no plot: python3-matplotlib is not "
                "installed (apt-get install python3-matplotlib); the series "
                "is in %s\n", series);
        return 0;
    }
    if ( rc )
        return fprintf(stderr, "p2mctl: plotting %s failed (%s exited with "
                       "%d)\n", png, script, rc), -1;
    fprintf(stderr, "p2mctl: plot: %s (series: %s)\n", png, series);
    return 0;
}
