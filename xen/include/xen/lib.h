/*
 * Helpers every module source may use.  The platform (hosted/ or boot/)
 * supplies printk, panic and the C string primitives the compiler may call.
 */
#ifndef XEN_LIB_H
#define XEN_LIB_H

#include <xen/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define BUILD_BUG_ON(c) _Static_assert(!(c), #c)
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define container_of(p, type, member) \
    ((type *)((char *)(p) - offsetof(type, member)))

void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#ifdef P2M_DEBUG
#define ASSERT(c)                                                       \
    do {                                                                \
        if ( unlikely(!(c)) )                                           \
            panic("ASSERT %s failed at %s:%d", #c, __FILE__, __LINE__); \
    } while ( 0 )
#else
#define ASSERT(c) do { (void)sizeof(c); } while ( 0 )
#endif

#define BUG() panic("BUG at %s:%d", __FILE__, __LINE__)

/* The compiler may emit calls to these; the platform provides them. */
void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
char *strstr(const char *hay, const char *needle);
void *memchr(const void *s, int c, size_t n);

#endif /* XEN_LIB_H */
