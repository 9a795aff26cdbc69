/*
 * Basic types for module sources.  Only compiler-provided freestanding
 * headers are used, so the same code builds hosted and bare-metal.
 */
#ifndef XEN_TYPES_H
#define XEN_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint16_t domid_t;

/*
 * Frame numbers.  In debug builds gfn_t and mfn_t are distinct structs, so
 * passing one where the other is expected does not compile.  Release builds
 * use plain integers; the accessors are the same either way.
 */
#ifdef P2M_DEBUG
typedef struct { uint64_t g; } gfn_t;
typedef struct { uint64_t m; } mfn_t;
static inline gfn_t _gfn(uint64_t g) { return (gfn_t){ g }; }
static inline mfn_t _mfn(uint64_t m) { return (mfn_t){ m }; }
static inline uint64_t gfn_x(gfn_t g) { return g.g; }
static inline uint64_t mfn_x(mfn_t m) { return m.m; }
#else
typedef uint64_t gfn_t;
typedef uint64_t mfn_t;
#define _gfn(x) ((gfn_t)(x))
#define _mfn(x) ((mfn_t)(x))
#define gfn_x(x) ((uint64_t)(x))
#define mfn_x(x) ((uint64_t)(x))
#endif

#define INVALID_GFN_RAW (~(uint64_t)0)
#define INVALID_MFN_RAW (~(uint64_t)0)
#define INVALID_GFN _gfn(INVALID_GFN_RAW)
#define INVALID_MFN _mfn(INVALID_MFN_RAW)

static inline bool mfn_eq(mfn_t a, mfn_t b) { return mfn_x(a) == mfn_x(b); }
static inline bool gfn_eq(gfn_t a, gfn_t b) { return gfn_x(a) == gfn_x(b); }
static inline mfn_t mfn_add(mfn_t m, uint64_t n) { return _mfn(mfn_x(m) + n); }
static inline gfn_t gfn_add(gfn_t g, uint64_t n) { return _gfn(gfn_x(g) + n); }

#endif /* XEN_TYPES_H */
