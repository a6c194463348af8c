/* classes.c — a classifier's class names (Keras' class_names), kept beside the model and saved in
 * the safetensors metadata as "fovea.class_names": a JSON array of strings.
 */
#include "model/model_impl.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* A hostile file's list is bounded: far more classes than any output layer fovea builds. */
#define MAX_CLASS_NAMES 1000000

void fv__model_class_names_free(fv_model *m)
{
    for (int64_t i = 0; i < m->nclass_names; i++)
        free(m->class_names[i]);
    free(m->class_names);
    m->class_names = NULL;
    m->nclass_names = 0;
}

fv_status fv_model_set_class_names(fv_model *m, int64_t n, const char *const *names)
{
    if (!m || n < 0 || (n > 0 && !names))
        return fv__fail(FV_ERR_INVALID, "fv_model_set_class_names: NULL model or names");
    if (n > MAX_CLASS_NAMES)
        return fv__fail(FV_ERR_INVALID, "fv_model_set_class_names: %lld names, more than %d",
                        (long long)n, MAX_CLASS_NAMES);
    char **c = n ? calloc((size_t)n, sizeof *c) : NULL;
    if (n && !c) return fv__fail(FV_ERR_NOMEM, "out of memory for %lld class names", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (!names[i] || !(c[i] = strdup(names[i]))) {
            for (int64_t k = 0; k < i; k++)
                free(c[k]);
            free(c);
            return names[i] ? fv__fail(FV_ERR_NOMEM, "out of memory for class names")
                            : fv__fail(FV_ERR_INVALID, "class name %lld is NULL", (long long)i);
        }
    }
    fv__model_class_names_free(m);
    m->class_names = c;
    m->nclass_names = n;
    return FV_OK;
}

int64_t fv_model_class_count(const fv_model *m)
{
    return m ? m->nclass_names : 0;
}

const char *fv_model_class_name(const fv_model *m, int64_t i)
{
    return m && i >= 0 && i < m->nclass_names ? m->class_names[i] : NULL;
}

char *fv__model_class_names_json(const fv_model *m)
{
    if (!m->nclass_names) return NULL;
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < m->nclass_names; i++) {
        cJSON *s = cJSON_CreateString(m->class_names[i]);
        if (!s || !cJSON_AddItemToArray(a, s)) {
            cJSON_Delete(s);
            cJSON_Delete(a);
            a = NULL;
        }
    }
    char *text = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    return text; /* NULL if out of memory: the file is then saved without the names */
}

fv_status fv__model_class_names_parse(fv_model *m, const char *json, const char *path)
{
    cJSON *a = cJSON_Parse(json);
    fv_status st = FV_OK;
    int n = a ? cJSON_GetArraySize(a) : 0;
    if (!cJSON_IsArray(a) || n > MAX_CLASS_NAMES) {
        st = fv__fail(FV_ERR_FORMAT, "%s: the metadata entry %s is not a JSON array of names", path,
                      FV_CLASS_NAMES_KEY);
        goto done;
    }
    const char **names = calloc((size_t)(n ? n : 1), sizeof *names);
    if (!names) {
        st = fv__fail(FV_ERR_NOMEM, "out of memory");
        goto done;
    }
    int i = 0;
    for (cJSON *it = a->child; it; it = it->next, i++) {
        if (!cJSON_IsString(it)) {
            st = fv__fail(FV_ERR_FORMAT, "%s: %s: entry %d is not a string", path,
                          FV_CLASS_NAMES_KEY, i);
            break;
        }
        names[i] = it->valuestring;
    }
    if (st == FV_OK) st = fv_model_set_class_names(m, n, names);
    free(names);
done:
    cJSON_Delete(a);
    return st;
}
