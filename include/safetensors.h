// safetensors.h: read and write the safetensors format
// (8-byte little-endian header length N, N bytes of JSON header, then the raw data).
// JSON through jansson. Writing is atomic: a temp file in the same directory,
// fsync, rename; on any failure the temp file is removed and the target untouched.
#ifndef MAKEMORE_SAFETENSORS_H
#define MAKEMORE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef enum { ST_F32, ST_F64, ST_I32, ST_I64 } StDtype;  // "F32", "F64", "I32", "I64"
#define ST_MAX_DIMS 4

typedef struct {
    const char *name;
    StDtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    const void *data;  // little-endian, numel * dtype size bytes
} StTensor;

typedef struct {
    const char *key;
    const char *value;
} StMeta;

// Metadata values are written into rows of text this long (a number, a name).
enum { ST_META_TEXT = 80 };
// meta[i] = {keys[i], text[i]} with text[i] the decimal vals[i], for i < n.
void st_meta_ints(StMeta *meta, char (*text)[ST_META_TEXT], const char *const *keys,
                  const int *vals, int n);

size_t st_dtype_size(StDtype d);
size_t st_numel(const StTensor *t);

// Writes the file with two more metadata entries, its checksums (CRC-32C, 8 lowercase hex
// digits): ST_CRC_DATA_KEY of the data section, ST_CRC_HEADER_KEY of the length prefix and
// header (with its own digits as zeros). Keys starting "crc32c_" are refused in meta.
#define ST_CRC_DATA_KEY "crc32c_data"
#define ST_CRC_HEADER_KEY "crc32c_header"
int st_save(const char *path, const StTensor *tensors, int n_tensors, const StMeta *meta,
            int n_meta, Err *err);
// Removes the temporary file st_save is writing, if any (for a fatal-signal handler:
// async-signal-safe).
void st_remove_temp_signal_safe(void);

// A loaded file. Every tensor's offsets are checked against the data size (in range,
// in order, not overlapping, size = numel * dtype size), dtypes must be one of the four,
// shapes non-negative with at most ST_MAX_DIMS dims. Data pointers point into buf
// (tensor data is not necessarily aligned: copy out with memcpy).
typedef struct {
    uint8_t *buf;
    size_t len;
    StTensor *tensors;
    int n_tensors;
    StMeta *meta;  // __metadata__ (string values only)
    int n_meta;
    char *strings; // storage for names and metadata
    int checked;   // 1: both checksums present and verified (the data's once read)
    // internal: tensors' data offsets, the open file and data size between st_open and
    // st_read_data, the data checksum to verify
    uint64_t *begin;
    int fd;
    uint64_t data_len;
    uint32_t want_data_crc;
} StFile;

// Reads and checks the whole file: st_open then st_read_data. A file with checksums is
// verified (a mismatch is an error naming the file); one without loads with checked = 0.
int st_load(StFile *f, const char *path, Err *err);
// In two steps: st_open reads and checks only the header (its offsets must tile the file's
// real size, its checksum must match), leaving tensor data pointers NULL; st_read_data
// then reads the data and checks its checksum. On failure st_open leaves f freed,
// st_read_data leaves it for st_free.
int st_open(StFile *f, const char *path, Err *err);
int st_read_data(StFile *f, const char *path, Err *err);
// Parses a copy of an in-memory buffer (fuzz target). name is used in messages.
int st_parse(StFile *f, const uint8_t *data, size_t len, const char *name, Err *err);
void st_free(StFile *f);
const StTensor *st_find(const StFile *f, const char *name);  // NULL if absent
const char *st_meta_get(const StFile *f, const char *key);  // NULL if absent

#endif
