// crc32c.h: CRC-32C (Castagnoli, reflected polynomial 0x82f63b78), the checksum of
// checkpoints and the words-file fingerprint. crc32c("123456789") = 0xe3069283.
#ifndef MAKEMORE_CRC32C_H
#define MAKEMORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

// Extends crc (0 to start) over n bytes: crc32c(crc32c(0, a), b) = crc32c(0, a || b).
uint32_t crc32c(uint32_t crc, const void *data, size_t n);
// The same with the byte-at-a-time table only (the reference the fast path is tested on).
uint32_t crc32c_table(uint32_t crc, const void *data, size_t n);

#endif
