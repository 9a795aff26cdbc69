/*
 * The fuzzer's model of page contents (model.c): what each guest page
 * must hold, per domain and gfn, and what each machine frame was last
 * written with (so that remapping a domain's own frame, or a frame that
 * changed hands, has a known expected content).
 */
#ifndef TEST_FUZZ_MODEL_H
#define TEST_FUZZ_MODEL_H

#include <stdbool.h>
#include <stdint.h>

/* The words of a page the fuzzer writes one at a time; the rest = base. */
#define MODEL_WORDS 8
extern const uint16_t model_word_off[MODEL_WORDS];

struct content {
    uint64_t base;                  /* every other word of the page */
    uint64_t w[MODEL_WORDS];        /* the word at model_word_off[i] */
};

/* Expected page of a gfn; alt: a second acceptable content, if has_alt. */
struct page_model {
    uint64_t key;                   /* gfn, or mfn for the frame shadow */
    uint32_t inc;                   /* frame shadow: writer's incarnation */
    bool has_alt;
    struct content c, alt;
};

#define MODEL_MAX 4096

struct page_set {
    unsigned int n;
    struct page_model p[MODEL_MAX];
};

void content_fill(struct content *c, uint64_t v);
bool content_is_zero(const struct content *c);
/* Expected word at byte offset off. */
uint64_t content_word(const struct content *c, unsigned int off);
/* Does the 4K page at frame hold c?  Full: all 512 words, else samples. */
bool content_matches(const struct content *c, const uint64_t *frame,
                     bool full);

struct page_model *set_find(struct page_set *s, uint64_t key);
/* The entry for key, created as all zero if absent; NULL when full. */
struct page_model *set_get(struct page_set *s, uint64_t key);
void set_del_range(struct page_set *s, uint64_t start, uint64_t end);
void set_clear(struct page_set *s);

/* A growable set of gfns (the pages written since the last log-dirty clean). */
struct gfn_list {
    unsigned int n;
    uint64_t g[MODEL_MAX];
};
void gl_add(struct gfn_list *l, uint64_t g);
void gl_del_range(struct gfn_list *l, uint64_t start, uint64_t end);

#endif /* TEST_FUZZ_MODEL_H */
