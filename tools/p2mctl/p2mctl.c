/*
 * p2mctl: build a hosted machine, create domains and drive their P2M from a
 * script, printing JSON for what it inspects.
 *
 *   p2mctl [script | -]       commands from the file, or from stdin
 *
 * One command per line; '#' starts a comment; blank lines are skipped.  The
 * first failing line is reported as "p2mctl: line N: ..." and ends the run
 * (exit status 2), unless the command is prefixed with "try": then its
 * error is reported and the run goes on.  At exit every domain left is destroyed and the heap
 * accounting is checked: a leak makes the exit status non-zero.
 */
#include "p2mctl.h"
#include "io.h"
#include "run.h"

#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 16

static const struct cmd cmds[] = {
    { "host", 1, 3, "host <size> [ram=<start>-<end>,...] "
      "[fragment=none|no1g|no2m]", cmd_host },
    { "create", 2, 4, "create <dom> hap=npt|ept [maxmem=<size>] "
      "[vcpus=<n>]", cmd_create },
    { "map", 4, 6, "map <dom> <gfn> <mfn>|auto <order> [type=<type>] "
      "[access=<rwx>]", cmd_map },
    { "unmap", 3, 3, "unmap <dom> <gfn> <order>", cmd_unmap },
    { "iomem", 3, 3, "iomem <dom> <mfn> <nr>", cmd_iomem },
    { "translate", 2, 2, "translate <dom> <gfn>", cmd_translate },
    { "settype", 4, 4, "settype <dom> <gfn> <order> <type>", cmd_settype },
    { "logdirty", 2, 2, "logdirty <dom> on|on-eager|off|peek|clean", cmd_logdirty },
    { "write", 2, 3, "write <dom> <gfn> [value]", cmd_write },
    { "read", 2, 2, "read <dom> <gfn>", cmd_read },
    { "audit", 1, 1, "audit <dom>", cmd_audit },
    { "stats", 1, 1, "stats <dom>", cmd_stats },
    { "dump", 2, 2, "dump <dom> <file>", cmd_dump },
    { "dumptables", 2, 2, "dumptables <dom> <file>", cmd_dumptables },
    { "destroy", 1, 1, "destroy <dom>", cmd_destroy },
    { "check", 0, 0, "check", cmd_check },
    { "pod", 3, 3, "pod <dom> <gfn> <order>", cmd_pod },
    { "target", 2, 2, "target <dom> <size>", cmd_target },
    { "balloon", 2, 2, "balloon <dom> <size>", cmd_balloon },
    { "decrease", 4, 4, "decrease <dom> <gfn> <nr> <order>", cmd_decrease },
    { "sweep", 1, 2, "sweep <dom> [all|eager|emergency]", cmd_sweep },
    { "touch", 4, 5, "touch <dom> <gfn-first> <gfn-last> "
      "read|write|zero|verify [vcpus=<n>]", cmd_touch },
    { "resume", 1, 1, "resume <dom>", cmd_resume },
    { "policy", 2, 2, "policy <dom> oom=pause|crash", cmd_policy },
    { "events", 1, 1, "events <dom>", cmd_events },
    { "fail", 1, 3, "fail table <dom> <n> | fail heap <n> | fail off",
      cmd_fail },
};

/* Cut line into words, dropping a '#' comment.  Returns the word count. */
static int split_words(struct cli *c, char *line, char **w)
{
    char *hash = strchr(line, '#'), *save = NULL, *tok;
    unsigned int n = 0;

    if ( hash )
        *hash = '\0';
    for ( tok = strtok_r(line, " \t\r\n", &save); tok;
          tok = strtok_r(NULL, " \t\r\n", &save) )
    {
        if ( n == MAX_WORDS )
            return cli_err(c, "more than %u words", MAX_WORDS);
        w[n++] = tok;
    }
    return n;
}

/* Run one line.  0, or -1 after reporting the error. */
static int run_line(struct cli *c, char *line)
{
    char *w[MAX_WORDS];
    unsigned int i, args;
    bool tolerate = false;
    int n, rc;

    c->cmd = "p2mctl";
    n = split_words(c, line, w);
    if ( n <= 0 )
        return n;
    if ( n > 1 && !strcmp(w[0], "try") )
    {
        /* "try <command>": its failure is reported, and the script goes
         * on (to look at what a command that failed half-way left). */
        tolerate = true;
        memmove(w, w + 1, --n * sizeof(*w));
    }
    c->cmd = w[0];
    for ( i = 0; i < ARRAY_SIZE(cmds) && strcmp(cmds[i].name, w[0]); i++ )
        ;
    if ( i == ARRAY_SIZE(cmds) )
        return cli_err(c, "unknown command");
    args = n - 1;
    if ( args < cmds[i].min_args || args > cmds[i].max_args )
        return cli_err(c, "%s arguments; usage: %s",
                       args < cmds[i].min_args ? "missing" : "too many",
                       cmds[i].usage);
    if ( !c->have_host && cmds[i].run != cmd_host )
        return cli_err(c, "no host yet: the script must start with "
                       "`host <size>`");
    rc = cmds[i].run(c, n, w);
    return tolerate ? 0 : rc;
}

