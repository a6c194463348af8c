/* onnx_internal.h — what the ONNX files of src/io share: the generated protobuf-c schema (built
 * from Debian's onnx.proto by protoc-c into the build folder) and the exporter's entry point.
 */
#ifndef FV_ONNX_INTERNAL_H
#define FV_ONNX_INTERNAL_H

#include "fovea.h"

#include "onnx.pb-c.h"

/* ONNX's TensorProto.DataType values used here. */
enum { FV__ONNX_FLOAT = 1, FV__ONNX_INT64 = 7 };

/* The exporter (onnx_export.c); opts already checked and defaulted by fv_model_export_onnx. */
fv_status fv__onnx_export(const fv_model *m, const char *path, const fv_onnx_opts *opts);

/* The importer (onnx_import.c): from memory (tests, fuzzing) and from a file. *out is a new
 * model with weights on success, NULL on failure. */
fv_status fv__onnx_import_parse(const uint8_t *buf, size_t len, const char *origin,
                                const fv_onnx_import_opts *opts, fv_model **out);
fv_status fv__onnx_import(const char *path, const fv_onnx_import_opts *opts, fv_model **out);

#endif
