#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include "CArchiveLoader.h"

#define PGBK_ARCHIVE_FUNCTIONS(X) \
    X(archive_read_new) X(archive_read_support_format_tar) X(archive_read_open) \
    X(archive_read_next_header) X(archive_read_data) X(archive_read_free) X(archive_error_string) \
    X(archive_entry_pathname) X(archive_entry_size) X(archive_entry_filetype) X(archive_entry_perm) \
    X(archive_entry_mtime) X(archive_entry_symlink)

/* Pointers typed from libarchive's own prototypes, so a mismatch is a compile error. */
#define DECLARE(name) static __typeof__(&name) p_##name;
PGBK_ARCHIVE_FUNCTIONS(DECLARE)

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded;
static char load_error[512];

const char *pgbk_archive_load(void) {
    const char *result = NULL;
    pthread_mutex_lock(&load_lock);
    if (!loaded) {
        void *handle = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
        if (handle == NULL) {
            snprintf(load_error, sizeof load_error, "cannot load libarchive (install libarchive13): %s", dlerror());
            result = load_error;
        }
#define RESOLVE(name) \
        if (result == NULL && (p_##name = (__typeof__(&name))dlsym(handle, #name)) == NULL) { \
            snprintf(load_error, sizeof load_error, "libarchive.so.13 has no %s", #name); \
            result = load_error; \
        }
        PGBK_ARCHIVE_FUNCTIONS(RESOLVE)
        loaded = result == NULL;
    }
    pthread_mutex_unlock(&load_lock);
    return result;
}

struct archive *pgbk_archive_read_new(void) { return p_archive_read_new(); }
int pgbk_archive_read_support_format_tar(struct archive *a) { return p_archive_read_support_format_tar(a); }
int pgbk_archive_read_open(struct archive *a, void *client_data, archive_open_callback *open,
                           archive_read_callback *read, archive_close_callback *close) {
    return p_archive_read_open(a, client_data, open, read, close);
}
int pgbk_archive_read_next_header(struct archive *a, struct archive_entry **entry) { return p_archive_read_next_header(a, entry); }
la_ssize_t pgbk_archive_read_data(struct archive *a, void *buffer, size_t size) { return p_archive_read_data(a, buffer, size); }
int pgbk_archive_read_free(struct archive *a) { return p_archive_read_free(a); }
const char *pgbk_archive_error_string(struct archive *a) { return p_archive_error_string(a); }
const char *pgbk_archive_entry_pathname(struct archive_entry *e) { return p_archive_entry_pathname(e); }
la_int64_t pgbk_archive_entry_size(struct archive_entry *e) { return p_archive_entry_size(e); }
unsigned int pgbk_archive_entry_filetype(struct archive_entry *e) { return p_archive_entry_filetype(e); }
unsigned int pgbk_archive_entry_perm(struct archive_entry *e) { return p_archive_entry_perm(e); }
long long pgbk_archive_entry_mtime(struct archive_entry *e) { return p_archive_entry_mtime(e); }
const char *pgbk_archive_entry_symlink(struct archive_entry *e) { return p_archive_entry_symlink(e); }
