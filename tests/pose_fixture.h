/* pose_fixture.h — reads a JSON fixture of the 6D pose tests (tests/fixtures/pose/NAME), from
 * tests/ (as CTest runs them) or from the repository's root. NULL when not found or not JSON.
 */
#ifndef FV_POSE_FIXTURE_H
#define FV_POSE_FIXTURE_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

static inline cJSON *pose_fixture(const char *name)
{
    const char *dirs[] = {"fixtures/pose", "tests/fixtures/pose"};
    for (int i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dirs[i], name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
        size_t got = buf ? fread(buf, 1, (size_t)n, f) : 0;
        fclose(f);
        if (!buf) return NULL;
        buf[got] = '\0';
        cJSON *j = cJSON_Parse(buf);
        free(buf);
        return j;
    }
    return NULL;
}

#endif
