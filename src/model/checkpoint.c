/* checkpoint.c — a training run's checkpoint: DIR/checkpoint.safetensors, the model's tensors
 * (so it loads as a model), the optimizer's slots, early stopping's best weights, and in
 * __metadata__["fovea.checkpoint"] a JSON object with the counters, the callbacks' state, the
 * history so far and the description of the run. Written atomically after every epoch; read
 * back, checked whole, then applied by a resumed fit.
 */
#include "model/fit.h"
#include "io/dataset.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECKPOINT_FILE "checkpoint.safetensors"
#define LOCK_FILE       "checkpoint.lock"
#define FORMAT_VERSION  1
/* Integers in the JSON are doubles: exact up to 2^53. */
#define MAX_JSON_INT 9007199254740992.0

/* The state a checkpoint holds beside the model's weights, each a flat tensor: the optimizer's
 * slots (Adam's and AdamW's m and v, SGD's velocity), a GAN's two optimizers' (Keras' DCGAN
 * example calls them d_optimizer and g_optimizer), and early stopping's best weights. */
enum { OPTIMIZER, D_OPTIMIZER, G_OPTIMIZER };
enum { SLOT_M, SLOT_V, SLOT_VELOCITY };
static const char *const optimizer_tensors[3][3] = {
    {"optimizer.m", "optimizer.v", "optimizer.velocity"},
    {"d_optimizer.m", "d_optimizer.v", "d_optimizer.velocity"},
    {"g_optimizer.m", "g_optimizer.v", "g_optimizer.velocity"}};
#define BEST_WEIGHTS "early_stopping.best_weights"

bool fv__checkpoint_state_tensor(const char *name)
{
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++)
            if (strcmp(name, optimizer_tensors[i][j]) == 0) return true;
    return strcmp(name, BEST_WEIGHTS) == 0;
}

/* DIR/checkpoint.safetensors, malloc'd. */
static char *file_in(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (!p) {
        fv__fail(FV_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* ---- the folder ------------------------------------------------------------------------------ */

fv_status fv__checkpoint_lock(const char *dir, int *fd)
{
    *fd = -1;
    if (!dir[0]) return fv__fail(FV_ERR_INVALID, "checkpoint folder: empty name");
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || (mkdir(dir, 0777) != 0 && errno != EEXIST))
            return fv__fail(FV_ERR_IO, "checkpoint folder %s: cannot create it: %s", dir,
                            strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        return fv__fail(FV_ERR_IO, "checkpoint folder %s: not a folder", dir);
    }
    char *path = file_in(dir, LOCK_FILE);
    if (!path) return FV_ERR_NOMEM;
    int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (f < 0) {
        fv_status s = fv__fail(FV_ERR_IO, "checkpoint folder %s: cannot create %s: %s", dir, path,
                               strerror(errno));
        free(path);
        return s;
    }
    free(path);
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(f);
        if (e == EWOULDBLOCK)
            return fv__fail(FV_ERR_STATE, "checkpoint folder %s: another training run is using it",
                            dir);
        return fv__fail(FV_ERR_IO, "checkpoint folder %s: cannot lock it: %s", dir, strerror(e));
    }
    /* Temporary files of a writer killed mid-write (PATH.tmp.PID): ours alone, under the lock. */
    DIR *d = opendir(dir);
    const char prefix[] = CHECKPOINT_FILE ".tmp.";
    for (struct dirent *e = d ? readdir(d) : NULL; e; e = readdir(d)) {
        if (strncmp(e->d_name, prefix, sizeof prefix - 1) != 0) continue;
        char *stale = file_in(dir, e->d_name);
        if (stale) unlink(stale);
        free(stale);
    }
    if (d) closedir(d);
    *fd = f;
    return FV_OK;
}

void fv__checkpoint_unlock(int fd)
{
    if (fd >= 0) close(fd); /* closing releases the flock */
}

/* ---- the description of a run ---------------------------------------------------------------- */

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* A 64-bit hash of samples [first, first + count): inputs, labels and targets (each output's,
 * for a model with several). */
static uint64_t hash_samples(const fv_dataset *d, int64_t first, int64_t count)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    size_t s = (size_t)d->sample, n = (size_t)count, f = (size_t)first, t = (size_t)d->tdim;
    if (d->u8) h = hash_bytes(h, d->u8 + f * s, n * s);
    if (d->f32) h = hash_bytes(h, d->f32 + f * s, n * s * sizeof(float));
    if (d->labels) h = hash_bytes(h, d->labels + f, n * sizeof(int32_t));
    if (d->targets) h = hash_bytes(h, d->targets + f * t, n * t * sizeof(float));
    for (int j = 0; j < d->nouts; j++) {
        const uint64_t o = hash_samples(d->outs[j], first, count);
        h = hash_bytes(h, d->out_names[j], strlen(d->out_names[j]));
        h = hash_bytes(h, &o, sizeof o);
    }
    return h;
}

