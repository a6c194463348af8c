/* io.h — readers and writers of outside data: IDX (gzipped or not), safetensors, .npy, CSV, and
 * atomic file replacement. Every reader treats its input as hostile: sizes from headers are
 * checked for overflow and against the bytes present before anything is allocated, and each
 * failure records one message naming the file and the byte offset, line or field.
 * Each reader has a parse-from-memory entry point (for tests and fuzzing) behind the file one.
 */
#ifndef FV_IO_H
#define FV_IO_H

#include "core/core.h"

#include <stdint.h>
#include <stdio.h>

/* ---- whole files ------------------------------------------------------------------------- */

/* The most bytes a reader takes from one file (after decompression): a bound on the memory that
 * a hostile file (a gzip bomb, say) can make fovea allocate. */
#if SIZE_MAX > 0xffffffffu
#define FV__MAX_INPUT_BYTES ((size_t)16 << 30)
#else
#define FV__MAX_INPUT_BYTES ((size_t)1 << 30)
#endif

/* Reads a whole file; if it starts with the gzip magic, inflates it (zlib), refusing an output
 * larger than max_bytes. *buf is malloc'd (free with free()). */
fv_status fv__read_file(const char *path, size_t max_bytes, bool gunzip, uint8_t **buf,
                        size_t *len);

/* Writing a file so that a crash never leaves it half-written: data goes to "PATH.tmp.PID",
 * is flushed and fsync'd, then renamed over PATH. Abort removes the temporary file. */
typedef struct fv_afile {
    FILE *f;
    char *tmp_path;
    char *path;
} fv_afile;

fv_status fv__afile_open(fv_afile *a, const char *path);
fv_status fv__afile_commit(fv_afile *a); /* closes; on any write error removes tmp, fails */
void fv__afile_abort(fv_afile *a);

/* mkdir -p: path and every missing folder above it (0777 less the umask). FV_ERR_IO naming the
 * folder that cannot be made; FV_ERR_NOMEM. */
fv_status fv__make_dirs(const char *path);

/* Writes a cJSON tree as JSON text and a newline to path through fv__afile (atomic), and deletes
 * the tree (also on failure; NULL is taken for a tree that ran out of memory). pretty: cJSON's
 * indented form, else one line. FV_ERR_NOMEM or fv__afile's FV_ERR_IO, naming path. */
struct cJSON;
fv_status fv__write_json(const char *path, struct cJSON *root, bool pretty);

/* ---- text --------------------------------------------------------------------------------
 * Every text input (model files, CSV tables, history CSV) is read through this: a UTF-8
 * byte-order mark is skipped; LF, CRLF and CR line ends all become one '\n'; a NUL byte or
 * invalid UTF-8 (RFC 3629: overlong forms, surrogates and code points above U+10FFFF included)
 * is FV_ERR_FORMAT naming origin, the line (1-based) and the byte offset in the original data
 * ("model.fv:3: byte 41: 0xff is not valid UTF-8; save the file as UTF-8"). */

typedef struct fv_text {
    char *buf;          /* the normalised text, NUL-terminated (owned) */
    size_t len;         /* bytes in buf before the NUL */
    size_t pos;         /* where fv__text_line continues */
    int64_t line;       /* the 1-based number of the line fv__text_line returned last */
    const char *origin; /* names the text in messages (not owned) */
} fv_text;

/* Checks and normalises data[0..len) into t (free with fv__text_free, also after a failure). */
fv_status fv__text_init(fv_text *t, const char *data, size_t len, const char *origin);
/* The next line (without its '\n'; not NUL-terminated) and its length; its number is t->line.
 * False at the end. A final line without a line end counts; a final line end adds no line. */
bool fv__text_line(fv_text *t, const char **line, size_t *len);
void fv__text_free(fv_text *t);

/* ---- IDX (LeCun's MNIST format): magic 0,0,type,rank; big-endian u32 dims; data ------------ */

typedef struct fv_idx {
    int rank; /* 1..4 */
    int64_t dims[4];
    int64_t count; /* product of dims */
    uint8_t *data; /* malloc'd; only type 0x08 (unsigned byte) is accepted */
} fv_idx;

fv_status fv__idx_parse(const uint8_t *buf, size_t len, const char *origin, fv_idx *out);
fv_status fv__idx_read(const char *path, fv_idx *out);        /* gzip detected by magic */
fv_status fv__idx_write(const char *path, const fv_idx *idx); /* uncompressed, atomic */
void fv__idx_free(fv_idx *idx);

/* ---- safetensors ---------------------------------------------------------------------------
 * u64 little-endian header length N, N bytes of JSON {"name": {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]}, ..., "__metadata__": {"key": "string", ...}}, then the data.
 * Checked as the reference implementation checks it: N bounded (100 MB) and inside the file,
 * valid JSON object, known dtypes, shapes consistent with byte lengths, offsets inside the data,
 * sorted without gaps or overlap and covering the whole data section. */

typedef struct fv_st_tensor {
    char *name;
    char dtype[8]; /* "F32", "F16", "BF16", "I32", "U8", ... */
    int rank;      /* 0..8 */
    int64_t dims[8];
    size_t begin, end; /* byte offsets within the data section */
} fv_st_tensor;

