/* labels.c — what a trained model remembers of its labels: the CSV column that held them and
 * the class names, as two metadata strings of its safetensors file.
 */
#include "io/io.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

void fv__label_info_free(fv_label_info *li)
{
    if (!li) return;
    free(li->column);
    for (int64_t i = 0; li->names && i < li->n; i++)
        free(li->names[i]);
    free(li->names);
    memset(li, 0, sizeof *li);
}

fv_status fv__label_info_set(fv_label_info *li, const char *column, const char *const *names,
                             int64_t n)
{
    fv_label_info t = {0};
    if (n < 0 || (n > 0 && !names))
        return fv__fail(FV_ERR_INVALID, "class names: a count of %lld without names", (long long)n);
    if (column && !(t.column = fv__strdup(column))) goto nomem;
    if (n > 0) {
        if (!(t.names = calloc((size_t)n, sizeof *t.names))) goto nomem;
        t.n = n;
        for (int64_t i = 0; i < n; i++) {
            if (!names[i]) {
                fv__label_info_free(&t);
                return fv__fail(FV_ERR_INVALID, "class name %lld is NULL", (long long)i);
            }
            if (!(t.names[i] = fv__strdup(names[i]))) goto nomem;
        }
    }
    fv__label_info_free(li);
    *li = t;
    return FV_OK;
nomem:
    fv__label_info_free(&t);
    return fv__fail(FV_ERR_NOMEM, "out of memory for class names");
}

fv_status fv__label_info_names_json(const fv_label_info *li, char **json)
{
    *json = NULL;
    if (!li->names || li->n == 0) return FV_OK;
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; a && i < li->n; i++) {
        cJSON *s = cJSON_CreateString(li->names[i]);
        if (!s || !cJSON_AddItemToArray(a, s)) {
            cJSON_Delete(s);
            cJSON_Delete(a);
            a = NULL;
        }
    }
    if (a) *json = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return *json ? FV_OK : fv__fail(FV_ERR_NOMEM, "out of memory writing class names");
}

fv_status fv__label_info_read(fv_label_info *li, const char *column, const char *names_json,
                              const char *origin)
{
    fv_label_info t = {0};
    fv_status st = FV_OK;
    cJSON *a = NULL;
    if (names_json) {
        a = fv__json_parse(names_json);
        if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1) {
            st = fv__fail(FV_ERR_FORMAT,
                          "%s: metadata 'fovea.class_names' is not a JSON array of class names",
                          origin);
            goto done;
        }
        int n = cJSON_GetArraySize(a);
        const char **names = calloc((size_t)n, sizeof *names);
        if (!names) {
            st = fv__fail(FV_ERR_NOMEM, "out of memory for class names");
            goto done;
        }
        int i = 0;
        for (cJSON *e = a->child; e; e = e->next, i++) {
            if (!cJSON_IsString(e)) {
                free(names);
                st = fv__fail(FV_ERR_FORMAT,
                              "%s: metadata 'fovea.class_names': entry %d is not a string", origin,
                              i);
                goto done;
            }
            names[i] = e->valuestring;
        }
        st = fv__label_info_set(&t, column, names, n);
        free(names);
    } else {
        st = fv__label_info_set(&t, column, NULL, 0);
    }
    if (st == FV_OK) {
        fv__label_info_free(li);
        *li = t;
        t = (fv_label_info){0};
    }
done:
    cJSON_Delete(a);
    fv__label_info_free(&t);
    return st;
}
