/* commands.h — the subcommands of fovea, one per file: each takes its own name as argv[0] and
 * returns the process exit status (CLI_OK, CLI_FAIL or CLI_USAGE).
 */
#ifndef FOVEA_CLI_COMMANDS_H
#define FOVEA_CLI_COMMANDS_H

#include <stdbool.h>

int cmd_train(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_data(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_viz(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_data_make(int argc, char **argv); /* data make detection: cli/data_detection.c */
/* evaluate --detections --annotations (cli/evaluate_detection.c): whether argv asks for it */
bool cli_is_detection_evaluation(int argc, char **argv);
int cmd_evaluate_detections(int argc, char **argv);
int cmd_viz_boxes(int argc, char **argv);      /* viz boxes: cli/viz_boxes.c */
int cmd_data_make_pose(int argc, char **argv); /* data_pose.c: `fovea data make pose` */
int cmd_evaluate_poses(int argc, char **argv); /* evaluate_pose.c: `fovea evaluate --poses` */

#endif
