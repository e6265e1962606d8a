// fuzz_common.h: what both fuzz targets require of an error message.
#ifndef MAKEMORE_FUZZ_COMMON_H
#define MAKEMORE_FUZZ_COMMON_H

// A message is one line a terminal shows as text: no C0 control, DEL or UTF-8 C1 control
// (what a file-controlled name could smuggle in).
static inline int printable_line(const char *msg) {
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) return 0;
    return 1;
}

#endif
