#ifndef PGBK_ARCHIVE_LOADER_H
#define PGBK_ARCHIVE_LOADER_H
#include <archive.h>
#include <archive_entry.h>

/* libarchive reads the tar streams of BASE_BACKUP (a backup taken over the replication
 * protocol). It is loaded with dlopen the first time one is read, as libpq and libcurl are:
 * archive-push, which PostgreSQL runs once per WAL segment, never loads it. Returns NULL
 * once loaded, else why it cannot be. */
const char *pgbk_archive_load(void);

/* The libarchive functions pgbk uses, valid after pgbk_archive_load() returned NULL. */
struct archive *pgbk_archive_read_new(void);
int pgbk_archive_read_support_format_tar(struct archive *a);
int pgbk_archive_read_open(struct archive *a, void *client_data, archive_open_callback *open,
                           archive_read_callback *read, archive_close_callback *close);
int pgbk_archive_read_next_header(struct archive *a, struct archive_entry **entry);
la_ssize_t pgbk_archive_read_data(struct archive *a, void *buffer, size_t size);
int pgbk_archive_read_free(struct archive *a);
const char *pgbk_archive_error_string(struct archive *a);
const char *pgbk_archive_entry_pathname(struct archive_entry *e);
la_int64_t pgbk_archive_entry_size(struct archive_entry *e);
unsigned int pgbk_archive_entry_filetype(struct archive_entry *e);
unsigned int pgbk_archive_entry_perm(struct archive_entry *e);
long long pgbk_archive_entry_mtime(struct archive_entry *e);
const char *pgbk_archive_entry_symlink(struct archive_entry *e);

/* The file types archive_entry_filetype returns (AE_IFREG...), for Swift. */
static const unsigned int PGBK_AE_IFREG = AE_IFREG;
static const unsigned int PGBK_AE_IFDIR = AE_IFDIR;
static const unsigned int PGBK_AE_IFLNK = AE_IFLNK;
#endif
