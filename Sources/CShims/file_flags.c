#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>
#include "CShims.h"

int pgbk_o_direct(void) { return O_DIRECT; }

int pgbk_syncfs(int fd) { return syncfs(fd); }


int pgbk_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}
