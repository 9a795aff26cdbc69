/*
 * The figures of one bench run, for build/bench/results.json.
 *
 * Each bench binary writes the figures it printed, one JSON object per
 * line, to <dir>/<bench>.jsonl, where <dir> is $BENCH_RESULTS_DIR or
 * build/bench; `make bench` joins the files into results.json.  An object:
 *   {"name": ..., "value": ..., "unit": ..., "baseline": ..., "ratio": ...}
 * The baseline was measured in the same run as the value, in the same unit,
 * and ratio = value / baseline: what the figure costs next to the best
 * simple way of doing the same work (a flat array, memset, one thread).
 * The names are stable; docs/bench.md says what each one measures.
 */
#ifndef BENCH_RESULTS_H
#define BENCH_RESULTS_H

#include <stdio.h>
#include <stdlib.h>

static FILE *results_file;

/* Start this bench's file (truncated: a run replaces its own figures). */
static inline void results_open(const char *bench)
{
    const char *dir = getenv("BENCH_RESULTS_DIR");
    char path[512];

    snprintf(path, sizeof(path), "%s/%s.jsonl", dir ? dir : "build/bench",
             bench);
    results_file = fopen(path, "w");
    if ( !results_file )
        fprintf(stderr, "%s: cannot write %s; figures printed only\n", bench,
                path);
}

/* One figure next to its same-run baseline. */
static inline void result(const char *name, double value, const char *unit,
                          double baseline)
{
    if ( !results_file )
        return;
    fprintf(results_file, "{\"name\": \"%s\", \"value\": %.6g, \"unit\": "
            "\"%s\", \"baseline\": %.6g, \"ratio\": %.4f}\n", name, value,
            unit, baseline, baseline ? value / baseline : 0.0);
    fflush(results_file);
}

#endif /* BENCH_RESULTS_H */
