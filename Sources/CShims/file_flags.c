#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>
#include "CShims.h"

int pgbk_o_direct(void) { return O_DIRECT; }

int pgbk_syncfs(int fd) { return syncfs(fd); }

int pgbk_start_writeback(int fd, long long offset, long long length) {
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
}

int pgbk_finish_writeback(int fd, long long offset, long long length) {
    return sync_file_range(fd, offset, length,
                           SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
}


int pgbk_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}
