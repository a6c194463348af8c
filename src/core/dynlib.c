/* dynlib.c — libraries opened when first needed: dlopen and dlsym behind one lock (see
 * dynlib.h for why).
 */
#include "core/dynlib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

fv_status fv__dynlib_load(fv__dynlib *lib)
{
    pthread_mutex_lock(&lock);
    fv_status s = FV_OK;
    if (lib->loaded) goto done;
    void *h = NULL;
    const char *why = "no library name to try";
    for (int i = 0; lib->sonames[i] && !h; i++) {
        h = dlopen(lib->sonames[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) why = dlerror();
    }
    if (!h) {
        s = fv__fail(FV_ERR_STATE, "cannot load %s: %s", lib->what, why ? why : "unknown reason");
        goto done;
    }
    for (int i = 0; lib->symbols[i]; i++) {
        dlerror();
        void *p = dlsym(h, lib->symbols[i]);
        /* POSIX guarantees a function's address survives this (dlsym's rationale) */
        _Static_assert(sizeof p == sizeof lib->slots[i], "function and object pointers differ");
        memcpy(&lib->slots[i], &p, sizeof p);
        if (!p) {
            const char *e = dlerror();
            s = fv__fail(FV_ERR_STATE, "%s has no %s: %s", lib->what, lib->symbols[i],
                         e ? e : "a NULL address");
            dlclose(h); /* the slots filled so far are not used: loaded stays false */
            goto done;
        }
    }
    lib->loaded = true; /* the handle stays open for the process's life */
done:
    pthread_mutex_unlock(&lock);
    return s;
}