fv_status fv__checkpoint_describe_run(fv__fit *f)
{
    const fv_fit_opts *o = f->o;
    /* the rate as compiled: reduce_lr_on_plateau's changes are training state, restored */
    double lr = f->m->optim.learning_rate;
    f->m->optim.learning_rate = f->m->compiled_lr;
    char *text = fv_model_to_text(f->m);
    f->m->optim.learning_rate = lr;
    if (!text) return FV_ERR_NOMEM;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    if (!out) {
        free(text);
        return fv__fail(FV_ERR_NOMEM, "out of memory");
    }
    /* the layers and the compile line; the fit line's settings follow as this fit uses them */
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (strncmp(line, "fit ", 4) != 0 && strncmp(line, "fit\n", 4) != 0)
            fprintf(out, "%.*s\n", (int)n, line);
        line += n + (nl ? 1 : 0);
    }
    free(text);
    fprintf(out, "seed=%llu batch_size=%lld shuffle=%s\n", (unsigned long long)o->seed,
            (long long)f->batch, o->shuffle ? "true" : "false");
    fprintf(out, "training samples=%lld data=%016llx\n", (long long)f->n_train,
            (unsigned long long)hash_samples(f->train, 0, f->n_train));
    if (f->val)
        fprintf(out, "validation samples=%lld data=%016llx\n", (long long)f->val_count,
                (unsigned long long)hash_samples(f->val, f->val_first, f->val_count));
    else
        fprintf(out, "validation none\n");
    fprintf(out, "columns");
    for (int c = 0; c < f->ncols; c++)
        fprintf(out, "%s%s", c ? "," : " ", f->names[c]);
    fprintf(out, "\n");
    if (f->es.col >= 0)
        fprintf(out, "early_stopping=%s patience=%lld min_delta=%.17g restore_best_weights=%s\n",
                f->names[f->es.col], (long long)o->patience, o->min_delta,
                o->restore_best_weights ? "true" : "false");
    if (f->rlr.col >= 0)
        fprintf(out,
                "reduce_lr_on_plateau=%s lr_factor=%.17g lr_patience=%lld lr_min_delta=%.17g "
                "lr_cooldown=%lld min_lr=%.17g\n",
                f->names[f->rlr.col], o->lr_factor, (long long)o->lr_patience, o->lr_min_delta,
                (long long)o->lr_cooldown, o->min_lr);
    if (fclose(out) != 0 || !buf) {
        free(buf);
        return fv__fail(FV_ERR_NOMEM, "out of memory");
    }
    f->run = buf;
    return FV_OK;
}

/* ---- writing --------------------------------------------------------------------------------- */

/* Doubles are written as the text that reads back the same bits ("inf" and "nan" included). */
static bool add_double(cJSON *o, const char *key, double v)
{
    char num[40];
    snprintf(num, sizeof num, "%.17g", v);
    return cJSON_AddStringToObject(o, key, num) != NULL;
}

static bool add_int(cJSON *o, const char *key, int64_t v)
{
    return cJSON_AddNumberToObject(o, key, (double)v) != NULL;
}

/* The tensor of slot `slot` of optimizer `which` (OPTIMIZER, D_OPTIMIZER, G_OPTIMIZER): Adam's and
 * AdamW's two slots are m and v; SGD's one is its velocity. */
static const char *optimizer_slot(const fv_model *m, int which, int slot)
{
    return optimizer_tensors[which][fv__optim_slots(&m->optim) == 2 ? slot : SLOT_VELOCITY];
}

