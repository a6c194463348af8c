/* save.c — one safetensors file holds a whole model: its tensors (LAYER.kernel, LAYER.bias in
 * Keras layouts) and the canonical model text in __metadata__["fovea.model"]. A checkpoint is
 * the same file with the training state added (checkpoint.c), so it loads as a model too.
 */
#include "model/fit.h"
#include "io/io.h"

#include <stdlib.h>
#include <string.h>

fv_status fv__model_write(const fv_model *m, const char *path, const fv_st_out *extra, int nextra,
                          const char *const *xkeys, const char *const *xvalues, int nxmeta)
{
    fv_status s = fv__model_ensure_weights((fv_model *)m, m->seed);
    if (s != FV_OK) return s;
    int n = 0;
    for (int i = 0; i < m->nlayers; i++)
        n += m->layers[i].nparams;
    fv_st_out *t = calloc((size_t)(n + nextra ? n + nextra : 1), sizeof *t);
    char(*names)[96] = calloc((size_t)(n ? n : 1), sizeof *names);
    char *text = fv_model_to_text(m), *class_names = NULL;
    enum { MAX_META = 10 };
    FV_ASSERT(nxmeta >= 0 && nxmeta <= MAX_META - 5);
    if (!t || !names || !text || fv__label_info_names_json(&m->labels, &class_names) != FV_OK) {
        free(t);
        free(names);
        free(text);
        return fv__fail(FV_ERR_NOMEM, "out of memory saving %s", path);
    }
    int j = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const fv_layer *l = &m->layers[i];
        for (int p = 0; p < l->nparams; p++, j++) {
            snprintf(names[j], sizeof names[j], "%s.%s", l->name, l->params[p].suffix);
            t[j].name = names[j];
            t[j].rank = l->params[p].rank;
            memcpy(t[j].dims, l->params[p].dims, sizeof t[j].dims);
            t[j].data = l->params[p].w;
        }
    }
    for (int i = 0; i < nextra; i++)
        t[n + i] = extra[i];
    const char *keys[MAX_META] = {"format", "fovea.version", "fovea.model"};
    const char *values[MAX_META] = {"pt", FV_VERSION, text};
    int nmeta = 3;
    for (int i = 0; i < nxmeta; i++, nmeta++) {
        keys[nmeta] = xkeys[i];
        values[nmeta] = xvalues[i];
    }
    if (m->labels.column) {
        keys[nmeta] = "fovea.label_column";
        values[nmeta++] = m->labels.column;
    }
    if (class_names) {
        keys[nmeta] = "fovea.class_names";
        values[nmeta++] = class_names;
    }
    s = fv__st_write(path, t, n + nextra, keys, values, nmeta);
    free(t);
    free(names);
    free(text);
    free(class_names);
    return s;
}

fv_status fv_model_save(const fv_model *m, const char *path)
{
    if (!m || !path) return fv__fail(FV_ERR_INVALID, "fv_model_save: NULL argument");
    return fv__model_write(m, path, NULL, 0, NULL, NULL, 0);
}

/* Copies every tensor of f into the model, after checking that the file holds exactly the
 * model's tensors with the model's shapes: a file for another model is refused by name. A
 * checkpoint's state tensors (optimizer.m, ...) are skipped. */
