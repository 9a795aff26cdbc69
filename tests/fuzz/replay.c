/*
 * Replay driver for the fuzzer's inputs, without libFuzzer: every file
 * given (or every file in a directory given) runs in a child process, one
 * TAP line each, so `make test` counts them.
 *
 *   test_fuzz_replay [--known LIST] [--avoid LIST] PATH...
 *   test_fuzz_replay            (make test: the regressions, then the
 *                                hand-written corpus seeds, seed-*, from
 *                                the top of the tree; make fuzz-test
 *                                replays all of the corpus)
 *
 * Files of tests/fuzz/regressions/ are named <finding>-<what>; a file whose
 * finding is in --known (default: $FUZZ_KNOWN) is skipped while that
 * finding is open.  --avoid (default: $FUZZ_AVOID) is passed to the
 * harness: corpus seeds replay with the known findings avoided, as the
 * fuzzer runs them; regressions replay with nothing avoided.
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned int nr;
static int failed;

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long n;

    if ( !f )
        return -1;
    if ( fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) )
    {
        fclose(f);
        return -1;
    }
    *buf = malloc(n ? (size_t)n : 1);
    *len = (size_t)n;
    if ( !*buf || fread(*buf, 1, *len, f) != *len )
    {
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

static void run_one(const char *path, uint32_t known,
                    const struct fuzz_opts *o)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    uint32_t bit = fuzz_known_bit(path);
    int status = 0;
    pid_t pid;

    nr++;
    if ( bit & known )
    {
        printf("ok %u - %s # SKIP known open finding\n", nr, path);
        return;
    }
    if ( read_file(path, &buf, &len) )
    {
        printf("not ok %u - %s (cannot read)\n", nr, path);
        failed = 1;
        return;
    }
    fflush(stdout);
    pid = fork();
    if ( pid == 0 )
        exit(fuzz_run(buf, len, o));    /* exit: coverage dumps run */
    free(buf);
    if ( pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
         WEXITSTATUS(status) )
    {
        printf("not ok %u - %s\n", nr, path);
        failed = 1;
        return;
    }
    printf("ok %u - %s\n", nr, path);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Every file of path (a file or a directory) whose name starts with pre. */
static void run_path(const char *path, const char *pre, uint32_t known,
                     const struct fuzz_opts *o)
{
    struct dirent **ents;
    struct stat st;
    int n, i;

    if ( stat(path, &st) || !S_ISDIR(st.st_mode) )
    {
        run_one(path, known, o);
        return;
    }
    n = scandir(path, &ents, NULL, by_name);
    for ( i = 0; i < n; i++ )
    {
        char *p;

        if ( ents[i]->d_name[0] != '.' &&
             !strncmp(ents[i]->d_name, pre, strlen(pre)) &&
             asprintf(&p, "%s/%s", path, ents[i]->d_name) >= 0 )
        {
            run_one(p, known, o);
            free(p);
        }
        free(ents[i]);
    }
    if ( n >= 0 )
        free(ents);
}

/* The known-open list: $FUZZ_KNOWN, else tests/fuzz/known-open. */
static uint32_t known_open(void)
{
    const char *env = getenv("FUZZ_KNOWN");
    char line[256];
    uint32_t bits = 0;
    FILE *f;

    if ( env )
        return fuzz_parse_known(env);
    f = fopen("tests/fuzz/known-open", "r");
    while ( f && fgets(line, sizeof(line), f) )
    {
        line[strcspn(line, "#")] = 0;
        bits |= fuzz_parse_known(line);
    }
    if ( f )
        fclose(f);
    return bits;
}

int main(int argc, char **argv)
{
    uint32_t known = known_open();
    struct fuzz_opts o;
    int i;

    fuzz_opts_from_env(&o);
    if ( argc == 1 )
    {
        o.avoid = 0;
        run_path("tests/fuzz/regressions", "", known, &o);
        o.avoid = known;
        run_path("tests/fuzz/corpus", "seed-", 0, &o);
    }
    for ( i = 1; i < argc; i++ )
    {
        if ( !strcmp(argv[i], "--known") && i + 1 < argc )
            known = fuzz_parse_known(argv[++i]);
        else if ( !strcmp(argv[i], "--avoid") && i + 1 < argc )
            o.avoid = fuzz_parse_known(argv[++i]);
        else
            run_path(argv[i], "", known, &o);
    }
    printf("1..%u\n", nr);
    return failed;
}