static const char *slot_name(const fv_model *m, int slot)
{
    return optimizer_slot(m, OPTIMIZER, slot);
}

static const char *kind_name(const fv_model *m)
{
    return m->optim.kind == FV_OPT_ADAM ? "adam" : m->optim.kind == FV_OPT_ADAMW ? "adamw" : "sgd";
}

/* A GAN's two optimizers: each one's slots as a tensor of its own network's trainable weights. */
static const char *gan_slot_name(const fv_model *m, bool generator, int slot)
{
    return optimizer_slot(m, generator ? G_OPTIMIZER : D_OPTIMIZER, slot);
}

/* The slots of the GAN's generator (generator true) or discriminator: where they are and how
 * many weights they cover. */
static float *gan_slots(const fv__fit *f, bool generator, int slot, int64_t *n)
{
    const fv__gan_state *g = f->gan;
    *n = generator ? g->ng : f->m->ntrain - g->ng;
    return (generator ? g->state_g : g->state_d) + (size_t)slot * (size_t)*n;
}

static char *checkpoint_json(const fv__fit *f)
{
    const fv_model *m = f->m;
    cJSON *j = cJSON_CreateObject();
    bool ok = j && add_int(j, "version", FORMAT_VERSION) &&
              add_int(j, "epochs_done", f->epochs_done) && add_int(j, "epochs", f->o->epochs) &&
              cJSON_AddStringToObject(j, "run", f->run);
    cJSON *opt = ok ? cJSON_AddObjectToObject(j, "optimizer") : NULL;
    ok = opt && cJSON_AddStringToObject(opt, "kind", kind_name(m)) &&
         add_int(opt, "iterations", m->optim.iterations) &&
         add_double(opt, "learning_rate", m->optim.learning_rate) &&
         add_int(j, "dropout_step", m->dropout_step);
    if (ok && f->gan) {
        cJSON *g = cJSON_AddObjectToObject(j, "gan");
        ok = g && add_int(g, "g_iterations", f->gan->opt_g.iterations) &&
             add_int(g, "d_iterations", f->gan->opt_d.iterations);
    }
    if (ok && f->es.col >= 0) {
        cJSON *e = cJSON_AddObjectToObject(j, "early_stopping");
        ok = e && add_int(e, "wait", f->es_wait) && add_double(e, "best", f->es.best) &&
             add_int(e, "best_epoch", f->es_best_epoch) &&
             add_int(e, "stopped_epoch", f->es_stopped_epoch) &&
             cJSON_AddBoolToObject(e, "has_best_weights", f->es_have_best && f->es_best_weights) &&
             cJSON_AddBoolToObject(e, "restored", f->es_restored);
    }
    if (ok && f->rlr.col >= 0) {
        cJSON *r = cJSON_AddObjectToObject(j, "reduce_lr_on_plateau");
        ok = r && add_int(r, "wait", f->rlr_wait) && add_int(r, "cooldown", f->rlr_cooldown) &&
             add_double(r, "best", f->rlr.best);
    }
    if (ok && f->sb.col >= 0) {
        cJSON *b = cJSON_AddObjectToObject(j, "save_best");
        ok = b && cJSON_AddStringToObject(b, "monitor", f->names[f->sb.col]) &&
             add_double(b, "best", f->sb.best);
    }
    cJSON *h = ok ? cJSON_AddObjectToObject(j, "history") : NULL;
    cJSON *cols = h ? cJSON_AddArrayToObject(h, "columns") : NULL;
    cJSON *rows = cols ? cJSON_AddArrayToObject(h, "rows") : NULL;
    ok = rows != NULL;
    for (int c = 0; ok && c < f->ncols; c++)
        ok = cJSON_AddItemToArray(cols, cJSON_CreateString(f->names[c]));
    for (int64_t e = 0; ok && e < fv_history_epochs(f->h); e++) {
        cJSON *row = cJSON_CreateArray();
        ok = row && cJSON_AddItemToArray(rows, row);
        for (int c = 0; ok && c < f->ncols; c++) {
            char num[40];
            snprintf(num, sizeof num, "%.17g", fv_history_get(f->h, f->names[c])[e]);
            ok = cJSON_AddItemToArray(row, cJSON_CreateString(num));
        }
    }
    char *text = ok ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text) fv__fail(FV_ERR_NOMEM, "out of memory writing a checkpoint");
    return text;
}