fv_status fv__model_load_tensors(fv_model *m, const fv_st_file *f, const char *path)
{
    int expected = 0;
    for (int i = 0; i < m->nlayers; i++) {
        fv_layer *l = &m->layers[i];
        for (int p = 0; p < l->nparams; p++, expected++) {
            fv_param *pr = &l->params[p];
            char name[96];
            snprintf(name, sizeof name, "%s.%s", l->name, pr->suffix);
            const fv_st_tensor *t = fv__st_find(f, name);
            if (!t)
                return fv__fail(FV_ERR_FORMAT,
                                "%s: no tensor '%s': the file holds the weights of another model",
                                path, name);
            bool same = strcmp(t->dtype, "F32") == 0 && t->rank == pr->rank;
            for (int d = 0; same && d < pr->rank; d++)
                same = t->dims[d] == pr->dims[d];
            if (!same) {
                char want[64] = "", got[64] = "";
                size_t u = 0, v = 0;
                for (int d = 0; d < pr->rank; d++)
                    u += (size_t)snprintf(want + u, sizeof want - u, "%s%lld", d ? "," : "",
                                          (long long)pr->dims[d]);
                for (int d = 0; d < t->rank && v < sizeof got; d++)
                    v += (size_t)snprintf(got + v, sizeof got - v, "%s%lld", d ? "," : "",
                                          (long long)t->dims[d]);
                return fv__fail(FV_ERR_FORMAT,
                                "%s: tensor '%s' is %s (%s) but the model needs F32 (%s)", path,
                                name, t->dtype, got, want);
            }
        }
    }
    bool checkpoint = fv__st_meta(f, "fovea.checkpoint") != NULL;
    if (f->ntensors != expected)
        for (int i = 0; i < f->ntensors; i++) {
            const char *name = f->tensors[i].name, *dot = strrchr(name, '.');
            if (checkpoint && fv__checkpoint_state_tensor(name)) continue;
            fv_param *hit = NULL;
            for (int l = 0; !hit && dot && l < m->nlayers; l++)
                if (strlen(m->layers[l].name) == (size_t)(dot - name) &&
                    strncmp(m->layers[l].name, name, (size_t)(dot - name)) == 0)
                    for (int p = 0; p < m->layers[l].nparams; p++)
                        if (strcmp(m->layers[l].params[p].suffix, dot + 1) == 0)
                            hit = &m->layers[l].params[p];
            if (!hit)
                return fv__fail(FV_ERR_FORMAT,
                                "%s: tensor '%s' is not part of this model: the file holds the "
                                "weights of another model",
                                path, name);
        }
    /* Only now, when the file is known to hold every weight, allocate them: a small file whose
     * model text claims billions of parameters is refused before anything is allocated. Every
     * tensor is copied from the file below, so new weights need no initialisation first. */
    fv_status s = fv__model_alloc_weights(m);
    if (s != FV_OK) return s;
    for (int i = 0; i < m->nlayers; i++) {
        fv_layer *l = &m->layers[i];
        for (int p = 0; p < l->nparams; p++) {
            char name[96];
            snprintf(name, sizeof name, "%s.%s", l->name, l->params[p].suffix);
            fv__st_copy_f32(f, fv__st_find(f, name), l->params[p].w);
        }
    }
    return FV_OK;
}

fv_status fv_model_load_weights(fv_model *m, const char *path)
{
    if (!m || !path) return fv__fail(FV_ERR_INVALID, "fv_model_load_weights: NULL argument");
    fv_st_file f;
    fv_status s = fv__st_read(path, &f);
    if (s != FV_OK) return s;
    s = fv__model_load_tensors(m, &f, path);
    fv__st_free(&f);
    return s;
}

fv_model *fv_model_load(const char *path)
{
    if (!path) {
        fv__fail(FV_ERR_INVALID, "fv_model_load: NULL path");
        return NULL;
    }
    fv_st_file f;
    if (fv__st_read(path, &f) != FV_OK) return NULL;
    const char *text = fv__st_meta(&f, "fovea.model");
    fv_model *m = NULL;
    if (!text) {
        fv__fail(FV_ERR_FORMAT,
                 "%s: no fovea.model entry in the metadata: a safetensors file, but not one "
                 "written by fovea (use --weights with a model file instead)",
                 path);
    } else {
        char origin[1100];
        snprintf(origin, sizeof origin, "%s (model text)", path);
        m = fv_model_parse_string(text, origin);
        if (m && (fv__model_load_tensors(m, &f, path) != FV_OK ||
                  fv__label_info_read(&m->labels, fv__st_meta(&f, "fovea.label_column"),
                                      fv__st_meta(&f, "fovea.class_names"), path) != FV_OK)) {
            fv_model_free(m);
            m = NULL;
        }
    }
    fv__st_free(&f);
    return m;
}

fv_status fv_model_set_labels(fv_model *m, const char *label_column, const char *const *class_names,
                              int64_t n)
{
    if (!m) return fv__fail(FV_ERR_INVALID, "fv_model_set_labels: NULL model");
    return fv__label_info_set(&m->labels, label_column, class_names, n);
}

const char *fv_model_label_column(const fv_model *m)
{
    return m ? m->labels.column : NULL;
}

const char *const *fv_model_class_names(const fv_model *m, int64_t *n)
{
    if (n) *n = m && m->labels.names ? m->labels.n : 0;
    return m && m->labels.names ? (const char *const *)m->labels.names : NULL;
}
