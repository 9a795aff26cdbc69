/*
 * The main job by vCPU count: how the boot phase of examples/default.cfg
 * (a guest that zeroes all its memory while the sweeper takes the zero
 * pages back) scales with vCPUs, and how a zeroing touch behaves with more
 * vCPU threads than cores.  It runs the p2mctl binary beside this bench
 * (build/p2mctl) as `make run` does, so the figures include everything a
 * user's run pays.  Each figure is a time next to the same work with fewer
 * vCPUs in the same run:
 *   run_boot_scaling_2v     boot phase with 2 vCPUs / with 1
 *   run_boot_scaling_4v     boot phase with 4 vCPUs / with 1
 *   oversubscribed_8v_vs_2v touch ... zero over 3 GiB of PoD (64M target)
 *                           with 8 vCPU threads / with 2
 *
 * Usage: bench_run [--quick]   (--quick: a 512 MiB / 1 GiB guest, and
 *                               the touch over 1 GiB)
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "results.h"

#define REPS 3                  /* runs of each figure; the best counts */
#define MIN(a, b) ((a) < (b) ? (a) : (b))

static char p2mctl[4096];
static char tmpdir[] = "/tmp/bench_run.XXXXXX";

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_run: %s\n", what);
    exit(1);
}

/* Run `p2mctl args...` with stdout to out (NULL: discarded); 0 if it
 * exited 0. */
static int run_p2mctl(const char *out, char *const argv[])
{
    pid_t pid;

    fflush(stdout);             /* the child must not print it again */
    pid = fork();
    int st;

    if ( pid < 0 )
        die("fork");
    if ( pid == 0 )
    {
        if ( !freopen(out ? out : "/dev/null", "w", stdout) ||
             !freopen("/dev/null", "w", stderr) )
            _exit(127);
        execv(p2mctl, argv);
        _exit(127);
    }
    if ( waitpid(pid, &st, 0) < 0 )
        die("waitpid");
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    if ( !f || fputs(text, f) < 0 || fclose(f) )
        die("cannot write a file in the temporary directory");
}

/* The seconds of the phase "boot" in a `p2mctl run --json` report. */
static double boot_seconds(const char *json_path)
{
    static char buf[1 << 20];
    FILE *f = fopen(json_path, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    const char *p;
    double s;

    if ( f )
        fclose(f);
    buf[n] = 0;
    p = strstr(buf, "\"phase\": \"boot\"");
    if ( !p || !(p = strstr(p, "\"seconds\": ")) ||
         sscanf(p, "\"seconds\": %lf", &s) != 1 )
        die("no boot phase in p2mctl's report");
    if ( !strstr(buf, "\"ok\": true") )
        die("the main job failed");
    return s;
}

/* The main job's scenario with `vcpus` vCPUs; returns the boot phase. */
static double run_boot(unsigned int vcpus, bool quick)
{
    char cfg[8192], path[256], out[256];
    char *argv[] = { "p2mctl", "run", path, "--json", NULL };

    snprintf(cfg, sizeof(cfg),
             "# bench_run: examples/default.cfg with vcpus = %u\n"
             "name = \"win\"\nmemory = %u\nmaxmem = %u\nvcpus = %u\n"
             "hap = \"ept\"\nsuperpages = \"1g\"\nmmio_hole = 256\n"
             "host = \"%s\"\nhost_ram = \"%s\"\nfragment = \"50%%\"\n"
             "workload = \"windows-boot\"\ndirty = 4096\n", vcpus,
             quick ? 512 : 8192, quick ? 1024 : 16384, vcpus,
             quick ? "5G" : "65G",
             quick ? "0-640K,1M-3G,4G-5G" : "0-640K,1M-3G,4G-65G");
    snprintf(path, sizeof(path), "%s/boot-%u.cfg", tmpdir, vcpus);
    snprintf(out, sizeof(out), "%s/boot-%u.json", tmpdir, vcpus);
    write_file(path, cfg);
    if ( run_p2mctl(out, argv) )
        die("p2mctl run failed");
    return boot_seconds(out);
}

/* touch ... zero over gib GiB of PoD memory, 64M target, with `vcpus`
 * vCPU threads; returns the wall time of the whole script. */
static double run_touch(unsigned int vcpus, unsigned int gib)
{
    char script[1024], path[256];
    char *argv[] = { "p2mctl", path, NULL };
    unsigned int i;
    int n;
    double t;

    n = snprintf(script, sizeof(script), "host %uG\ncreate 1 hap=npt "
                 "maxmem=%uG vcpus=%u\n", gib + 2, gib, vcpus);
    for ( i = 0; i < gib; i++ )
        n += snprintf(script + n, sizeof(script) - n, "pod 1 %#x 18\n",
                      i << 18);
    snprintf(script + n, sizeof(script) - n, "target 1 64M\ntouch 1 0 %#x "
             "zero vcpus=%u\ncheck\n", (gib << 18) - 1, vcpus);
    snprintf(path, sizeof(path), "%s/touch-%u.p2m", tmpdir, vcpus);
    write_file(path, script);
    t = now();
    if ( run_p2mctl(NULL, argv) )
        die("p2mctl touch script failed");
    return now() - t;
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    const char *slash = strrchr(argv[0], '/');
    double b1, b2, b4, t2, t8;
    unsigned int gib = quick ? 1 : 3, rep;

#ifdef P2M_DEBUG
    printf("bench_run: this is a debug build; its figures mean nothing.  "
           "Use `make bench`.\n");
    return 0;
#endif
    snprintf(p2mctl, sizeof(p2mctl), "%.*s/../p2mctl",
             slash ? (int)(slash - argv[0]) : 1, slash ? argv[0] : ".");
    if ( access(p2mctl, X_OK) )
        die("no p2mctl beside the bench (build/p2mctl): run make");
    if ( !mkdtemp(tmpdir) )
        die("mkdtemp");
    results_open("bench_run");
    printf("bench_run: the main job (examples/default.cfg%s) by vCPU count, "
           "%ld CPUs; p2mctl %s\n", quick ? ", --quick: 512 MiB / 1 GiB" :
           "", sysconf(_SC_NPROCESSORS_ONLN), p2mctl);
    /* Best of REPS, the vCPU counts taken in turn: this machine's memory
     * bandwidth drifts between runs, and every count sees the same drift. */
    b1 = b2 = b4 = t2 = t8 = 1e9;
    for ( rep = 0; rep < REPS; rep++ )
    {
        b1 = MIN(b1, run_boot(1, quick));
        b2 = MIN(b2, run_boot(2, quick));
        b4 = MIN(b4, run_boot(4, quick));
    }
    printf("boot phase (best of %u): 1 vCPU %.2f s, 2 vCPUs %.2f s (x%.2f), "
           "4 vCPUs %.2f s (x%.2f)   baseline: the 1-vCPU run\n", REPS, b1,
           b2, b2 / b1, b4, b4 / b1);
    result("run_boot_scaling_2v", b2, "s", b1);
    result("run_boot_scaling_4v", b4, "s", b1);
    for ( rep = 0; rep < REPS; rep++ )
    {
        t2 = MIN(t2, run_touch(2, gib));
        t8 = MIN(t8, run_touch(8, gib));
    }
    printf("touch zero over %u GiB of PoD, 64M target (best of %u): 8 vCPU "
           "threads %.2f s   baseline 2 threads %.2f s  (x%.2f)\n", gib, REPS,
           t8, t2, t8 / t2);
    result("oversubscribed_8v_vs_2v", t8, "s", t2);
    return 0;
}
