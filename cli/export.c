/* export.c — `fovea export MODEL.safetensors -o model.onnx`: a trained model as an ONNX file for
 * ONNX Runtime, OpenCV's DNN module and other runtimes (fv_model_export_onnx).
 */
#include "commands.h"
#include "common.h"
#include "viz.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: fovea export MODEL.safetensors -o MODEL.onnx [options]\n"
    "\n"
    "Writes a model saved by 'fovea train --save' as an ONNX file: the inference graph\n"
    "(dropout removed, BatchNormalization with its moving statistics) with the trained weights.\n"
    "Inputs and outputs are named after the model's inputs and output layers; the model text is\n"
    "kept in the file's metadata (fovea.model).\n"
    "\n"
    "options:\n"
    "  -o, --output FILE   the ONNX file to write (required; replaced only when complete)\n"
    "  --opset N           ONNX operator set, 13 to 17 (default 13)\n"
    "  --batch N|dynamic   a fixed batch size, or 'dynamic' (default) for a free first axis\n"
    "  --nchw              images in and out as N x C x H x W (PyTorch's layout) instead of\n"
    "                      fovea's N x H x W x C\n"
    "  --class-names a,b   the output classes' names, kept in the file's metadata\n"
    "                      (fovea.class_names); one per output unit\n";

int cmd_export(int argc, char **argv)
{
    const char *cmd = "export";
    cli_opt opts[] = {
        {"output", true, false, NULL},      {"opset", true, false, NULL},
        {"batch", true, false, NULL},       {"nchw", false, false, NULL},
        {"class-names", true, false, NULL},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos;
    cli_alias_output(argc, argv);
    int rc = cli_parse(cmd, usage, argc, argv, opts, nopts, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    cli_opt *output = cli_find(opts, nopts, "output");
    cli_opt *opset = cli_find(opts, nopts, "opset");
    cli_opt *batch = cli_find(opts, nopts, "batch");
    if (!output->seen) return cli_usage_error(cmd, "-o MODEL.onnx is required");
    cli_opt *names = cli_find(opts, nopts, "class-names");
    fv_onnx_opts o = {.opset = 13,
                      .batch = 0,
                      .nchw = cli_find(opts, nopts, "nchw")->seen,
                      .class_names = names->seen ? names->value : NULL};
    int64_t v;
    if (opset->seen) {
        if ((rc = cli_int(cmd, "--opset", opset->value, 13, 17, "an opset from 13 to 17", &v)))
            return rc;
        o.opset = (int)v;
    }
    if (batch->seen && strcmp(batch->value, "dynamic") != 0) {
        if ((rc = cli_int(cmd, "--batch", batch->value, 1, INT32_MAX,
                          "a positive integer or 'dynamic'", &v)))
            return rc;
        o.batch = v;
    }
    if (cli_check_writable(cmd, "--output", output->value)) return CLI_FAIL;
    fv_model *m = cli_load_trained_model(cmd, pos[0]);
    if (!m) return CLI_FAIL;
    fv_status s = fv_model_export_onnx(m, output->value, &o);
    fv_model_free(m);
    return s ? cli_fail_lib(cmd, NULL, s) : CLI_OK;
}
