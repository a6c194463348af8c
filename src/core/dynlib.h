/* dynlib.h — libraries opened when first needed (dlopen), not at process start: OSMesa (which
 * brings LLVM) for the pose renderer, assimp for the mesh reader and LAPACK (core/lapack.h).
 * Linking them cost every fovea process about 25 ms of dynamic loading before main (LAPACK's
 * four libraries 1.1 ms), for the few commands that use them.
 */
#ifndef FV_DYNLIB_H
#define FV_DYNLIB_H

#include "core/core.h"

/* Any function's address (cast to the function's own type before a call: ISO C allows that
 * between function pointer types, not from void *). */
typedef void (*fv__fnptr)(void);

/* A library to open on first use and the symbols to take from it. */
typedef struct fv__dynlib {
    const char *const *sonames; /* tried in order ("libOSMesa.so.8", ...), NULL-terminated */
    const char *what;           /* for messages: "OSMesa (Debian's libosmesa6)" */
    const char *const *symbols; /* NULL-terminated */
    fv__fnptr *slots;           /* slots[i] receives symbols[i]'s address */
    bool loaded;                /* set once every slot is filled; guarded by the module's lock */
} fv__dynlib;

/* Opens lib (dlopen RTLD_NOW | RTLD_LOCAL, the first soname that loads) and fills its slots, once
 * per process; safe to call from several threads. FV_OK, or FV_ERR_STATE with a message naming
 * the library, what provides it and dlerror()'s reason (the next call tries again). */
fv_status fv__dynlib_load(fv__dynlib *lib);

#endif