fv_status fv__checkpoint_write(const fv__fit *f, const char *dir)
{
    const fv_model *m = f->m;
    char *path = file_in(dir, CHECKPOINT_FILE);
    char *json = path ? checkpoint_json(f) : NULL;
    if (!json) {
        free(path);
        return FV_ERR_NOMEM;
    }
    fv_st_out extra[5];
    int n = 0;
    for (int slot = 0; f->gan && slot < fv__optim_slots(&m->optim); slot++)
        for (int net = 1; net >= 0; net--) {
            int64_t count;
            float *data = gan_slots(f, net, slot, &count);
            extra[n++] = (fv_st_out){
                .name = gan_slot_name(m, net, slot), .rank = 1, .dims = {count}, .data = data};
        }
    for (int slot = 0; !f->gan && slot < m->opt_slots; slot++)
        extra[n++] = (fv_st_out){.name = slot_name(m, slot),
                                 .rank = 1,
                                 .dims = {m->ntrain},
                                 .data = m->opt_state + (size_t)slot * (size_t)m->ntrain};
    if (f->es_have_best && f->es_best_weights)
        extra[n++] = (fv_st_out){
            .name = BEST_WEIGHTS, .rank = 1, .dims = {m->nweights}, .data = f->es_best_weights};
    const char *keys[] = {"fovea.checkpoint"};
    const char *values[] = {json};
    fv_status s = fv__model_write(m, path, extra, n, keys, values, 1);
    free(json);
    free(path);
    return s;
}

/* ---- reading --------------------------------------------------------------------------------- */

typedef struct reader {
    const char *path;
    fv_status s;
} reader;

static fv_status bad(reader *r, const char *what)
{
    if (r->s == FV_OK)
        r->s = fv__fail(FV_ERR_FORMAT, "%s: not a valid fovea checkpoint: %s", r->path, what);
    return r->s;
}

static const cJSON *get(reader *r, const cJSON *o, const char *key)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (!v && r->s == FV_OK) {
        char what[96];
        snprintf(what, sizeof what, "no \"%s\" entry", key);
        bad(r, what);
    }
    return v;
}

static int64_t get_int(reader *r, const cJSON *o, const char *key, int64_t lo)
{
    const cJSON *v = get(r, o, key);
    if (!v) return lo;
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(x >= (double)lo && x <= MAX_JSON_INT && x == floor(x))) {
        char what[96];
        snprintf(what, sizeof what, "\"%s\" is not an integer >= %lld", key, (long long)lo);
        bad(r, what);
        return lo;
    }
    return (int64_t)x;
}

static bool parse_number(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return end != s && *end == '\0';
}

static double get_double(reader *r, const cJSON *o, const char *key)
{
    const cJSON *v = get(r, o, key);
    double x = 0;
    if (v && !(cJSON_IsString(v) && parse_number(v->valuestring, &x))) {
        char what[96];
        snprintf(what, sizeof what, "\"%s\" is not a number", key);
        bad(r, what);
    }
    return x;
}

static bool get_bool(reader *r, const cJSON *o, const char *key)
{
    const cJSON *v = get(r, o, key);
    if (v && !cJSON_IsBool(v)) {
        char what[96];
        snprintf(what, sizeof what, "\"%s\" is not true or false", key);
        bad(r, what);
    }
    return v && cJSON_IsTrue(v);
}

/* A flat F32 tensor of n floats, or NULL (with the reason) if absent or of another shape. */
static const fv_st_tensor *flat_tensor(reader *r, const fv_st_file *sf, const char *name, int64_t n)
{
    const fv_st_tensor *t = fv__st_find(sf, name);
    if (!t || strcmp(t->dtype, "F32") != 0 || t->rank != 1 || t->dims[0] != n) {
        char what[160];
        snprintf(what, sizeof what, "tensor '%s' is %s (expected F32 of %lld values)", name,
                 t ? "of another type or shape" : "missing", (long long)n);
        bad(r, what);
        return NULL;
    }
    return t;
}

