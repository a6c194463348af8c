/* onnx.c — the public ONNX entry points: options checked here, the work done by onnx_export.c
 * (compiled only with FOVEA_ONNX, when protobuf-c and Debian's onnx.proto are present).
 */
#include "core/core.h"
#include "fovea.h"

#ifdef FOVEA_ONNX
#include "io/onnx_internal.h"
#endif

fv_status fv_model_export_onnx(const fv_model *m, const char *path, const fv_onnx_opts *opts)
{
    if (!m || !path || !*path)
        return fv__fail(FV_ERR_INVALID, "export: a model and a file name are needed");
    fv_onnx_opts o = opts ? *opts : (fv_onnx_opts){0};
    if (o.opset == 0) o.opset = 13;
    if (o.opset < 13 || o.opset > 17)
        return fv__fail(FV_ERR_INVALID, "%s: opset %d: fovea writes opsets 13 to 17", path,
                        o.opset);
    if (o.batch < 0)
        return fv__fail(FV_ERR_INVALID, "%s: batch %lld: give a batch size >= 1, or 0 (dynamic)",
                        path, (long long)o.batch);
#ifdef FOVEA_ONNX
    return fv__onnx_export(m, path, &o);
#else
    return fv__fail(FV_ERR_STATE,
                    "%s: this fovea was built without ONNX (FOVEA_ONNX=OFF: it needs "
                    "libprotobuf-c-dev, protobuf-c-compiler and libonnx-dev; "
                    "scripts/install-deps.sh --build)",
                    path);
#endif
}

fv_model *fv_model_import_onnx(const char *path, const fv_onnx_import_opts *opts)
{
    if (!path || !*path) {
        fv__fail(FV_ERR_INVALID, "import: a file name is needed");
        return NULL;
    }
    if (opts && (opts->input_rank < 0 || opts->input_rank > 4)) {
        fv__fail(FV_ERR_INVALID, "%s: input_rank %d: 0 to 4", path, opts->input_rank);
        return NULL;
    }
#ifdef FOVEA_ONNX
    fv_model *m = NULL;
    fv__onnx_import(path, opts, &m);
    return m;
#else
    fv__fail(FV_ERR_STATE,
             "%s: this fovea was built without ONNX (FOVEA_ONNX=OFF: it needs libprotobuf-c-dev, "
             "protobuf-c-compiler and libonnx-dev; scripts/install-deps.sh --build)",
             path);
    return NULL;
#endif
}
