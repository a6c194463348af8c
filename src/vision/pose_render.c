/* pose_render.c — an offscreen renderer of a mesh at a pose with intrinsics K: Mesa's OSMesa
 * (software OpenGL with a depth buffer), fixed-function Lambert shading with a light at the
 * camera, composited over a background; also the silhouette mask and the depth in mm.
 */
#include "core/core.h"
#include "core/dynlib.h"

#include <GL/gl.h>
#include <GL/osmesa.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* OSMesa and the OpenGL entry points used here, taken from libOSMesa when the first renderer is
 * made (core/dynlib.h): GL(f) is f's address, with f's type from the headers. */
#define GL_FUNCTIONS(X)                                                                            \
    X(OSMesaCreateContextExt)                                                                      \
    X(OSMesaDestroyContext)                                                                        \
    X(OSMesaGetCurrentContext)                                                                     \
    X(OSMesaMakeCurrent)                                                                           \
    X(OSMesaPixelStore)                                                                            \
    X(glBegin)                                                                                     \
    X(glClear)                                                                                     \
    X(glClearColor)                                                                                \
    X(glClearDepth)                                                                                \
    X(glColor3ub)                                                                                  \
    X(glColorMaterial)                                                                             \
    X(glDepthFunc)                                                                                 \
    X(glDisable)                                                                                   \
    X(glEnable)                                                                                    \
    X(glEnd)                                                                                       \
    X(glFinish)                                                                                    \
    X(glGetError)                                                                                  \
    X(glLightModelfv)                                                                              \
    X(glLightModeli)                                                                               \
    X(glLightfv)                                                                                   \
    X(glLoadIdentity)                                                                              \
    X(glLoadMatrixd)                                                                               \
    X(glMatrixMode)                                                                                \
    X(glNormal3f)                                                                                  \
    X(glNormal3fv)                                                                                 \
    X(glReadPixels)                                                                                \
    X(glShadeModel)                                                                                \
    X(glVertex3fv)                                                                                 \
    X(glViewport)

enum {
#define X(f) GL_##f,
    GL_FUNCTIONS(X)
#undef X
        GL_COUNT
};
static const char *const gl_names[] = {
#define X(f) #f,
    GL_FUNCTIONS(X)
#undef X
        NULL};
static fv__fnptr gl_slots[GL_COUNT];
static fv__dynlib osmesa = {
    .sonames = (const char *const[]){"libOSMesa.so.8", "libOSMesa.so.6", "libOSMesa.so", NULL},
    .what = "OSMesa, the offscreen OpenGL of Debian's libosmesa6",
    .symbols = gl_names,
    .slots = gl_slots};
#define GL(f) ((__typeof__(f) *)gl_slots[GL_##f])

#define NEAR_MM  10.0
#define FAR_MM   20000.0
#define MAX_SIDE 8192

struct fv_renderer {
    OSMesaContext ctx;
    int64_t width, height;
    uint8_t *color; /* width × height × 4, OpenGL's rows (bottom first) */
    float *depth;   /* width × height, window depth in [0, 1] */
};

fv_renderer *fv_renderer_new(int64_t width, int64_t height)
{
    if (width < 1 || height < 1 || width > MAX_SIDE || height > MAX_SIDE) {
        fv__fail(FV_ERR_INVALID, "renderer: size %lld × %lld outside 1..%d", (long long)width,
                 (long long)height, MAX_SIDE);
        return NULL;
    }
    if (fv__dynlib_load(&osmesa) != FV_OK) return NULL;
    fv_renderer *r = calloc(1, sizeof *r);
    if (!r) {
        fv__fail(FV_ERR_NOMEM, "renderer: out of memory");
        return NULL;
    }
    r->width = width;
    r->height = height;
    r->color = malloc((size_t)(width * height * 4));
    r->depth = malloc((size_t)(width * height) * sizeof *r->depth);
    if (!r->color || !r->depth) {
        fv_renderer_free(r);
        fv__fail(FV_ERR_NOMEM, "renderer: out of memory for %lld × %lld", (long long)width,
                 (long long)height);
        return NULL;
    }
    r->ctx = GL(OSMesaCreateContextExt)(OSMESA_RGBA, 24, 0, 0, NULL);
    if (!r->ctx) {
        fv_renderer_free(r);
        fv__fail(FV_ERR_STATE, "renderer: OSMesa cannot create an OpenGL context");
        return NULL;
    }
    return r;
}

