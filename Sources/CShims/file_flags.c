#include <fcntl.h>
#include "CShims.h"

int pgbk_o_direct(void) { return O_DIRECT; }
