#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <limits.h>
#include <string.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <libxml/xmlreader.h>
#include "CObjectStoreLoader.h"

#define PGBK_CURL_FUNCTIONS(X) \
    X(curl_global_init) X(curl_easy_init) X(curl_easy_cleanup) X(curl_easy_reset) \
    X(curl_easy_perform) X(curl_easy_strerror) X(curl_easy_setopt) X(curl_easy_getinfo) \
    X(curl_slist_append) X(curl_slist_free_all)
#define PGBK_CRYPTO_FUNCTIONS(X) \
    X(EVP_MD_CTX_new) X(EVP_MD_CTX_free) X(EVP_DigestInit_ex) X(EVP_DigestUpdate) \
    X(EVP_DigestFinal_ex) X(EVP_sha256) X(EVP_md5) X(EVP_Digest) X(HMAC) X(EVP_EncodeBlock) \
    X(EVP_CIPHER_CTX_new) X(EVP_CIPHER_CTX_free) X(EVP_CIPHER_CTX_ctrl) X(EVP_aes_256_gcm) \
    X(EVP_EncryptInit_ex) X(EVP_EncryptUpdate) X(EVP_EncryptFinal_ex) \
    X(EVP_DecryptInit_ex) X(EVP_DecryptUpdate) X(EVP_DecryptFinal_ex) X(RAND_bytes) X(EVP_PBE_scrypt) \
    X(EVP_PKEY_CTX_new_id) X(EVP_PKEY_CTX_free) X(EVP_PKEY_derive_init) X(EVP_PKEY_derive) \
    X(EVP_PKEY_CTX_set_hkdf_md) X(EVP_PKEY_CTX_set1_hkdf_salt) X(EVP_PKEY_CTX_set1_hkdf_key) X(EVP_PKEY_CTX_add1_hkdf_info)
#define PGBK_XML_FUNCTIONS(X) \
    X(xmlReaderForMemory) X(xmlTextReaderRead) X(xmlTextReaderNodeType) X(xmlTextReaderIsEmptyElement) \
    X(xmlTextReaderConstLocalName) X(xmlTextReaderConstValue) X(xmlFreeTextReader)

/* Pointers typed from the libraries' own prototypes, so a mismatch is a compile error. */
#define DECLARE(name) static __typeof__(&name) p_##name;
PGBK_CURL_FUNCTIONS(DECLARE)
PGBK_CRYPTO_FUNCTIONS(DECLARE)
PGBK_XML_FUNCTIONS(DECLARE)

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded;
static char load_error[512];

static void *open_library(const char *name, const char *package, const char **error) {
    void *handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL && *error == NULL) {
        snprintf(load_error, sizeof load_error, "cannot load %s (install %s): %s", name, package, dlerror());
        *error = load_error;
    }
    return handle;
}

