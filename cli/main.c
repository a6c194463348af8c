/* main.c — the fovea command: dispatches to one subcommand per file (train, evaluate, predict,
 * summary, data) and answers --help and --version.
 */
#include "commands.h"
#include "pose.h"
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: fovea COMMAND [ARGS]\n"
    "\n"
    "Keras-style convolutional networks in C.\n"
    "\n"
    "commands:\n"
    "  train MODEL --data DIR|FILE.csv   train a model (a .fv model file or saved .safetensors)\n"
    "  evaluate MODEL --data DIR|FILE    print test loss and test accuracy of a saved model\n"
    "  predict MODEL --input X --output P.npy\n"
    "                                    write a saved model's outputs for IDX images or .npy\n"
    "  summary MODEL                     print the model's layers, output shapes and parameters\n"
    "  plot HISTORY.csv -o curves.png    draw the training curves (accuracy and loss per epoch)\n"
    "  viz kernels|features|activations MODEL -o OUT.png\n"
    "                                    draw a conv layer's filters, one image's feature maps,\n"
    "                                    or the activation functions\n"
    "  generate MODEL -o samples.png     draw samples of a VAE or generator (z ~ N(0, I))\n"
    "  report MODEL --data DIR -o report.html\n"
    "                                    one HTML page: summary, curves, metrics, pictures\n"
    "  detect MODEL --input IMG|DIR      find objects with a detector (boxes, classes, scores)\n"
    "  pose MODEL --input IMG|DIR        estimate an object's 6D pose (R, t, Euler, BOP CSV)\n"
    "  export MODEL -o MODEL.onnx        write a trained model as an ONNX file\n"
    "  import MODEL.onnx -o MODEL.safetensors\n"
    "                                    read an ONNX model (PyTorch's export, fovea's) into "
    "fovea\n"
    "  data get mnist|fashion-mnist|iris [DIR]\n"
    "                                    download or copy a dataset into DIR (data/NAME)\n"
    "  data make detection DIR           generate detection scenes (YOLO's and COCO's layouts)\n"
    "  evaluate --detections DET.json --annotations INSTANCES.json\n"
    "                                    score any detector's results as pycocotools does\n"
    "  data make pose DIR                render a 6D pose dataset in the BOP layout\n"
    "  evaluate --poses P.csv --data DIR score 6D pose estimates (ADD(-S), MSSD, MSPD, ...)\n"
    "\n"
    "options:\n"
    "  -h, --help      this text ('fovea COMMAND --help' for a command's options)\n"
    "  --version       the version\n"
    "\n"
    "Exit status: 0 success, 1 failure, 2 usage error.\n"
    "\n"
    "example:\n"
    "  fovea data get mnist\n"
    "  fovea train examples/mnist_cnn.fv --data data/mnist --save mnist.safetensors\n";

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
} command;

static const command commands[] = {
    {"train", cmd_train},     {"evaluate", cmd_evaluate}, {"predict", cmd_predict},
    {"summary", cmd_summary}, {"data", cmd_data},         {"plot", cmd_plot},
    {"viz", cmd_viz},         {"report", cmd_report},     {"export", cmd_export},
    {"import", cmd_import},   {"detect", cmd_detect},     {"generate", cmd_generate},
    {"pose", cmd_pose},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    const char *name = argv[1];
    /* FOVEA_KERNELS=avx2 (say): the kernels' instruction set, for comparing paths. */
    const char *kp = getenv("FOVEA_KERNELS");
    if (kp && fv_set_kernel_path(kp) != FV_OK) {
        fprintf(stderr, "fovea: FOVEA_KERNELS: %s\n", fv_last_error());
        return CLI_USAGE;
    }
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("fovea %s\nkernels: %s\n", FV_VERSION, fv_kernel_path());
        return CLI_OK;
    }
    if (strcmp(name, "help") == 0) {
        if (argc < 3) {
            fputs(usage, stdout);
            return CLI_OK;
        }
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
            if (strcmp(argv[2], commands[i].name) == 0) {
                char *help_argv[] = {argv[2], "--help", NULL};
                return commands[i].run(2, help_argv);
            }
        return cli_usage_error(NULL, "unknown command '%s'", argv[2]);
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    if (name[0] == '-') return cli_usage_error(NULL, "unknown option '%s'", name);
    return cli_usage_error(NULL, "unknown command '%s'", name);
}
