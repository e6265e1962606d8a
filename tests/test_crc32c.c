// test_crc32c.c: CRC-32C against its standard check value and a bitwise reference, the
// fast path against the table, and chaining.
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "crc32c.h"

// Bit by bit, straight from the definition (reflected, polynomial 0x82f63b78).
static uint32_t crc_bitwise(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    }
    return ~c;
}

static void test_check_value(void) {
    CHECK(crc32c(0, "123456789", 9) == 0xe3069283u, "crc32c(\"123456789\") = %08x", crc32c(0, "123456789", 9));
    CHECK(crc32c_table(0, "123456789", 9) == 0xe3069283u, "table: %08x", crc32c_table(0, "123456789", 9));
    CHECK(crc32c(0, "", 0) == 0, "empty");
}

static void test_against_bitwise(void) {
    unsigned char buf[1031];
    unsigned s = 12345;
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)((s = s * 1103515245u + 12345u) >> 16);
    for (size_t n = 0; n <= sizeof buf; n += (n < 40 ? 1 : 97))
        for (size_t off = 0; off < 8 && off + n <= sizeof buf; off += 3) {
            uint32_t want = crc_bitwise(buf + off, n);
            CHECK(crc32c(0, buf + off, n) == want, "n %zu off %zu", n, off);
            CHECK(crc32c_table(0, buf + off, n) == want, "table n %zu off %zu", n, off);
            size_t h = n / 3;
            CHECK(crc32c(crc32c(0, buf + off, h), buf + off + h, n - h) == want, "chained n %zu", n);
        }
}

TEST_MAIN {
    TEST_SETUP();
    RUN_TEST(test_check_value);
    RUN_TEST(test_against_bitwise);
    return check_summary();
}
