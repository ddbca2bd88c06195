#include "CShims.h"
#include <pthread.h>
#include <string.h>

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int t = 1; t < 8; t++) { c = table[0][c & 0xff] ^ (c >> 8); table[t][n] = c; }
    }
}

/* Slicing-by-8: the fallback for CPUs without SSE4.2 (and for other architectures). */
static uint32_t crc32c_sw(uint32_t crc, const unsigned char *p, size_t n) {
    pthread_once(&table_once, build_table);
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        uint32_t lo = (uint32_t)word ^ crc, hi = (uint32_t)(word >> 32);
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
              table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
              table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8; n -= 8;
    }
    while (n--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>

/* The CRC instruction takes 3 cycles and issues one per cycle: one chain of it runs at a
 * third of its speed. Buffers of 3 blocks or more are taken as three chains side by side, the
 * second and third started from 0, then joined: the register after A||B is A's shifted over
 * |B| zero bytes XOR B's from 0 (the CRC is linear). Shifting by one block is a multiplication
 * by x^(8 * CRC_BLOCK) mod P, done with four byte tables built once. */
#define CRC_BLOCK 4096
static uint32_t shift_table[4][256];
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

/* a * b mod P, polynomials in the reflected form (bit 31 is x^0). */
static uint32_t multiply_mod_p(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (uint32_t m = 1u << 31; m != 0; m >>= 1) {
        if (a & m) product ^= b;
        b = (b & 1) ? (b >> 1) ^ 0x82F63B78u : b >> 1;
    }
    return product;
}

static void build_shift_table(void) {
    uint32_t power = 1u << 31;  /* x^0 */
    for (int i = 0; i < CRC_BLOCK; i++) power = multiply_mod_p(power, 1u << 23);  /* times x^8 */
    for (int k = 0; k < 4; k++)
        for (uint32_t i = 0; i < 256; i++) shift_table[k][i] = multiply_mod_p(power, i << (8 * k));
}

static inline uint32_t shift_one_block(uint32_t c) {
    return shift_table[0][c & 0xff] ^ shift_table[1][(c >> 8) & 0xff] ^ shift_table[2][(c >> 16) & 0xff] ^ shift_table[3][c >> 24];
}

__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = crc;
    if (n >= 3 * CRC_BLOCK) pthread_once(&shift_once, build_shift_table);
    while (n >= 3 * CRC_BLOCK) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < CRC_BLOCK; i += 8) {
            uint64_t w0, w1, w2;
            memcpy(&w0, p + i, 8);
            memcpy(&w1, p + CRC_BLOCK + i, 8);
            memcpy(&w2, p + 2 * CRC_BLOCK + i, 8);
            c = _mm_crc32_u64(c, w0);
            c1 = _mm_crc32_u64(c1, w1);
            c2 = _mm_crc32_u64(c2, w2);
        }
        c = shift_one_block((uint32_t)c) ^ (uint32_t)c1;
        c = shift_one_block((uint32_t)c) ^ (uint32_t)c2;
        p += 3 * CRC_BLOCK;
        n -= 3 * CRC_BLOCK;
    }
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8; n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = _mm_crc32_u8(c32, *p++);
    return c32;
}

static int detect(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c & bit_SSE4_2) != 0;
}
#endif

/* -1 unknown, 0 software, 1 hardware; a benign race: every thread computes the same answer. */
static int use_hw = -1;

int pgbk_crc32c_hardware(void) {
#if defined(__x86_64__)
    if (use_hw < 0) use_hw = detect();
    return use_hw;
#else
    return 0;
#endif
}

uint32_t pgbk_crc32c_update_portable(uint32_t crc, const void *data, size_t length) {
    return ~crc32c_sw(~crc, data, length);
}

uint32_t pgbk_crc32c_update(uint32_t crc, const void *data, size_t length) {
    uint32_t c = ~crc;
#if defined(__x86_64__)
    if (pgbk_crc32c_hardware()) return ~crc32c_hw(c, data, length);
#endif
    return ~crc32c_sw(c, data, length);
}