#define RESOLVE_IN(handle, library, name) \
        if (result == NULL && (p_##name = (__typeof__(&name))dlsym(handle, #name)) == NULL) { \
            snprintf(load_error, sizeof load_error, "%s has no %s", library, #name); \
            result = load_error; \
        }

static int crypto_loaded;

/* libcrypto alone; the caller holds load_lock. */
static const char *load_crypto_locked(void) {
    const char *result = NULL;
    if (crypto_loaded) return NULL;
    void *crypto = open_library("libcrypto.so.3", "libssl3", &result);
#define RESOLVE_CRYPTO(name) RESOLVE_IN(crypto, "libcrypto.so.3", name)
    PGBK_CRYPTO_FUNCTIONS(RESOLVE_CRYPTO)
    crypto_loaded = result == NULL;
    return result;
}

const char *pgbk_crypto_load(void) {
    pthread_mutex_lock(&load_lock);
    const char *result = load_crypto_locked();
    pthread_mutex_unlock(&load_lock);
    return result;
}

const char *pgbk_objectstore_load(void) {
    const char *result = NULL;
    pthread_mutex_lock(&load_lock);
    if (!loaded) {
        void *curl = open_library("libcurl.so.4", "libcurl4", &result);
        void *xml = open_library("libxml2.so.2", "libxml2", &result);
        if (result == NULL) result = load_crypto_locked();
#define RESOLVE_CURL(name) RESOLVE_IN(curl, "libcurl.so.4", name)
        PGBK_CURL_FUNCTIONS(RESOLVE_CURL)
#define RESOLVE_XML(name) RESOLVE_IN(xml, "libxml2.so.2", name)
        PGBK_XML_FUNCTIONS(RESOLVE_XML)
        /* Once per process, before any thread makes a handle (curl's rule). */
        if (result == NULL && p_curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
            snprintf(load_error, sizeof load_error, "libcurl failed to initialise");
            result = load_error;
        }
        loaded = result == NULL;
    }
    pthread_mutex_unlock(&load_lock);
    return result;
}

CURL *pgbk_curl_easy_init(void) { return p_curl_easy_init(); }
void pgbk_curl_easy_cleanup(CURL *curl) { p_curl_easy_cleanup(curl); }
void pgbk_curl_easy_reset(CURL *curl) { p_curl_easy_reset(curl); }
CURLcode pgbk_curl_easy_perform(CURL *curl) { return p_curl_easy_perform(curl); }
const char *pgbk_curl_easy_strerror(CURLcode code) { return p_curl_easy_strerror(code); }
CURLcode pgbk_curl_setopt_long(CURL *curl, CURLoption option, long value) { return p_curl_easy_setopt(curl, option, value); }
CURLcode pgbk_curl_setopt_offset(CURL *curl, CURLoption option, curl_off_t value) { return p_curl_easy_setopt(curl, option, value); }
CURLcode pgbk_curl_setopt_pointer(CURL *curl, CURLoption option, void *value) { return p_curl_easy_setopt(curl, option, value); }
CURLcode pgbk_curl_setopt_string(CURL *curl, CURLoption option, const char *value) { return p_curl_easy_setopt(curl, option, value); }
CURLcode pgbk_curl_setopt_slist(CURL *curl, CURLoption option, struct curl_slist *value) { return p_curl_easy_setopt(curl, option, value); }
CURLcode pgbk_curl_setopt_data_callback(CURL *curl, CURLoption option, size_t (*callback)(char *, size_t, size_t, void *)) {
    return p_curl_easy_setopt(curl, option, callback);
}
CURLcode pgbk_curl_getinfo_long(CURL *curl, CURLINFO info, long *value) { return p_curl_easy_getinfo(curl, info, value); }
struct curl_slist *pgbk_curl_slist_append(struct curl_slist *list, const char *string) { return p_curl_slist_append(list, string); }
void pgbk_curl_slist_free_all(struct curl_slist *list) { p_curl_slist_free_all(list); }

int pgbk_base64(const void *data, int length, char *out) {
    return p_EVP_EncodeBlock((unsigned char *)out, data, length);
}

struct pgbk_sha256 { EVP_MD_CTX *ctx; };

pgbk_sha256 *pgbk_sha256_new(void) {
    pgbk_sha256 *s = malloc(sizeof *s);
    if (s == NULL) return NULL;
    s->ctx = p_EVP_MD_CTX_new();
    if (s->ctx == NULL || p_EVP_DigestInit_ex(s->ctx, p_EVP_sha256(), NULL) != 1) {
        if (s->ctx) p_EVP_MD_CTX_free(s->ctx);
        free(s);
        return NULL;
    }
    return s;
}
int pgbk_sha256_update(pgbk_sha256 *s, const void *data, size_t length) { return p_EVP_DigestUpdate(s->ctx, data, length); }
int pgbk_sha256_final(pgbk_sha256 *s, unsigned char *out) {
    unsigned int n = 0;
    if (p_EVP_DigestFinal_ex(s->ctx, out, &n) != 1 || n != 32) return 0;
    return p_EVP_DigestInit_ex(s->ctx, p_EVP_sha256(), NULL);
}
void pgbk_sha256_free(pgbk_sha256 *s) {
    if (s == NULL) return;
    p_EVP_MD_CTX_free(s->ctx);
    free(s);
}
int pgbk_hmac_sha256(const void *key, int key_length, const void *data, size_t length, unsigned char *out) {
    unsigned int n = 0;
    return p_HMAC(p_EVP_sha256(), key, key_length, data, length, out, &n) != NULL && n == 32;
}
int pgbk_md5(const void *data, size_t length, unsigned char *out) {
    unsigned int n = 0;
    return p_EVP_Digest(data, length, out, &n, p_EVP_md5(), NULL) == 1 && n == 16;
}

/* No network access and no entity substitution: a response cannot make the parser fetch
 * or expand anything. */
pgbk_xml_reader *pgbk_xml_reader_new(const char *buffer, int length) {
    return (pgbk_xml_reader *)p_xmlReaderForMemory(buffer, length, NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}
int pgbk_xml_read(pgbk_xml_reader *r) { return p_xmlTextReaderRead((xmlTextReaderPtr)r); }
int pgbk_xml_node_type(pgbk_xml_reader *r) { return p_xmlTextReaderNodeType((xmlTextReaderPtr)r); }
int pgbk_xml_is_empty_element(pgbk_xml_reader *r) { return p_xmlTextReaderIsEmptyElement((xmlTextReaderPtr)r); }
const char *pgbk_xml_local_name(pgbk_xml_reader *r) { return (const char *)p_xmlTextReaderConstLocalName((xmlTextReaderPtr)r); }
const char *pgbk_xml_value(pgbk_xml_reader *r) { return (const char *)p_xmlTextReaderConstValue((xmlTextReaderPtr)r); }
void pgbk_xml_reader_free(pgbk_xml_reader *r) { if (r) p_xmlFreeTextReader((xmlTextReaderPtr)r); }

int pgbk_parse_utc_time(const char *text, const char *format, long long *seconds) {
    struct tm parts = {0};
    if (strptime(text, format, &parts) == NULL) return 0;
    *seconds = (long long)timegm(&parts);
    return 1;
}

/* AES-256-GCM, one message: 12-byte nonce, 16-byte tag; in and out may be the same memory. */
int pgbk_aes256gcm_seal(const unsigned char *key, const unsigned char *nonce, const void *aad, size_t aad_length,
                        const void *in, size_t length, void *out, unsigned char *tag) {
    if (length > INT_MAX || aad_length > INT_MAX) return 0;
    EVP_CIPHER_CTX *ctx = p_EVP_CIPHER_CTX_new();
    if (ctx == NULL) return 0;
    int n = 0, ok = p_EVP_EncryptInit_ex(ctx, p_EVP_aes_256_gcm(), NULL, NULL, NULL) == 1
        && p_EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1
        && p_EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) == 1
        && (aad_length == 0 || p_EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_length) == 1)
        && (length == 0 || p_EVP_EncryptUpdate(ctx, out, &n, in, (int)length) == 1)
        && p_EVP_EncryptFinal_ex(ctx, (unsigned char *)out + (length == 0 ? 0 : n), &n) == 1
        && p_EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
    p_EVP_CIPHER_CTX_free(ctx);
    return ok;
}

/* 1: authentic, `out` holds the plaintext; 0: the tag does not match (out is garbage). */
int pgbk_aes256gcm_open(const unsigned char *key, const unsigned char *nonce, const void *aad, size_t aad_length,
                        const void *in, size_t length, void *out, const unsigned char *tag) {
    if (length > INT_MAX || aad_length > INT_MAX) return 0;
    EVP_CIPHER_CTX *ctx = p_EVP_CIPHER_CTX_new();
    if (ctx == NULL) return 0;
    unsigned char expected[16];
    memcpy(expected, tag, 16);
    int n = 0, ok = p_EVP_DecryptInit_ex(ctx, p_EVP_aes_256_gcm(), NULL, NULL, NULL) == 1
        && p_EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1
        && p_EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) == 1
        && (aad_length == 0 || p_EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_length) == 1)
        && (length == 0 || p_EVP_DecryptUpdate(ctx, out, &n, in, (int)length) == 1)
        && p_EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, expected) == 1
        && p_EVP_DecryptFinal_ex(ctx, (unsigned char *)out + (length == 0 ? 0 : n), &n) == 1;
    p_EVP_CIPHER_CTX_free(ctx);
    return ok;
}

