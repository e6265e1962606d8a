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

size_t st_dtype_size(StDtype d);
size_t st_numel(const StTensor *t);

int st_save(const char *path, const StTensor *tensors, int n_tensors, const StMeta *meta,
            int n_meta, Err *err);

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
} StFile;

int st_load(StFile *f, const char *path, Err *err);
// Parses a copy of an in-memory buffer (fuzz target). name is used in messages.
int st_parse(StFile *f, const uint8_t *data, size_t len, const char *name, Err *err);
void st_free(StFile *f);
const StTensor *st_find(const StFile *f, const char *name);  // NULL if absent
const char *st_meta_get(const StFile *f, const char *key);  // NULL if absent

#endif
