/*
 * p2mctl: drive the P2M module on the hosted platform from a script, one
 * command per line.  Shared by the script reader (p2mctl.c), argument
 * parsing and error reports (args.c) and the commands (cmd-*.c).
 *
 * Every command parses and checks all of its arguments before it calls the
 * module, so a bad line changes nothing; the module itself guarantees the
 * same for the errors it returns.
 */
#ifndef P2MCTL_H
#define P2MCTL_H

#include "hosted.h"

#include <stdio.h>

#include <xen/mm.h>
#include <xen/sched.h>

/* Exit statuses. */
#define P2MCTL_OK      0
#define P2MCTL_NOT_OK  1   /* an audit or check failed, or a leak at exit */
#define P2MCTL_BAD     2   /* a line failed: bad input or a module error */

/* The state of one script run. */
struct cli {
    unsigned long line;     /* number of the line being run (1-based) */
    const char *cmd;        /* its command name, for messages */
    bool have_host;         /* `host` ran: the machine exists */
    bool not_ok;            /* an audit or check reported a problem */
};

/* A command: handlers return 0, or -1 after reporting the error. */
struct cmd {
    const char *name;
    unsigned int min_args, max_args;    /* words after the name */
    const char *usage;
    int (*run)(struct cli *c, unsigned int argc, char **argv);
};

/* Commands (argv[0] is the command name). */
int cmd_host(struct cli *c, unsigned int argc, char **argv);
int cmd_create(struct cli *c, unsigned int argc, char **argv);
int cmd_destroy(struct cli *c, unsigned int argc, char **argv);
int cmd_map(struct cli *c, unsigned int argc, char **argv);
int cmd_unmap(struct cli *c, unsigned int argc, char **argv);
int cmd_iomem(struct cli *c, unsigned int argc, char **argv);
int cmd_translate(struct cli *c, unsigned int argc, char **argv);
int cmd_settype(struct cli *c, unsigned int argc, char **argv);
int cmd_check(struct cli *c, unsigned int argc, char **argv);
int cmd_logdirty(struct cli *c, unsigned int argc, char **argv);
int cmd_write(struct cli *c, unsigned int argc, char **argv);
int cmd_read(struct cli *c, unsigned int argc, char **argv);
int cmd_audit(struct cli *c, unsigned int argc, char **argv);
int cmd_stats(struct cli *c, unsigned int argc, char **argv);
int cmd_dump(struct cli *c, unsigned int argc, char **argv);
int cmd_dumptables(struct cli *c, unsigned int argc, char **argv);
int cmd_pod(struct cli *c, unsigned int argc, char **argv);
int cmd_target(struct cli *c, unsigned int argc, char **argv);
int cmd_balloon(struct cli *c, unsigned int argc, char **argv);
int cmd_decrease(struct cli *c, unsigned int argc, char **argv);
int cmd_fail(struct cli *c, unsigned int argc, char **argv);
int cmd_sweep(struct cli *c, unsigned int argc, char **argv);
int cmd_touch(struct cli *c, unsigned int argc, char **argv);
int cmd_resume(struct cli *c, unsigned int argc, char **argv);
int cmd_policy(struct cli *c, unsigned int argc, char **argv);
int cmd_events(struct cli *c, unsigned int argc, char **argv);

/* Drop the unfinished `touch` work remembered for domain id (cmd-pod.c). */
void pod_touch_forget(domid_t id);

/*
 * Report an error of the current line on stderr, as
 * "p2mctl: line N: <cmd>: <message>".  Both return -1.
 * cli_errno names a negative errno rc (e.g. "ENXIO") and says what it means;
 * why, when not NULL, replaces the generic meaning.
 */
int cli_err(struct cli *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int cli_errno(struct cli *c, int rc, const char *why);

/* "ENXIO" for -ENXIO or ENXIO; NULL if the value is not in xen/errno.h. */
const char *errno_name(int rc);
/* What the error means, in a few words ("unknown error" if not known). */
const char *errno_meaning(int rc);

/*
 * Argument parsers: 0, or -1 after reporting what is wrong with s.
 * Numbers are decimal or 0x hex, a leading 0 still decimal; sizes take
 * K/M/G/T suffixes and sums with '+' (the grammar is in num.h).
 */
int arg_u64(struct cli *c, const char *what, const char *s, uint64_t *v);
int arg_size(struct cli *c, const char *what, const char *s, uint64_t *bytes);
int arg_order(struct cli *c, const char *s, unsigned int *order);
int arg_type(struct cli *c, const char *s, p2m_type_t *t);
int arg_access(struct cli *c, const char *s, p2m_access_t *a);
/* A domain id (0..15, "d" prefix allowed) of an existing domain. */
int arg_domid(struct cli *c, const char *s, domid_t *id);
int arg_domain(struct cli *c, const char *s, struct domain **d);

/*
 * Options "key=value" in argv[first..argc): each key of keys[] at most
 * once, nothing else.  vals[i] gets the value of keys[i] or NULL.
 */
int arg_options(struct cli *c, unsigned int argc, char **argv,
                unsigned int first, const char *const *keys,
                const char **vals, unsigned int nkeys);

/* An output file ("-" is stdout); NULL after reporting the error. */
FILE *cli_open(struct cli *c, const char *path, const char *mode);
/* Close what cli_open returned; -1 (reported) if writing failed. */
int cli_close(struct cli *c, FILE *f, const char *path);

/* Print the JSON line of one P2M lookup. */
void print_lookup(FILE *f, uint64_t gfn, const struct p2m_lookup *l);

#endif /* P2MCTL_H */