int pgbk_random_bytes(void *out, int length) {
    return p_RAND_bytes(out, length) == 1;
}

int pgbk_hkdf_sha256(const void *key, size_t key_length, const void *salt, size_t salt_length,
                     const void *info, size_t info_length, void *out, size_t length) {
    if (key_length > INT_MAX || salt_length > INT_MAX || info_length > INT_MAX) return 0;
    EVP_PKEY_CTX *ctx = p_EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    if (ctx == NULL) return 0;
    size_t produced = length;
    int ok = p_EVP_PKEY_derive_init(ctx) > 0
        && p_EVP_PKEY_CTX_set_hkdf_md(ctx, p_EVP_sha256()) > 0
        && p_EVP_PKEY_CTX_set1_hkdf_salt(ctx, salt, (int)salt_length) > 0
        && p_EVP_PKEY_CTX_set1_hkdf_key(ctx, key, (int)key_length) > 0
        && p_EVP_PKEY_CTX_add1_hkdf_info(ctx, info, (int)info_length) > 0
        && p_EVP_PKEY_derive(ctx, out, &produced) > 0 && produced == length;
    p_EVP_PKEY_CTX_free(ctx);
    return ok;
}

int pgbk_scrypt(const char *passphrase, size_t passphrase_length, const void *salt, size_t salt_length,
                unsigned long long n, unsigned long long r, unsigned long long p, void *out, size_t length) {
    /* 128 * N * r bytes for N = 2^17, r = 8: 128 MiB; allow up to 1 GiB. */
    return p_EVP_PBE_scrypt(passphrase, passphrase_length, salt, salt_length, n, r, p, (uint64_t)1 << 30, out, length) == 1;
}
