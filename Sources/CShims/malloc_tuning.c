#include <malloc.h>
#include "CShims.h"

void pgbk_fix_mmap_threshold(size_t bytes) {
    mallopt(M_MMAP_THRESHOLD, (int)bytes);
}
