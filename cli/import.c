/* import.c — `fovea import model.onnx -o MODEL.safetensors`: an ONNX model (from fovea's export
 * or PyTorch's torch.onnx.export) as an ordinary fovea model (fv_model_import_onnx).
 */
#include "commands.h"
#include "common.h"
#include "viz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: fovea import MODEL.onnx -o MODEL.safetensors [options]\n"
    "\n"
    "Reads an ONNX model made of operators fovea has and writes it as a fovea model (weights and\n"
    "model text in one file) that summary, predict, evaluate, viz and 'train --weights' take.\n"
    "Images are converted once into fovea's channels-last layout: the graph's input is taken as\n"
    "N x C x H x W (PyTorch's), unless the file was written by 'fovea export' in NHWC.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE       the .safetensors file to write (required)\n"
    "  --input-shape H,W,C     the input's sample shape (channels last), for files whose\n"
    "                          input axes are free; a vector input takes one number\n"
    "  --compile \"ARGS\"        a compile line for the model (ONNX files hold no loss), e.g.\n"
    "                          \"loss=categorical_crossentropy optimizer=adam metrics=accuracy\"\n";

int cmd_import(int argc, char **argv)
{
    const char *cmd = "import";
    cli_opt opts[] = {
        {"output", true, false, NULL},
        {"input-shape", true, false, NULL},
        {"compile", true, false, NULL},
    };
    const int nopts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos;
    cli_alias_output(argc, argv);
    int rc = cli_parse(cmd, usage, argc, argv, opts, nopts, pos, 1, 1, &npos);
    if (rc != CLI_CONTINUE) return rc;
    cli_opt *output = cli_find(opts, nopts, "output");
    cli_opt *shape = cli_find(opts, nopts, "input-shape");
    if (!output->seen) return cli_usage_error(cmd, "-o MODEL.safetensors is required");
    cli_opt *compile = cli_find(opts, nopts, "compile");
    fv_onnx_import_opts o = {.compile = compile->seen ? compile->value : NULL};
    if (shape->seen) {
        const char *p = shape->value;
        while (o.input_rank < 4) {
            char *end;
            long long v = strtoll(p, &end, 10);
            if (end == p || v < 1 || v > (1 << 20) || (*end && *end != ','))
                return cli_usage_error(cmd,
                                       "--input-shape: expected H,W,C or UNITS (positive "
                                       "integers), got '%s'",
                                       shape->value);
            o.input_shape[o.input_rank++] = v;
            if (!*end) break;
            p = end + 1;
        }
        if (o.input_rank != 1 && o.input_rank != 3)
            return cli_usage_error(cmd, "--input-shape: expected H,W,C or UNITS, got '%s'",
                                   shape->value);
    }
    if (!cli_exists(pos[0]) || cli_is_dir(pos[0])) {
        cli_error(cmd, "'%s': %s", pos[0], cli_exists(pos[0]) ? "is a folder" : "no such file");
        return CLI_FAIL;
    }
    if (cli_check_writable(cmd, "--output", output->value)) return CLI_FAIL;
    fv_model *m = fv_model_import_onnx(pos[0], &o);
    if (!m) return cli_fail_lib(cmd, NULL, FV_ERR_INVALID);
    fv_status s = fv_model_save(m, output->value);
    fv_model_free(m);
    return s ? cli_fail_lib(cmd, NULL, s) : CLI_OK;
}
