/*
 * The fuzzer's model of page contents (see model.h).  Sets are small
 * unsorted arrays: an input writes at most a few hundred pages.
 */
#include "model.h"

#include <string.h>

const uint16_t model_word_off[MODEL_WORDS] = {
    0, 8, 512, 1032, 2048, 3000, 4080, 4088,
};

/* Words the quick check of a page compares besides the modelled ones. */
static const uint16_t sample_off[] = { 16, 256, 1024, 2056, 2992, 4072 };

void content_fill(struct content *c, uint64_t v)
{
    unsigned int i;

    c->base = v;
    for ( i = 0; i < MODEL_WORDS; i++ )
        c->w[i] = v;
}

bool content_is_zero(const struct content *c)
{
    uint64_t acc = c->base;
    unsigned int i;

    for ( i = 0; i < MODEL_WORDS; i++ )
        acc |= c->w[i];
    return acc == 0;
}

uint64_t content_word(const struct content *c, unsigned int off)
{
    unsigned int i;

    for ( i = 0; i < MODEL_WORDS; i++ )
        if ( model_word_off[i] == off )
            return c->w[i];
    return c->base;
}

bool content_matches(const struct content *c, const uint64_t *frame,
                     bool full)
{
    unsigned int i;

    for ( i = 0; i < MODEL_WORDS; i++ )
        if ( frame[model_word_off[i] / 8] != c->w[i] )
            return false;
    if ( !full )
    {
        for ( i = 0; i < sizeof(sample_off) / sizeof(sample_off[0]); i++ )
            if ( frame[sample_off[i] / 8] != c->base )
                return false;
        return true;
    }
    for ( i = 0; i < 512; i++ )
        if ( frame[i] != content_word(c, i * 8) )
            return false;
    return true;
}

struct page_model *set_find(struct page_set *s, uint64_t key)
{
    unsigned int i;

    for ( i = 0; i < s->n; i++ )
        if ( s->p[i].key == key )
            return &s->p[i];
    return NULL;
}

struct page_model *set_get(struct page_set *s, uint64_t key)
{
    struct page_model *p = set_find(s, key);

    if ( p || s->n == MODEL_MAX )
        return p;
    p = &s->p[s->n++];
    memset(p, 0, sizeof(*p));
    p->key = key;
    return p;
}

void set_del_range(struct page_set *s, uint64_t start, uint64_t end)
{
    unsigned int i = 0;

    while ( i < s->n )
        if ( s->p[i].key >= start && s->p[i].key < end )
            s->p[i] = s->p[--s->n];
        else
            i++;
}

void set_clear(struct page_set *s)
{
    s->n = 0;
}

void gl_add(struct gfn_list *l, uint64_t g)
{
    unsigned int i;

    for ( i = 0; i < l->n; i++ )
        if ( l->g[i] == g )
            return;
    if ( l->n < MODEL_MAX )
        l->g[l->n++] = g;
}

void gl_del_range(struct gfn_list *l, uint64_t start, uint64_t end)
{
    unsigned int i = 0;

    while ( i < l->n )
        if ( l->g[i] >= start && l->g[i] < end )
            l->g[i] = l->g[--l->n];
        else
            i++;
}
