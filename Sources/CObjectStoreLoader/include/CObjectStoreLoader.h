#ifndef PGBK_OBJECT_STORE_LOADER_H
#define PGBK_OBJECT_STORE_LOADER_H
#include <curl/curl.h>
#include <stddef.h>

/* libcurl (HTTP, TLS with the system CA store), libcrypto (SHA-256 and HMAC for SigV4 and
 * payload hashes, MD5 for Content-MD5) and libxml2 (S3's XML responses), loaded with dlopen the first time a repository on object storage is
 * opened: a local repository's archive-push never pays for them, and pgbk runs where
 * neither is installed. Returns NULL once both are loaded, else why they cannot be. */
const char *pgbk_objectstore_load(void);

/* libcurl, valid after pgbk_objectstore_load() returned NULL. curl_easy_setopt and
 * curl_easy_getinfo are variadic: one typed entry point per argument type. */
CURL *pgbk_curl_easy_init(void);
void pgbk_curl_easy_cleanup(CURL *curl);
void pgbk_curl_easy_reset(CURL *curl);
CURLcode pgbk_curl_easy_perform(CURL *curl);
const char *pgbk_curl_easy_strerror(CURLcode code);
CURLcode pgbk_curl_setopt_long(CURL *curl, CURLoption option, long value);
CURLcode pgbk_curl_setopt_offset(CURL *curl, CURLoption option, curl_off_t value);
CURLcode pgbk_curl_setopt_pointer(CURL *curl, CURLoption option, void *value);
CURLcode pgbk_curl_setopt_string(CURL *curl, CURLoption option, const char *value);
CURLcode pgbk_curl_setopt_slist(CURL *curl, CURLoption option, struct curl_slist *value);
CURLcode pgbk_curl_setopt_data_callback(CURL *curl, CURLoption option,
                                        size_t (*callback)(char *, size_t, size_t, void *));
CURLcode pgbk_curl_getinfo_long(CURL *curl, CURLINFO info, long *value);
struct curl_slist *pgbk_curl_slist_append(struct curl_slist *list, const char *string);
void pgbk_curl_slist_free_all(struct curl_slist *list);

/* libcrypto alone (restore's backup_manifest needs SHA-256, not HTTP); NULL once loaded. */
const char *pgbk_crypto_load(void);

/* libcrypto: SHA-256 in steps (payloads are hashed as they are buffered) and HMAC-SHA-256. */
typedef struct pgbk_sha256 pgbk_sha256;
pgbk_sha256 *pgbk_sha256_new(void);
int pgbk_sha256_update(pgbk_sha256 *ctx, const void *data, size_t length);
/* Writes 32 bytes and resets the context for the next message. */
int pgbk_sha256_final(pgbk_sha256 *ctx, unsigned char *out);
void pgbk_sha256_free(pgbk_sha256 *ctx);
int pgbk_hmac_sha256(const void *key, int key_length, const void *data, size_t length, unsigned char *out);
int pgbk_md5(const void *data, size_t length, unsigned char *out);
/* Standard base64 with padding into `out` (4 * ((length + 2) / 3) + 1 bytes); returns its length. */
int pgbk_base64(const void *data, int length, char *out);

/* libcrypto's ciphers and KDFs for encrypted repositories (valid after pgbk_crypto_load).
 * AES-256-GCM with a 32-byte key, 12-byte nonce and 16-byte tag: 1 on success; open returns 0
 * when the tag does not match. HKDF-SHA-256 (RFC 5869) and scrypt (RFC 7914): 1 on success. */
int pgbk_aes256gcm_seal(const unsigned char *key, const unsigned char *nonce, const void *aad, size_t aad_length,
                        const void *in, size_t length, void *out, unsigned char *tag);
int pgbk_aes256gcm_open(const unsigned char *key, const unsigned char *nonce, const void *aad, size_t aad_length,
                        const void *in, size_t length, void *out, const unsigned char *tag);
int pgbk_random_bytes(void *out, int length);
int pgbk_hkdf_sha256(const void *key, size_t key_length, const void *salt, size_t salt_length,
                     const void *info, size_t info_length, void *out, size_t length);
int pgbk_scrypt(const char *passphrase, size_t passphrase_length, const void *salt, size_t salt_length,
                unsigned long long n, unsigned long long r, unsigned long long p, void *out, size_t length);

/* libxml2's streaming reader over one response body (no network, no entity expansion). */
typedef struct pgbk_xml_reader pgbk_xml_reader;
pgbk_xml_reader *pgbk_xml_reader_new(const char *buffer, int length);
/* 1: moved to the next node; 0: end of document; -1: not well-formed. */
int pgbk_xml_read(pgbk_xml_reader *reader);
/* 1 element start, 3 text, 4 CDATA, 15 element end (libxml2's xmlReaderTypes). */
int pgbk_xml_node_type(pgbk_xml_reader *reader);
int pgbk_xml_is_empty_element(pgbk_xml_reader *reader);
const char *pgbk_xml_local_name(pgbk_xml_reader *reader);
const char *pgbk_xml_value(pgbk_xml_reader *reader);
void pgbk_xml_reader_free(pgbk_xml_reader *reader);

/* strptime(3) then timegm(3): a time in UTC in the C locale's names. 1 when it parsed. */
int pgbk_parse_utc_time(const char *text, const char *format, long long *seconds);

#endif