void fv_renderer_free(fv_renderer *r)
{
    if (!r) return;
    if (r->ctx) {
        if (GL(OSMesaGetCurrentContext)() == r->ctx) GL(OSMesaMakeCurrent)(NULL, NULL, 0, 0, 0);
        GL(OSMesaDestroyContext)(r->ctx);
    }
    free(r->color);
    free(r->depth);
    free(r);
}

/* OpenGL's projection (column-major) for OpenCV intrinsics K on a w × h viewport: the pixel
 * whose centre is OpenCV's (u, v) covers window [u, u+1] × [h−v−1, h−v] once the rows are read
 * back top first. Derived in docs/design.md ("The renderer's camera"). */
static void projection(const double *K, double w, double h, double *P)
{
    const double n = NEAR_MM, f = FAR_MM;
    double M[16] = {2 * K[0] / w,
                    -2 * K[1] / w,
                    (w - 2 * K[2] - 1) / w,
                    0,
                    0,
                    2 * K[4] / h,
                    -(h - 2 * K[5] - 1) / h,
                    0,
                    0,
                    0,
                    -(f + n) / (f - n),
                    -2 * f * n / (f - n),
                    0,
                    0,
                    -1,
                    0};
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            P[j * 4 + i] = M[i * 4 + j];
}

/* The model-view matrix (column-major): OpenCV's camera [R | t] followed by diag(1, −1, −1),
 * OpenGL's camera looking down −z with y up. */
static void modelview(const fv_pose *p, double *V)
{
    const double s[3] = {1, -1, -1};
    double M[16] = {0};
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++)
            M[i * 4 + j] = s[i] * p->R[i * 3 + j];
        M[i * 4 + 3] = s[i] * p->t[i];
    }
    M[15] = 1;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            V[j * 4 + i] = M[i * 4 + j];
}