/* out (n ≥ 8 bytes) ← the line s of len bytes, or where it does not fit, from byte `from` on
 * ("..." before it unless from is 0, and at the end where it is cut); "(nothing)" if empty. */
static void line_excerpt(const char *s, size_t len, size_t from, char *out, size_t n)
{
    if (!len) {
        snprintf(out, n, "(nothing)");
        return;
    }
    if (len < n) from = 0; /* it fits whole */
    const char *pre = from ? "..." : "";
    snprintf(out, n, "%s%.*s", pre, (int)(len - from), s + from);
    if (strlen(pre) + len - from >= n) strcpy(out + n - 4, "...");
}

/* The first line where two run descriptions differ, for the message; a line too long for la or
 * lb (n bytes) from the word where they differ (a long compile line differs at its end:
 * precision=, conv_algorithm=). */
static void first_difference(const char *a, const char *b, char *la, char *lb, size_t n)
{
    while (*a || *b) {
        size_t na = strcspn(a, "\n"), nb = strcspn(b, "\n");
        if (na != nb || strncmp(a, b, na) != 0) {
            size_t d = 0; /* the first byte that differs, back to the start of its word */
            while (d < na && d < nb && a[d] == b[d])
                d++;
            while (d > 0 && a[d - 1] != ' ')
                d--;
            line_excerpt(a, na, d, la, n);
            line_excerpt(b, nb, d, lb, n);
            return;
        }
        a += na + (a[na] ? 1 : 0);
        b += nb + (b[nb] ? 1 : 0);
    }
    la[0] = lb[0] = '\0';
}

/* Reads the file and its JSON; *found false when there is no file. */
static fv_status open_checkpoint(const char *path, fv_st_file *sf, cJSON **json, bool *found)
{
    *found = false;
    *json = NULL;
    memset(sf, 0, sizeof *sf);
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return FV_OK;
        return fv__fail(FV_ERR_IO, "%s: %s", path, strerror(errno));
    }
    *found = true;
    fv_status s = fv__st_read(path, sf);
    if (s != FV_OK) return s;
    const char *text = fv__st_meta(sf, "fovea.checkpoint");
    if (!text) {
        fv__st_free(sf);
        return fv__fail(
            FV_ERR_FORMAT,
            "%s: a safetensors file without the \"fovea.checkpoint\" metadata: not a checkpoint",
            path);
    }
    *json = cJSON_Parse(text);
    if (!cJSON_IsObject(*json)) {
        cJSON_Delete(*json);
        *json = NULL;
        fv__st_free(sf);
        return fv__fail(FV_ERR_FORMAT, "%s: the \"fovea.checkpoint\" metadata is not a JSON object",
                        path);
    }
    return FV_OK;
}

fv_status fv_checkpoint_info(const char *dir, bool *found, int64_t *epochs_done, int64_t *epochs)
{
    if (!dir || !found) return fv__fail(FV_ERR_INVALID, "fv_checkpoint_info: NULL argument");
    char *path = file_in(dir, CHECKPOINT_FILE);
    if (!path) return FV_ERR_NOMEM;
    fv_st_file sf;
    cJSON *j;
    fv_status s = open_checkpoint(path, &sf, &j, found);
    if (s == FV_OK && *found) {
        reader r = {.path = path};
        int64_t done = get_int(&r, j, "epochs_done", 0), total = get_int(&r, j, "epochs", 0);
        if (get_int(&r, j, "version", 0) != FORMAT_VERSION) bad(&r, "an unknown version");
        s = r.s;
        if (s == FV_OK && epochs_done) *epochs_done = done;
        if (s == FV_OK && epochs) *epochs = total;
        cJSON_Delete(j);
        fv__st_free(&sf);
    }
    free(path);
    return s;
}

/* Everything read from a checkpoint before any of it is applied. */
typedef struct restored {
    int64_t epochs_done, iterations, dropout_step;
    double lr;
    int64_t es_wait, es_best_epoch, es_stopped_epoch;
    double es_best;
    bool es_has_best, es_restored;
    int64_t rlr_wait, rlr_cooldown;
    double rlr_best, sb_best;
    const fv_st_tensor *slots[2], *best_weights;
    int64_t g_iterations, d_iterations;  /* a GAN's */
    const fv_st_tensor *gan_slots[2][2]; /* a GAN's [discriminator, generator][slot] */
    double *rows;                        /* epochs_done × ncols */
} restored;

