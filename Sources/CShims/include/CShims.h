#ifndef PGBK_CSHIMS_H
#define PGBK_CSHIMS_H
#include <stddef.h>
#include <stdint.h>
#include <spawn.h>

/* CRC-32C (Castagnoli), the checksum PostgreSQL uses for WAL, pg_control and backup
 * manifests. `crc` is the running value: start with 0, feed chunks in order. */
uint32_t pgbk_crc32c_update(uint32_t crc, const void *data, size_t length);

/* The same without the CPU's instruction (slicing-by-8), for tests that compare the two. */
uint32_t pgbk_crc32c_update_portable(uint32_t crc, const void *data, size_t length);

/* 1 when the SSE4.2 instruction is in use on this CPU, for diagnostics and benchmarks. */
int pgbk_crc32c_hardware(void);

/* PostgreSQL's data page checksum of one page (block_size a multiple of 128), as stored in
 * pd_checksum, for the page's block number within its relation fork. */
uint16_t pgbk_page_checksum(const void *page, size_t block_size, uint32_t block_number);

/* O_DIRECT for open(2): Swift's Glibc module hides GNU extensions, and the value differs
 * between architectures, so it comes from the C headers. */
int pgbk_o_direct(void);

/* syncfs(2) (a GNU extension): flushes the whole filesystem holding `fd`. */
int pgbk_syncfs(int fd);

/* sync_file_range(2) (Linux): start the writeback of a range without waiting; or start it
 * and wait until the range is on the device (not durable: no metadata, no device cache). */
int pgbk_start_writeback(int fd, long long offset, long long length);
int pgbk_finish_writeback(int fd, long long offset, long long length);

/* A fixed malloc mmap threshold (mallopt, not in Swift's Glibc module): large buffers go
 * back to the system when freed instead of staying in the heap. */
void pgbk_fix_mmap_threshold(size_t bytes);

/* posix_spawn_file_actions_addchdir_np (glibc 2.29, a GNU extension): the child starts in
 * `path`, so that it never inherits a working directory it may not enter. */
int pgbk_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);

#endif
