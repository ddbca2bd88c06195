#include "CShims.h"
#include <string.h>

/* PostgreSQL's data page checksum (storage/checksum_impl.h describes the algorithm): 32
 * interleaved FNV-1a-style sums over the page read as uint32 words, with the checksum field
 * taken as zero, two extra rounds of zeroes, an XOR fold, the block number mixed in, and a
 * reduction to 1..65535. The constants are part of the on-disk format. */

#define LANES 32
#define PRIME 16777619u

static const uint32_t lane_offsets[LANES] = {
    0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
    0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA, 0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
    0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
    0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E, 0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756,
};

static inline uint32_t mix(uint32_t sum, uint32_t value) {
    uint32_t t = sum ^ value;
    return t * PRIME ^ (t >> 17);
}

uint16_t pgbk_page_checksum(const void *page, size_t block_size, uint32_t block_number) {
    uint32_t sums[LANES];
    memcpy(sums, lane_offsets, sizeof(sums));
    const unsigned char *bytes = page;
    size_t rows = block_size / (sizeof(uint32_t) * LANES);
    for (size_t r = 0; r < rows; r++) {
        uint32_t words[LANES];
        memcpy(words, bytes + r * sizeof(words), sizeof(words));
        /* pd_checksum (bytes 8-9 of the page, the low half of word 2 on little-endian) counts as 0 */
        if (r == 0) words[2] &= 0xFFFF0000u;
        for (int j = 0; j < LANES; j++) sums[j] = mix(sums[j], words[j]);
    }
    for (int round = 0; round < 2; round++)
        for (int j = 0; j < LANES; j++) sums[j] = mix(sums[j], 0);
    uint32_t result = 0;
    for (int j = 0; j < LANES; j++) result ^= sums[j];
    result ^= block_number;
    return (uint16_t)((result % 65535) + 1);
}