static fv_status read_state(reader *r, fv__fit *f, const fv_st_file *sf, const cJSON *j,
                            restored *st)
{
    const fv_model *m = f->m;
    if (get_int(r, j, "version", 0) != FORMAT_VERSION && r->s == FV_OK)
        return bad(r, "an unknown version");
    const cJSON *run = get(r, j, "run");
    if (run && !cJSON_IsString(run)) bad(r, "\"run\" is not a string");
    if (r->s != FV_OK) return r->s;
    if (strcmp(run->valuestring, f->run) != 0) {
        char a[160], b[160];
        first_difference(run->valuestring, f->run, a, b, sizeof a);
        return r->s = fv__fail(FV_ERR_STATE,
                               "%s: the checkpoint was written by another run (it has '%s' where "
                               "this one has '%s'): "
                               "resume with the same model, data and settings, or use another "
                               "checkpoint folder",
                               r->path, a, b);
    }
    st->epochs_done = get_int(r, j, "epochs_done", 0);
    st->dropout_step = get_int(r, j, "dropout_step", 0);
    const cJSON *opt = get(r, j, "optimizer");
    const cJSON *kind = get(r, opt, "kind");
    if (kind && (!cJSON_IsString(kind) || strcmp(kind->valuestring, kind_name(m)) != 0))
        bad(r, "the optimizer is not the model's");
    st->iterations = get_int(r, opt, "iterations", 0);
    st->lr = get_double(r, opt, "learning_rate");
    if (r->s == FV_OK && !(st->lr >= 0 && isfinite(st->lr)))
        bad(r, "the learning rate is not a number >= 0");
    st->es_stopped_epoch = st->es_best_epoch = -1;
    if (f->es.col >= 0) {
        const cJSON *e = get(r, j, "early_stopping");
        st->es_wait = get_int(r, e, "wait", 0);
        st->es_best = get_double(r, e, "best");
        st->es_best_epoch = get_int(r, e, "best_epoch", -1);
        st->es_stopped_epoch = get_int(r, e, "stopped_epoch", -1);
        st->es_has_best = get_bool(r, e, "has_best_weights");
        st->es_restored = get_bool(r, e, "restored");
        if (st->es_has_best && !f->es_best_weights)
            bad(r, "best weights without restore_best_weights");
        if (st->es_has_best) st->best_weights = flat_tensor(r, sf, BEST_WEIGHTS, m->nweights);
    }
    if (f->rlr.col >= 0) {
        const cJSON *e = get(r, j, "reduce_lr_on_plateau");
        st->rlr_wait = get_int(r, e, "wait", 0);
        st->rlr_cooldown = get_int(r, e, "cooldown", 0);
        st->rlr_best = get_double(r, e, "best");
    }
    /* save_best is not part of the run (it changes no weight): its best value carries over
     * when the resumed run watches the same column, else that run starts watching afresh */
    st->sb_best = f->sb.best;
    const cJSON *sb = cJSON_GetObjectItemCaseSensitive(j, "save_best");
    const cJSON *sb_monitor = sb ? cJSON_GetObjectItemCaseSensitive(sb, "monitor") : NULL;
    if (f->sb.col >= 0 && cJSON_IsString(sb_monitor) &&
        strcmp(sb_monitor->valuestring, f->names[f->sb.col]) == 0)
        st->sb_best = get_double(r, sb, "best");
    for (int slot = 0; !f->gan && slot < m->opt_slots; slot++)
        st->slots[slot] = flat_tensor(r, sf, slot_name(m, slot), m->ntrain);
    if (f->gan) {
        const cJSON *g = get(r, j, "gan");
        st->g_iterations = get_int(r, g, "g_iterations", 0);
        st->d_iterations = get_int(r, g, "d_iterations", 0);
        for (int slot = 0; slot < fv__optim_slots(&m->optim); slot++)
            for (int net = 0; net < 2; net++) {
                int64_t count;
                gan_slots(f, net, slot, &count);
                st->gan_slots[net][slot] = flat_tensor(r, sf, gan_slot_name(m, net, slot), count);
            }
    }
    if (r->s != FV_OK) return r->s;

    /* the history: the run's columns, one row per epoch done */
    const cJSON *h = get(r, j, "history");
    const cJSON *cols = get(r, h, "columns"), *rows = get(r, h, "rows");
    if (r->s != FV_OK) return r->s;
    if (!cJSON_IsArray(cols) || cJSON_GetArraySize(cols) != f->ncols)
        return bad(r, "the history's columns are not this run's");
    for (int c = 0; c < f->ncols; c++) {
        const cJSON *name = cJSON_GetArrayItem(cols, c);
        if (!cJSON_IsString(name) || strcmp(name->valuestring, f->names[c]) != 0)
            return bad(r, "the history's columns are not this run's");
    }
    if (!cJSON_IsArray(rows) || cJSON_GetArraySize(rows) != st->epochs_done)
        return bad(r, "the history does not have one row per epoch done");
    size_t cells = (size_t)st->epochs_done * (size_t)f->ncols;
    st->rows = malloc((cells ? cells : 1) * sizeof *st->rows);
    if (!st->rows) return r->s = fv__fail(FV_ERR_NOMEM, "out of memory reading %s", r->path);
    int64_t e = 0;
    for (const cJSON *row = rows->child; row; row = row->next, e++) {
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != f->ncols)
            return bad(r, "a history row of the wrong length");
        int c = 0;
        for (const cJSON *v = row->child; v; v = v->next, c++)
            if (!cJSON_IsString(v) || !parse_number(v->valuestring, &st->rows[e * f->ncols + c]))
                return bad(r, "a history value that is not a number");
    }
    return FV_OK;
}