typedef struct fv_st_file {
    uint8_t *buf; /* the whole file (owned: malloc'd, or mapped when `mapped`) */
    size_t len;
    bool mapped;     /* buf is the file mapped read-only (fv__st_read), unmapped by fv__st_free */
    size_t data_off; /* 8 + N */
    int ntensors;
    fv_st_tensor *tensors;        /* in data order */
    const fv_st_tensor **by_name; /* the same, sorted by name (fv__st_find) */
    int nmeta;
    char **meta_keys, **meta_values;
} fv_st_file;

/* Takes ownership of buf (malloc'd) on success and on failure. */
fv_status fv__st_parse(uint8_t *buf, size_t len, const char *origin, fv_st_file *out);
fv_status fv__st_read(const char *path, fv_st_file *out);
const fv_st_tensor *fv__st_find(const fv_st_file *f, const char *name);
const char *fv__st_meta(const fv_st_file *f, const char *key);
/* Copies an F32 tensor's data (little-endian) into out[count]. */
void fv__st_copy_f32(const fv_st_file *f, const fv_st_tensor *t, float *out);
void fv__st_free(fv_st_file *f);

typedef struct fv_st_out {
    const char *name;
    int rank;
    int64_t dims[4];
    const float *data;
} fv_st_out;

/* Writes F32 tensors (in the order given) and string metadata, atomically. */
fv_status fv__st_write(const char *path, const fv_st_out *t, int n, const char *const *meta_keys,
                       const char *const *meta_values, int nmeta);

/* A cJSON tree of text (a cJSON *, free with cJSON_Delete), or NULL if it is not JSON. Calls
 * into cJSON's parser are serialised: it keeps its error position in a global. */
void *fv__json_parse(const char *text);

/* ---- a trained model's labels: the CSV label column and the class names -------------------
 * Kept in a saved model's metadata as "fovea.label_column" (the name as is) and
 * "fovea.class_names" (a JSON array of strings, output unit i naming class i). */

typedef struct fv_label_info {
    char *column; /* or NULL */
    char **names; /* n strings, or NULL */
    int64_t n;
} fv_label_info;

/* Replaces li's contents with copies of column and names[0..n). */
fv_status fv__label_info_set(fv_label_info *li, const char *column, const char *const *names,
                             int64_t n);
/* *json: the JSON array of the names (malloc'd), or NULL when there are none. FV_ERR_NOMEM if
 * out of memory. */
fv_status fv__label_info_names_json(const fv_label_info *li, char **json);
/* Reads the two metadata values (either may be NULL: absent); a names value that is not a
 * JSON array of strings is FV_ERR_FORMAT naming origin. */
fv_status fv__label_info_read(fv_label_info *li, const char *column, const char *names_json,
                              const char *origin);
void fv__label_info_free(fv_label_info *li);

/* ---- .npy (version 1.0/2.0/3.0, C order; uint8 '|u1' kept as bytes, the other little-endian
 * numeric types — float32/64, int8-64, uint16-64, bool — read as float32) ------------------- */

typedef struct fv_npy {
    int rank;
    int64_t dims[8];
    int64_t count;
    bool is_u8;    /* else float32: other numeric types are converted when the data is read */
    int elem;      /* bytes per element of the data (1 or 4 once read) */
    char descr[8]; /* the numpy type of the data ("<f4" once read, unless uint8) */
    void *data;    /* malloc'd, count elements */
} fv_npy;

fv_status fv__npy_parse(const uint8_t *buf, size_t len, const char *origin, fv_npy *out);
fv_status fv__npy_read(const char *path, fv_npy *out);
fv_status fv__npy_write_f32(const char *path, int rank, const int64_t *dims, const float *data);
void fv__npy_free(fv_npy *n);

/* ---- CSV: a header row of names, then rows of numbers (RFC 4180 quoting, , separator) ------- */

typedef struct fv_csv {
    int ncols;
    char **names;
    int64_t nrows;
    double *cells;  /* nrows × ncols, row-major */
    int64_t *lines; /* nrows: the 1-based line on which each row starts (for messages) */
    int text_col;   /* the label column, whose cells may be text, or -1 */
    char **text;    /* nrows (when text_col >= 0): the cell of text_col when it is not a number
                     * (its number in cells is then NaN), else NULL */
} fv_csv;

/* A cell that is not a number is an error naming line and column. Empty lines are skipped. */
fv_status fv__csv_parse(const char *text, size_t len, const char *origin, fv_csv *out);
fv_status fv__csv_read(const char *path, fv_csv *out);
/* The same, except that cells of the label column (label_column, or the last one when NULL)
 * that are not numbers are kept as text (class names); an empty cell is still an error. */
fv_status fv__csv_parse_labelled(const char *text, size_t len, const char *origin,
                                 const char *label_column, fv_csv *out);
fv_status fv__csv_read_labelled(const char *path, const char *label_column, bool labelled,
                                fv_csv *out);
int fv__csv_column(const fv_csv *c, const char *name); /* -1 if absent */
void fv__csv_free(fv_csv *c);

#endif