/*
 * Run the script in f until its end or the first failing line.  A NUL byte
 * would silently end the line for every parser after the read, so the line
 * is refused instead.
 */
static int run_script(struct cli *c, FILE *f, const char *path)
{
    char line[IO_MAX_LINE + 1];
    long len;
    int rc = 0;

    while ( !rc && (len = read_line(f, line)) != -1 )
    {
        c->line++;
        c->cmd = "p2mctl";
        if ( len == IO_TOO_LONG )
            rc = cli_err(c, "line longer than %u bytes", IO_MAX_LINE);
        else if ( strlen(line) != (size_t)len )
            rc = cli_err(c, "NUL byte at column %zu", strlen(line) + 1);
        else
            rc = run_line(c, line);
    }
    if ( !rc && ferror(f) )
    {
        fflush(stdout);
        fprintf(stderr, "p2mctl: %s: reading the script failed after line "
                "%lu: %m\n", path, c->line);
        rc = -1;
    }
    return rc;
}

/*
 * Destroy what the script left, then prove that nothing leaked: the heap
 * accounting holds and every frame is free again.  Returns 0 or -1.
 */
static int shutdown_machine(struct cli *c)
{
    struct heap_stats s;
    int bad, rc = 0;
    domid_t id;

    if ( !c->have_host )
        return 0;
    /* Live domains first: destroying them could hide a miscount. */
    bad = heap_check_accounting();
    for ( id = 0; id < MAX_DOMAINS; id++ )
        if ( domain_lookup(id) )
            domain_destroy(domain_lookup(id));
    heap_unfragment();
    bad += heap_check_accounting();
    heap_get_stats(&s);
    if ( bad )
    {
        fprintf(stderr, "p2mctl: at exit: heap accounting found %d errors\n",
                bad);
        rc = -1;
    }
    if ( s.free_pages != s.total_pages )
    {
        fprintf(stderr, "p2mctl: at exit: %llu of %llu pages not free after "
                "destroying every domain (leak)\n",
                (unsigned long long)(s.total_pages - s.free_pages),
                (unsigned long long)s.total_pages);
        rc = -1;
    }
    hosted_machine_fini();
    return rc;
}

static int script_main(const char *path)
{
    struct cli c = { 0 };
    FILE *f = strcmp(path, "-") ? open_input(path) : stdin;
    int status = P2MCTL_OK;

    if ( !f )
    {
        fprintf(stderr, "p2mctl: %s: %m\n", path);
        return P2MCTL_BAD;
    }
    if ( run_script(&c, f, f == stdin ? "stdin" : path) )
        status = P2MCTL_BAD;
    else if ( c.not_ok )
        status = P2MCTL_NOT_OK;
    if ( f != stdin )
        fclose(f);
    fflush(stdout);
    if ( shutdown_machine(&c) && status == P2MCTL_OK )
        status = P2MCTL_NOT_OK;
    return status;
}

static void usage(FILE *f)
{
    unsigned int i;

    fprintf(f, "usage: p2mctl run <scenario.cfg> [--json] [--plot out.png] "
               "[--dump file] [--build-only]\n"
               "       p2mctl [script | -]\n"
               "Runs commands, one per line, from script or stdin:\n");
    for ( i = 0; i < ARRAY_SIZE(cmds); i++ )
        fprintf(f, "  %s\n", cmds[i].usage);
}

int main(int argc, char **argv)
{
    if ( argc > 1 && !strcmp(argv[1], "run") )
        return p2mctl_run(argc - 1, argv + 1);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if ( argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) )
    {
        usage(stdout);
        return P2MCTL_OK;
    }
    /* Subcommands (such as `p2mctl run <cfg>`) are dispatched here on
     * argv[1]; anything else names a script. */
    if ( argc > 2 )
    {
        usage(stderr);
        return P2MCTL_BAD;
    }
    return script_main(argc > 1 ? argv[1] : "-");
}