fv_status fv__checkpoint_restore(fv__fit *f, const char *dir, bool *found)
{
    fv_model *m = f->m;
    char *path = file_in(dir, CHECKPOINT_FILE);
    if (!path) return FV_ERR_NOMEM;
    fv_st_file sf;
    cJSON *j;
    fv_status s = open_checkpoint(path, &sf, &j, found);
    if (s != FV_OK || !*found) {
        free(path);
        return s;
    }
    reader r = {.path = path};
    restored st = {0};
    s = read_state(&r, f, &sf, j, &st);
    if (s == FV_OK) s = fv__model_load_tensors(m, &sf, path); /* checks all, then copies */
    if (s == FV_OK) {
        for (int slot = 0; slot < m->opt_slots; slot++)
            fv__st_copy_f32(&sf, st.slots[slot], m->opt_state + (size_t)slot * (size_t)m->ntrain);
        if (st.best_weights) fv__st_copy_f32(&sf, st.best_weights, f->es_best_weights);
        for (int slot = 0; f->gan && slot < fv__optim_slots(&m->optim); slot++)
            for (int net = 0; net < 2; net++) {
                int64_t count;
                fv__st_copy_f32(&sf, st.gan_slots[net][slot], gan_slots(f, net, slot, &count));
            }
        if (f->gan) {
            f->gan->opt_g.iterations = st.g_iterations;
            f->gan->opt_d.iterations = st.d_iterations;
        }
        m->optim.iterations = st.iterations;
        m->optim.learning_rate = st.lr;
        m->dropout_step = st.dropout_step;
        f->es_wait = st.es_wait;
        f->es.best = st.es_best;
        f->es_best_epoch = st.es_best_epoch;
        f->es_stopped_epoch = st.es_stopped_epoch;
        f->es_have_best = st.best_weights != NULL;
        f->es_restored = st.es_restored;
        f->rlr_wait = st.rlr_wait;
        f->rlr_cooldown = st.rlr_cooldown;
        f->rlr.best = st.rlr_best;
        f->sb.best = st.sb_best;
        f->epochs_done = st.epochs_done;
        for (int64_t e = 0; s == FV_OK && e < st.epochs_done; e++)
            s = fv__history_append(f->h, st.rows + e * f->ncols);
    }
    free(st.rows);
    cJSON_Delete(j);
    fv__st_free(&sf);
    free(path);
    return s;
}
