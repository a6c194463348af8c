/* classes.c — a classifier's class names (Keras' class_names) by index, over the label
 * information a model keeps (m->labels, saved as the metadata "fovea.class_names" by save.c).
 */
#include "model/model_impl.h"

fv_status fv_model_set_class_names(fv_model *m, int64_t n, const char *const *names)
{
    if (!m || n < 0 || (n > 0 && !names))
        return fv__fail(FV_ERR_INVALID, "fv_model_set_class_names: NULL model or names");
    return fv__label_info_set(&m->labels, m->labels.column, names, n);
}

int64_t fv_model_class_count(const fv_model *m)
{
    return m && m->labels.names ? m->labels.n : 0;
}

const char *fv_model_class_name(const fv_model *m, int64_t i)
{
    return m && m->labels.names && i >= 0 && i < m->labels.n ? m->labels.names[i] : NULL;
}
