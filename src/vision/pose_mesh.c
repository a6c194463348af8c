/* pose_mesh.c — object models: PLY read with Debian's assimp, written in BOP's ASCII PLY layout,
 * their diameter, and the procedural objects of `fovea data make pose` (tripod, box, cylinder)
 * with their models_info entries.
 */
#include "io/io.h"
#include "vision/pose_internal.h"

#include "core/dynlib.h"

#include <assimp/cimport.h>
#include <assimp/postprocess.h>
#include <assimp/scene.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* assimp's three entry points used here, taken from libassimp when the first model is read
 * (core/dynlib.h): AI(f) is f's address, with f's type from the headers. */
enum { AI_aiImportFile, AI_aiReleaseImport, AI_aiGetErrorString, AI_COUNT };
static const char *const ai_names[] = {"aiImportFile", "aiReleaseImport", "aiGetErrorString", NULL};
static fv__fnptr ai_slots[AI_COUNT];
static fv__dynlib assimp = {.sonames =
                                (const char *const[]){"libassimp.so.5", "libassimp.so", NULL},
                            .what = "assimp, the model reader of Debian's libassimp5",
                            .symbols = ai_names,
                            .slots = ai_slots};
#define AI(f) ((__typeof__(f) *)ai_slots[AI_##f])

void fv_mesh_free(fv_mesh *m)
{
    if (!m) return;
    free(m->vertices);
    free(m->normals);
    free(m->colors);
    free(m->faces);
    free(m);
}

/* An empty mesh with room for nv vertices and nf faces (normals and colours when asked). */
static fv_mesh *mesh_alloc(int64_t nv, int64_t nf, bool normals, bool colors)
{
    fv_mesh *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    size_t v3 = (size_t)(nv > 0 ? nv : 1) * 3, f3 = (size_t)(nf > 0 ? nf : 1) * 3;
    m->vertices = malloc(v3 * sizeof *m->vertices);
    m->normals = normals ? malloc(v3 * sizeof *m->normals) : NULL;
    m->colors = colors ? malloc(v3) : NULL;
    m->faces = malloc(f3 * sizeof *m->faces);
    if (!m->vertices || (normals && !m->normals) || (colors && !m->colors) || !m->faces) {
        fv_mesh_free(m);
        return NULL;
    }
    return m;
}

