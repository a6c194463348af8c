/* data.c — `fovea data get mnist|fashion-mnist|iris [DIR]`: runs the project's script
 * scripts/get-data.sh DATASET DIR, found beside the executable or through FOVEA_SCRIPTS. The
 * arguments go to the script as they are (posix_spawn, no shell command line is built).
 */
#include "commands.h"
#include "common.h"

#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char usage[] =
    "usage: fovea data get DATASET [DIR] [--force] [--format idx|png]\n"
    "       fovea data make detection DIR [options]   (see 'fovea data make --help')\n"
    "       fovea data make pose DIR [options]   (see 'fovea data make pose --help')\n"
    "\n"
    "Puts a dataset into DIR (default data/DATASET):\n"
    "  mnist           the four MNIST IDX files (from a public mirror; where none is\n"
    "                  reachable, a 10,000-digit subset split 8,000 / 2,000, said plainly)\n"
    "  fashion-mnist   the four Fashion-MNIST IDX files (Debian's dataset-fashion-mnist)\n"
    "  iris            DIR/iris.csv, the Iris table (from Debian's python3-sklearn)\n"
    "A folder that already holds a valid copy is left alone unless --force is given.\n"
    "--format png (mnist, fashion-mnist) writes DIR/train/CLASS/NNNNN.png and\n"
    "DIR/test/CLASS/NNNNN.png instead (default DIR data/DATASET-png): a folder of images as\n"
    "Keras' image_dataset_from_directory reads, classes by name (T-shirt_top, Trouser, ...; 0-9),\n"
    "NNNNN the index in the IDX file ('fovea train --file-order name' takes them in that order).\n"
    "\n"
    "It runs scripts/get-data.sh DATASET DIR, found beside the fovea executable or in the\n"
    "folder named by the FOVEA_SCRIPTS environment variable.\n";

static const char *const datasets[] = {"mnist", "fashion-mnist", "iris"};

#define SCRIPT_NAME "get-data.sh"

/* The script's path, malloc'd, or NULL (with *tried listing where it looked). */
static char *find_script(char *tried, size_t tried_size)
{
    tried[0] = '\0';
    const char *env = getenv("FOVEA_SCRIPTS");
    char path[PATH_MAX + 64];
    if (env && *env) {
        snprintf(path, sizeof path, "%s/%s", env, SCRIPT_NAME);
        if (access(path, R_OK) == 0) return strdup(path);
        snprintf(tried, tried_size, "%.1024s (from FOVEA_SCRIPTS)", path);
        return NULL;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(tried, tried_size, "nowhere: cannot find the fovea executable (%s)",
                 strerror(errno));
        return NULL;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    /* An installed or top-level binary (PREFIX/bin/fovea), or a build folder (build/fovea,
     * build/cli/fovea). */
    static const char *const rel[] = {"../scripts", "../../scripts", "../share/fovea/scripts",
                                      "scripts"};
    size_t used = 0;
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(path, sizeof path, "%s/%s/%s", exe, rel[i], SCRIPT_NAME);
        if (access(path, R_OK) == 0) {
            char *real = realpath(path, NULL);
            return real ? real : strdup(path);
        }
        if (used < tried_size) {
            int k = snprintf(tried + used, tried_size - used, "%s%s", used ? ", " : "", path);
            if (k > 0) used += (size_t)k;
        }
    }
#ifdef FOVEA_SOURCE_SCRIPTS
    /* Last, for a build folder anywhere: the source tree it was configured from. */
    snprintf(path, sizeof path, "%s/%s", FOVEA_SOURCE_SCRIPTS, SCRIPT_NAME);
    if (access(path, R_OK) == 0) return strdup(path);
#endif
    return NULL;
}

