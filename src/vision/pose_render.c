/* pose_render.c — an offscreen renderer of a mesh at a pose with intrinsics K: Mesa's OSMesa
 * (software OpenGL with a depth buffer), fixed-function Lambert shading with a light at the
 * camera, composited over a background; also the silhouette mask and the depth in mm.
 */
#include "core/core.h"

#include <GL/gl.h>
#include <GL/osmesa.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    r->ctx = OSMesaCreateContextExt(OSMESA_RGBA, 24, 0, 0, NULL);
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
        if (OSMesaGetCurrentContext() == r->ctx) OSMesaMakeCurrent(NULL, NULL, 0, 0, 0);
        OSMesaDestroyContext(r->ctx);
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
    if (!OSMesaMakeCurrent(r->ctx, r->color, GL_UNSIGNED_BYTE, w, h))
        return fv__fail(FV_ERR_STATE, "render: OSMesa cannot bind the %d × %d buffer", w, h);
    OSMesaPixelStore(OSMESA_Y_UP, 1);
    glViewport(0, 0, w, h);
    glClearColor(0, 0, 0, 0);
    glClearDepth(1.0);
    glClear(GL_COLOR_BUFFER_BIT | GL_DEPTH_BUFFER_BIT);
    glEnable(GL_DEPTH_TEST);
    glDepthFunc(GL_LESS);
    glDisable(GL_CULL_FACE);
    glShadeModel(GL_SMOOTH);

    double P[16], V[16];
    glMatrixMode(GL_MODELVIEW);
    glLoadIdentity();
    /* A directional light from the camera (eye space +z), Lambert: ambient 0.35, diffuse 0.65. */
    const GLfloat light_dir[4] = {0, 0, 1, 0}, amb[4] = {0.35f, 0.35f, 0.35f, 1},
                  dif[4] = {0.65f, 0.65f, 0.65f, 1}, none[4] = {0, 0, 0, 1};
    glEnable(GL_LIGHTING);
    glEnable(GL_LIGHT0);
    glLightfv(GL_LIGHT0, GL_POSITION, light_dir);
    glLightfv(GL_LIGHT0, GL_AMBIENT, none);
    glLightfv(GL_LIGHT0, GL_DIFFUSE, dif);
    glLightfv(GL_LIGHT0, GL_SPECULAR, none);
    glLightModelfv(GL_LIGHT_MODEL_AMBIENT, amb);
    glLightModeli(GL_LIGHT_MODEL_TWO_SIDE, GL_FALSE); /* the normals given decide */
    glEnable(GL_COLOR_MATERIAL);
    glColorMaterial(GL_FRONT_AND_BACK, GL_AMBIENT_AND_DIFFUSE);
    glEnable(GL_NORMALIZE);
    projection(K, w, h, P);
    modelview(pose, V);
    glMatrixMode(GL_PROJECTION);
    glLoadMatrixd(P);
    glMatrixMode(GL_MODELVIEW);
    glLoadMatrixd(V);

    glBegin(GL_TRIANGLES);
    for (int64_t f = 0; f < m->n_faces; f++) {
        if (!m->normals) { /* the face's own normal, from its winding */
            const float *a = m->vertices + m->faces[f * 3] * 3;
            const float *b = m->vertices + m->faces[f * 3 + 1] * 3;
            const float *c = m->vertices + m->faces[f * 3 + 2] * 3;
            float u[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]};
            float v[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
            glNormal3f(u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2],
                       u[0] * v[1] - u[1] * v[0]);
        }
        for (int k = 0; k < 3; k++) {
            int32_t v = m->faces[f * 3 + k];
            if (m->colors)
                glColor3ub(m->colors[v * 3], m->colors[v * 3 + 1], m->colors[v * 3 + 2]);
            else
                glColor3ub(180, 180, 180);
            if (m->normals) glNormal3fv(m->normals + v * 3);
            glVertex3fv(m->vertices + v * 3);
        }
    }
    glEnd();
    glFinish();
    glReadPixels(0, 0, w, h, GL_DEPTH_COMPONENT, GL_FLOAT, r->depth);
    GLenum err = glGetError();
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