fv_status fv_render(fv_renderer *r, const fv_mesh *m, const fv_pose *pose, const double K[9],
                    uint8_t *rgb, uint8_t *mask, float *depth)
{
    for (int64_t i = 0; i < m->n_faces * 3; i++)
        if (m->faces[i] < 0 || m->faces[i] >= m->n_vertices)
            return fv__fail(FV_ERR_INVALID, "render: face %lld names vertex %d of %lld",
                            (long long)(i / 3), m->faces[i], (long long)m->n_vertices);
    if (!(K[0] > 0 && K[4] > 0)) return fv__fail(FV_ERR_INVALID, "render: K needs fx, fy > 0");
    const int w = (int)r->width, h = (int)r->height;
    if (!GL(OSMesaMakeCurrent)(r->ctx, r->color, GL_UNSIGNED_BYTE, w, h))
        return fv__fail(FV_ERR_STATE, "render: OSMesa cannot bind the %d × %d buffer", w, h);
    GL(OSMesaPixelStore)(OSMESA_Y_UP, 1);
    GL(glViewport)(0, 0, w, h);
    GL(glClearColor)(0, 0, 0, 0);
    GL(glClearDepth)(1.0);
    GL(glClear)(GL_COLOR_BUFFER_BIT | GL_DEPTH_BUFFER_BIT);
    GL(glEnable)(GL_DEPTH_TEST);
    GL(glDepthFunc)(GL_LESS);
    GL(glDisable)(GL_CULL_FACE);
    GL(glShadeModel)(GL_SMOOTH);

    double P[16], V[16];
    GL(glMatrixMode)(GL_MODELVIEW);
    GL(glLoadIdentity)();
    /* A directional light from the camera (eye space +z), Lambert: ambient 0.35, diffuse 0.65. */
    const GLfloat light_dir[4] = {0, 0, 1, 0}, amb[4] = {0.35f, 0.35f, 0.35f, 1},
                  dif[4] = {0.65f, 0.65f, 0.65f, 1}, none[4] = {0, 0, 0, 1};
    GL(glEnable)(GL_LIGHTING);
    GL(glEnable)(GL_LIGHT0);
    GL(glLightfv)(GL_LIGHT0, GL_POSITION, light_dir);
    GL(glLightfv)(GL_LIGHT0, GL_AMBIENT, none);
    GL(glLightfv)(GL_LIGHT0, GL_DIFFUSE, dif);
    GL(glLightfv)(GL_LIGHT0, GL_SPECULAR, none);
    GL(glLightModelfv)(GL_LIGHT_MODEL_AMBIENT, amb);
    GL(glLightModeli)(GL_LIGHT_MODEL_TWO_SIDE, GL_FALSE); /* the normals given decide */
    GL(glEnable)(GL_COLOR_MATERIAL);
    GL(glColorMaterial)(GL_FRONT_AND_BACK, GL_AMBIENT_AND_DIFFUSE);
    GL(glEnable)(GL_NORMALIZE);
    projection(K, w, h, P);
    modelview(pose, V);
    GL(glMatrixMode)(GL_PROJECTION);
    GL(glLoadMatrixd)(P);
    GL(glMatrixMode)(GL_MODELVIEW);
    GL(glLoadMatrixd)(V);

    GL(glBegin)(GL_TRIANGLES);
    for (int64_t f = 0; f < m->n_faces; f++) {
        if (!m->normals) { /* the face's own normal, from its winding */
            const float *a = m->vertices + m->faces[f * 3] * 3;
            const float *b = m->vertices + m->faces[f * 3 + 1] * 3;
            const float *c = m->vertices + m->faces[f * 3 + 2] * 3;
            float u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
            float v[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
            GL(glNormal3f)
            (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]);
        }
        for (int k = 0; k < 3; k++) {
            int32_t v = m->faces[f * 3 + k];
            if (m->colors)
                GL(glColor3ub)(m->colors[v * 3], m->colors[v * 3 + 1], m->colors[v * 3 + 2]);
            else
                GL(glColor3ub)(180, 180, 180);
            if (m->normals) GL(glNormal3fv)(m->normals + v * 3);
            GL(glVertex3fv)(m->vertices + v * 3);
        }
    }
    GL(glEnd)();
    GL(glFinish)();
    GL(glReadPixels)(0, 0, w, h, GL_DEPTH_COMPONENT, GL_FLOAT, r->depth);
    GLenum err = GL(glGetError)();
    if (err != GL_NO_ERROR) return fv__fail(FV_ERR_STATE, "render: OpenGL error 0x%x", err);

    /* Rows back top first; the object where the depth buffer was written. */
    const double n = NEAR_MM, fa = FAR_MM;
    for (int y = 0; y < h; y++) {
        const int gy = h - 1 - y;
        for (int x = 0; x < w; x++) {
            const int64_t gi = (int64_t)gy * w + x, oi = (int64_t)y * w + x;
            const float d = r->depth[gi];
            const bool on = d < 1.0f;
            if (mask) mask[oi] = on ? 255 : 0;
            if (depth) {
                /* window depth → z_ndc → the distance along the optical axis (mm) */
                double zn = 2.0 * d - 1.0;
                depth[oi] = on ? (float)(2.0 * fa * n / (fa + n - zn * (fa - n))) : 0.0f;
            }
            if (rgb && on)
                for (int c = 0; c < 3; c++)
                    rgb[oi * 3 + c] = r->color[gi * 4 + c];
        }
    }
    return FV_OK;
}
