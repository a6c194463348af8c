/* load_images.c — times fovea's image folder loader (fv_dataset_load_image_dir) on one folder:
 * every file decoded, converted and resized into uint8, in parallel. Used by bench/images.
 * usage: load_images DIR HEIGHT WIDTH CHANNELS [THREADS]
 */
#include "fovea.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s DIR HEIGHT WIDTH CHANNELS [THREADS]\n", argv[0]);
        return 2;
    }
    fv_image_opts o = fv_image_defaults();
    o.height = atoll(argv[2]);
    o.width = atoll(argv[3]);
    o.channels = atoi(argv[4]);
    if (argc > 5) fv_set_threads(atoi(argv[5]));
    fv_dataset *d = NULL;
    fv_image_info info;
    double t0 = now();
    fv_status s = fv_dataset_load_image_dir(argv[1], &o, &d, NULL, &info);
    double t = now() - t0;
    if (s != FV_OK) {
        fprintf(stderr, "load_images: %s\n", fv_last_error());
        return 1;
    }
    printf("{\"seconds\": %.4f, \"images\": %lld, \"classes\": %lld, \"skipped\": %lld}\n", t,
           (long long)fv_dataset_count(d), (long long)info.classes, (long long)info.skipped);
    fv_dataset_free(d);
    return 0;
}
