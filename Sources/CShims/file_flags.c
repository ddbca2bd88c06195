#include <fcntl.h>
#include <unistd.h>
#include "CShims.h"

int pgbk_o_direct(void) { return O_DIRECT; }

int pgbk_syncfs(int fd) { return syncfs(fd); }