fv_status fv_mesh_read_ply(const char *path, fv_mesh **out)
{
    *out = NULL;
    FILE *probe = fopen(path, "rb");
    if (!probe) return fv__fail(FV_ERR_IO, "%s: cannot open the model", path);
    fclose(probe);
    if (fv__dynlib_load(&assimp) != FV_OK) return FV_ERR_STATE;
    const struct aiScene *sc = AI(aiImportFile)(
        path, aiProcess_Triangulate | aiProcess_JoinIdenticalVertices | aiProcess_SortByPType);
    if (!sc)
        return fv__fail(FV_ERR_FORMAT, "%s: not a readable model: %s", path,
                        AI(aiGetErrorString)());
    int64_t nv = 0, nf = 0;
    bool normals = sc->mNumMeshes > 0, colors = sc->mNumMeshes > 0;
    for (unsigned i = 0; i < sc->mNumMeshes; i++) {
        const struct aiMesh *a = sc->mMeshes[i];
        nv += a->mNumVertices;
        for (unsigned f = 0; f < a->mNumFaces; f++)
            nf += a->mFaces[f].mNumIndices == 3;
        normals = normals && a->mNormals;
        colors = colors && a->mColors[0];
    }
    if (nf == 0 || nv == 0 || nv > INT32_MAX) {
        AI(aiReleaseImport)(sc);
        return fv__fail(FV_ERR_FORMAT, "%s: %s", path,
                        nv > INT32_MAX ? "more than 2^31 vertices" : "the model has no triangles");
    }
    fv_mesh *m = mesh_alloc(nv, nf, normals, colors);
    if (!m) {
        AI(aiReleaseImport)(sc);
        return fv__fail(FV_ERR_NOMEM, "%s: out of memory for %lld vertices", path, (long long)nv);
    }
    int64_t v0 = 0, k = 0;
    for (unsigned i = 0; i < sc->mNumMeshes; i++) {
        const struct aiMesh *a = sc->mMeshes[i];
        for (unsigned v = 0; v < a->mNumVertices; v++) {
            float *p = m->vertices + (v0 + v) * 3;
            p[0] = a->mVertices[v].x, p[1] = a->mVertices[v].y, p[2] = a->mVertices[v].z;
            if (normals) {
                float *q = m->normals + (v0 + v) * 3;
                q[0] = a->mNormals[v].x, q[1] = a->mNormals[v].y, q[2] = a->mNormals[v].z;
            }
            if (colors) {
                const struct aiColor4D *c = &a->mColors[0][v];
                float rgb[3] = {c->r, c->g, c->b};
                for (int j = 0; j < 3; j++) {
                    float x = rgb[j] * 255.0f + 0.5f;
                    m->colors[(v0 + v) * 3 + j] = (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
                }
            }
        }
        for (unsigned f = 0; f < a->mNumFaces; f++) {
            if (a->mFaces[f].mNumIndices != 3) continue;
            for (int j = 0; j < 3; j++)
                m->faces[k * 3 + j] = (int32_t)(v0 + a->mFaces[f].mIndices[j]);
            k++;
        }
        v0 += a->mNumVertices;
    }
    m->n_vertices = nv;
    m->n_faces = nf;
    AI(aiReleaseImport)(sc);
    *out = m;
    return FV_OK;
}

fv_status fv_mesh_write_ply(const fv_mesh *m, const char *path)
{
    for (int64_t i = 0; i < m->n_faces * 3; i++)
        if (m->faces[i] < 0 || m->faces[i] >= m->n_vertices)
            return fv__fail(FV_ERR_INVALID, "%s: face %lld names vertex %d of %lld", path,
                            (long long)(i / 3), m->faces[i], (long long)m->n_vertices);
    fv_afile a;
    fv_status st = fv__afile_open(&a, path);
    if (st != FV_OK) return st;
    FILE *f = a.f;
    fprintf(f, "ply\nformat ascii 1.0\ncomment made by fovea\nelement vertex %lld\n",
            (long long)m->n_vertices);
    fputs("property float x\nproperty float y\nproperty float z\n", f);
    if (m->normals) fputs("property float nx\nproperty float ny\nproperty float nz\n", f);
    if (m->colors) fputs("property uchar red\nproperty uchar green\nproperty uchar blue\n", f);
    fprintf(f, "element face %lld\nproperty list uchar int vertex_indices\nend_header\n",
            (long long)m->n_faces);
    for (int64_t i = 0; i < m->n_vertices; i++) {
        const float *p = m->vertices + i * 3;
        fprintf(f, "%.9g %.9g %.9g", p[0], p[1], p[2]);
        if (m->normals) {
            const float *q = m->normals + i * 3;
            fprintf(f, " %.9g %.9g %.9g", q[0], q[1], q[2]);
        }
        if (m->colors) {
            const uint8_t *c = m->colors + i * 3;
            fprintf(f, " %u %u %u", c[0], c[1], c[2]);
        }
        fputc('\n', f);
    }
    for (int64_t i = 0; i < m->n_faces; i++)
        fprintf(f, "3 %d %d %d\n", m->faces[i * 3], m->faces[i * 3 + 1], m->faces[i * 3 + 2]);
    return fv__afile_commit(&a);
}

double fv_mesh_diameter(const fv_mesh *m)
{
    double best = 0;
    for (int64_t i = 0; i < m->n_vertices; i++) {
        const float *p = m->vertices + i * 3;
        for (int64_t j = i + 1; j < m->n_vertices; j++) {
            const float *q = m->vertices + j * 3;
            double dx = (double)p[0] - q[0], dy = (double)p[1] - q[1], dz = (double)p[2] - q[2];
            double d2 = dx * dx + dy * dy + dz * dz;
            if (d2 > best) best = d2;
        }
    }
    return sqrt(best);
}

/* ---- procedural objects ---------------------------------------------------------------------
 * Built as lists of flat-shaded quads and triangles (each face its own vertices, so that the
 * normals are the faces' and the silhouette edges are sharp). */

typedef struct builder {
    fv_mesh *m;
    int64_t cap_v, cap_f;
    bool failed;
} builder;

static int32_t add_vertex(builder *b, const double *p, const double *n, const uint8_t *c)
{
    if (b->failed || b->m->n_vertices >= b->cap_v) {
        b->failed = true;
        return 0;
    }
    int64_t i = b->m->n_vertices++;
    for (int j = 0; j < 3; j++) {
        b->m->vertices[i * 3 + j] = (float)p[j];
        b->m->normals[i * 3 + j] = (float)n[j];
        b->m->colors[i * 3 + j] = c[j];
    }
    return (int32_t)i;
}

static void add_face(builder *b, int32_t i, int32_t j, int32_t k)
{
    if (b->failed || b->m->n_faces >= b->cap_f) {
        b->failed = true;
        return;
    }
    int32_t *f = b->m->faces + b->m->n_faces++ * 3;
    f[0] = i, f[1] = j, f[2] = k;
}

/* An axis-aligned box [lo, hi], faces outward and counter-clockwise seen from outside. */
static void add_box(builder *b, const double *lo, const double *hi, const uint8_t *c)
{
    for (int axis = 0; axis < 3; axis++)
        for (int side = 0; side < 2; side++) {
            int u = (axis + 1) % 3, v = (axis + 2) % 3;
            double n[3] = {0, 0, 0};
            n[axis] = side ? 1 : -1;
            double corner[4][3];
            /* (u, v) corners in counter-clockwise order about +axis; reversed for −axis. */
            const int cu[4] = {0, 1, 1, 0}, cv[4] = {0, 0, 1, 1};
            for (int k = 0; k < 4; k++) {
                int kk = side ? k : 3 - k;
                corner[k][axis] = side ? hi[axis] : lo[axis];
                corner[k][u] = cu[kk] ? hi[u] : lo[u];
                corner[k][v] = cv[kk] ? hi[v] : lo[v];
            }
            int32_t id[4];
            for (int k = 0; k < 4; k++)
                id[k] = add_vertex(b, corner[k], n, c);
            add_face(b, id[0], id[1], id[2]);
            add_face(b, id[0], id[2], id[3]);
        }
}

static void add_cylinder(builder *b, double r, double h, int sides, const uint8_t *c)
{
    const double z0 = -h / 2, z1 = h / 2;
    for (int s = 0; s < sides; s++) {
        double a0 = 2 * M_PI * s / sides, a1 = 2 * M_PI * (s + 1) / sides;
        double p[4][3] = {{r * cos(a0), r * sin(a0), z0},
                          {r * cos(a1), r * sin(a1), z0},
                          {r * cos(a1), r * sin(a1), z1},
                          {r * cos(a0), r * sin(a0), z1}};
        double n0[3] = {cos(a0), sin(a0), 0}, n1[3] = {cos(a1), sin(a1), 0};
        int32_t i0 = add_vertex(b, p[0], n0, c), i1 = add_vertex(b, p[1], n1, c);
        int32_t i2 = add_vertex(b, p[2], n1, c), i3 = add_vertex(b, p[3], n0, c);
        add_face(b, i0, i1, i2);
        add_face(b, i0, i2, i3);
        /* the caps: a fan around each centre */
        const double down[3] = {0, 0, -1}, up[3] = {0, 0, 1};
        double cb[3] = {0, 0, z0}, ct[3] = {0, 0, z1};
        int32_t b0 = add_vertex(b, cb, down, c), b1 = add_vertex(b, p[0], down, c);
        int32_t b2 = add_vertex(b, p[1], down, c);
        add_face(b, b0, b2, b1);
        int32_t t0 = add_vertex(b, ct, up, c), t1 = add_vertex(b, p[3], up, c);
        int32_t t2 = add_vertex(b, p[2], up, c);
        add_face(b, t0, t1, t2);
    }
}

static bool set_half_turns(fv_pose_model_info *info, const int *axes, int n)
{
    info->discrete = calloc((size_t)n, sizeof *info->discrete);
    if (!info->discrete) return false;
    for (int k = 0; k < n; k++) {
        double *m = info->discrete[k];
        for (int i = 0; i < 3; i++)
            m[i * 4 + i] = i == axes[k] ? 1 : -1; /* a half-turn about axis: diag(±1) */
        m[15] = 1;
    }
    info->n_discrete = n;
    return true;
}

fv_status fv_mesh_make(const char *name, fv_mesh **out, fv_pose_model_info *info)
{
    *out = NULL;
    memset(info, 0, sizeof *info);
    int kind = !name                           ? -1
               : strcmp(name, "tripod") == 0   ? 1
               : strcmp(name, "box") == 0      ? 2
               : strcmp(name, "cylinder") == 0 ? 3
                                               : -1;
    if (kind < 0)
        return fv__fail(FV_ERR_INVALID,
                        "object '%s': expected tripod (no symmetry), box (discrete symmetries) or "
                        "cylinder (a continuous symmetry), or a .ply model",
                        name ? name : "(null)");
    const int sides = 32;
    int64_t nv = kind == 3 ? (int64_t)sides * 10 : kind == 1 ? 72 : 24;
    int64_t nf = kind == 3 ? (int64_t)sides * 4 : kind == 1 ? 36 : 12;
    builder b = {mesh_alloc(nv, nf, true, true), nv, nf, false};
    if (!b.m) return fv__fail(FV_ERR_NOMEM, "out of memory for the %s model", name);
    if (kind == 1) {
        /* Arms of 80, 56 and 36 mm (10 mm thick) along x, y, z from one corner; centred on
         * their bounding box, so that t is the box's centre. */
        const double off[3] = {37.5, 25.5, 15.5};
        const double arms[3][2][3] = {
            {{-5, -5, -5}, {80, 5, 5}}, {{-5, 5, -5}, {5, 56, 5}}, {{-5, -5, 5}, {5, 5, 36}}};
        const uint8_t col[3][3] = {{220, 40, 40}, {40, 190, 60}, {50, 80, 230}};
        for (int a = 0; a < 3; a++) {
            double lo[3], hi[3];
            for (int j = 0; j < 3; j++)
                lo[j] = arms[a][0][j] - off[j], hi[j] = arms[a][1][j] - off[j];
            add_box(&b, lo, hi, col[a]);
        }
    } else if (kind == 2) {
        const double lo[3] = {-35, -25, -15}, hi[3] = {35, 25, 15};
        const uint8_t grey[3] = {170, 170, 160};
        add_box(&b, lo, hi, grey);
        const int axes[3] = {0, 1, 2};
        if (!set_half_turns(info, axes, 3)) b.failed = true;
    } else {
        const uint8_t yellow[3] = {225, 190, 60};
        add_cylinder(&b, 25, 70, sides, yellow);
        const int axes[1] = {0};
        info->continuous = calloc(1, sizeof *info->continuous);
        if (!info->continuous || !set_half_turns(info, axes, 1)) b.failed = true;
        if (info->continuous) {
            info->continuous[0].axis[2] = 1;
            info->n_continuous = 1;
        }
    }
    if (b.failed) {
        fv_mesh_free(b.m);
        fv_pose_model_info_clear(info);
        return fv__fail(FV_ERR_NOMEM, "out of memory for the %s model", name);
    }
    info->obj_id = kind;
    info->diameter = fv_mesh_diameter(b.m);
    for (int j = 0; j < 3; j++) {
        double lo = INFINITY, hi = -INFINITY;
        for (int64_t i = 0; i < b.m->n_vertices; i++) {
            double x = b.m->vertices[i * 3 + j];
            lo = x < lo ? x : lo;
            hi = x > hi ? x : hi;
        }
        info->min[j] = lo;
        info->size[j] = hi - lo;
    }
    *out = b.m;
    return FV_OK;
}