static int run_script(const char *cmd, const char *script, const char *dataset, const char *dir,
                      bool force, const char *format)
{
    /* Run it with bash unless it is executable (then its own #! line decides). */
    bool exec_ok = access(script, X_OK) == 0;
    /* Optional arguments go last, the absent ones left out (NULL ends the list early). */
    char format_arg[32];
    snprintf(format_arg, sizeof format_arg, "--format=%s", format ? format : "idx");
    char *opt[2] = {NULL, NULL};
    int nopt = 0;
    if (force) opt[nopt++] = "--force";
    if (format) opt[nopt++] = format_arg;
    char *const argv_exec[] = {(char *)script, (char *)dataset, (char *)dir, opt[0], opt[1], NULL};
    char *const argv_bash[] = {"bash", (char *)script, (char *)dataset, (char *)dir, opt[0], opt[1],
                               NULL};
    pid_t pid;
    setenv("FOVEA_DATA_GET_NAME", "fovea data get", 1); /* the script's messages' prefix */
    fflush(stdout);
    fflush(stderr);
    int err = exec_ok ? posix_spawn(&pid, script, NULL, NULL, argv_exec, environ)
                      : posix_spawnp(&pid, "bash", NULL, NULL, argv_bash, environ);
    if (err != 0) {
        cli_error(cmd, "cannot run %s: %s", script, strerror(err));
        return CLI_FAIL;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            cli_error(cmd, "waiting for %s: %s", script, strerror(errno));
            return CLI_FAIL;
        }
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return CLI_OK;
    if (WIFEXITED(status))
        cli_error(cmd, "getting %s into '%s' failed: %s exited with status %d", dataset, dir,
                  script, WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        cli_error(cmd, "getting %s into '%s' failed: %s was killed by signal %d", dataset, dir,
                  script, WTERMSIG(status));
    else
        cli_error(cmd, "getting %s into '%s' failed", dataset, dir);
    return CLI_FAIL;
}

int cmd_data(int argc, char **argv)
{
    const char *cmd = "data";
    if (argc > 2 && strcmp(argv[1], "make") == 0 && strcmp(argv[2], "pose") == 0)
        return cmd_data_make_pose(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "make") == 0) return cmd_data_make(argc - 1, argv + 1);
    cli_opt opts[] = {{"force", false, false, NULL}, {"format", true, false, NULL}};
    const char *pos[3];
    int npos;
    int rc = cli_parse(cmd, usage, argc, argv, opts, 2, pos, 1, 3, &npos);
    if (rc != CLI_CONTINUE) return rc;
    if (strcmp(pos[0], "get") != 0)
        return cli_usage_error(cmd, "unknown action '%s' (expected 'get')", pos[0]);
    if (npos < 2)
        return cli_usage_error(cmd, "get: missing DATASET (mnist, fashion-mnist or iris)");
    const char *name = pos[1];
    bool known = false;
    for (size_t i = 0; i < sizeof datasets / sizeof datasets[0]; i++)
        known = known || strcmp(name, datasets[i]) == 0;
    if (!known)
        return cli_usage_error(cmd,
                               "get: unknown dataset '%s' (expected mnist, fashion-mnist "
                               "or iris)",
                               name);
    const char *format = opts[1].seen ? opts[1].value : NULL;
    if (format && strcmp(format, "idx") != 0 && strcmp(format, "png") != 0)
        return cli_usage_error(cmd, "--format: expected idx or png, got '%s'", format);
    bool png = format && strcmp(format, "png") == 0;
    if (png && strcmp(name, "iris") == 0)
        return cli_usage_error(cmd, "--format png applies to mnist and fashion-mnist");
    char defdir[64];
    snprintf(defdir, sizeof defdir, "data/%s%s", name, png ? "-png" : "");
    const char *dir = npos > 2 ? pos[2] : defdir;
    /* A folder named "-x" (given after "--") must not reach the script as an option. */
    char *dotted = NULL;
    if (dir[0] == '-') {
        dotted = malloc(strlen(dir) + 3);
        if (!dotted) {
            cli_error(cmd, "out of memory");
            return CLI_FAIL;
        }
        strcpy(dotted, "./");
        strcat(dotted, dir);
        dir = dotted;
    }

    char tried[2048];
    char *script = find_script(tried, sizeof tried);
    if (!script) {
        cli_error(cmd,
                  "cannot find scripts/%s; looked at %s; set FOVEA_SCRIPTS to the "
                  "folder that holds it",
                  SCRIPT_NAME, tried);
        free(dotted);
        return CLI_FAIL;
    }
    rc = run_script(cmd, script, name, dir, opts[0].seen, format);
    free(script);
    free(dotted);
    return rc;
}
