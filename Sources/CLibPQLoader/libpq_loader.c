#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include "CLibPQLoader.h"

#define PGBK_LIBPQ_FUNCTIONS(X) \
    X(PQconnectdbParams) X(PQstatus) X(PQerrorMessage) X(PQfinish) X(PQsetNoticeProcessor) \
    X(PQexecParams) X(PQclear) X(PQresultStatus) X(PQnfields) X(PQntuples) X(PQfname) \
    X(PQgetisnull) X(PQgetvalue) X(PQserverVersion) X(PQresultErrorField) \
    X(PQexec) X(PQgetResult) X(PQgetCopyData) X(PQputCopyData) X(PQflush) X(PQfreemem) \
    X(PQsocket) X(PQconsumeInput) X(PQsetnonblocking) X(PQsendQuery) X(PQputCopyEnd)

/* Pointers typed from libpq's own prototypes, so a mismatch is a compile error. */
#define DECLARE(name) static __typeof__(&name) p_##name;
PGBK_LIBPQ_FUNCTIONS(DECLARE)

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded;
static char load_error[512];

const char *pgbk_libpq_load(void) {
    const char *result = NULL;
    pthread_mutex_lock(&load_lock);
    if (!loaded) {
        void *handle = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
        if (handle == NULL) {
            snprintf(load_error, sizeof load_error, "cannot load libpq (install libpq5): %s", dlerror());
            result = load_error;
        }
#define RESOLVE(name) \
        if (result == NULL && (p_##name = (__typeof__(&name))dlsym(handle, #name)) == NULL) { \
            snprintf(load_error, sizeof load_error, "libpq.so.5 has no %s", #name); \
            result = load_error; \
        }
        PGBK_LIBPQ_FUNCTIONS(RESOLVE)
        loaded = result == NULL;
    }
    pthread_mutex_unlock(&load_lock);
    return result;
}

PGconn *pgbk_PQconnectdbParams(const char *const *keywords, const char *const *values, int expand_dbname) {
    return p_PQconnectdbParams(keywords, values, expand_dbname);
}
ConnStatusType pgbk_PQstatus(const PGconn *conn) { return p_PQstatus(conn); }
char *pgbk_PQerrorMessage(const PGconn *conn) { return p_PQerrorMessage(conn); }
void pgbk_PQfinish(PGconn *conn) { p_PQfinish(conn); }
PQnoticeProcessor pgbk_PQsetNoticeProcessor(PGconn *conn, PQnoticeProcessor proc, void *arg) {
    return p_PQsetNoticeProcessor(conn, proc, arg);
}
PGresult *pgbk_PQexecParams(PGconn *conn, const char *command, int nParams, const Oid *paramTypes,
                            const char *const *paramValues, const int *paramLengths, const int *paramFormats, int resultFormat) {
    return p_PQexecParams(conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats, resultFormat);
}
void pgbk_PQclear(PGresult *res) { p_PQclear(res); }
ExecStatusType pgbk_PQresultStatus(const PGresult *res) { return p_PQresultStatus(res); }
int pgbk_PQnfields(const PGresult *res) { return p_PQnfields(res); }
int pgbk_PQntuples(const PGresult *res) { return p_PQntuples(res); }
char *pgbk_PQfname(const PGresult *res, int field_num) { return p_PQfname(res, field_num); }
int pgbk_PQgetisnull(const PGresult *res, int tup_num, int field_num) { return p_PQgetisnull(res, tup_num, field_num); }
char *pgbk_PQgetvalue(const PGresult *res, int tup_num, int field_num) { return p_PQgetvalue(res, tup_num, field_num); }
int pgbk_PQserverVersion(const PGconn *conn) { return p_PQserverVersion(conn); }
char *pgbk_PQresultErrorField(const PGresult *res, int fieldcode) { return p_PQresultErrorField(res, fieldcode); }
PGresult *pgbk_PQexec(PGconn *conn, const char *query) { return p_PQexec(conn, query); }
PGresult *pgbk_PQgetResult(PGconn *conn) { return p_PQgetResult(conn); }
int pgbk_PQgetCopyData(PGconn *conn, char **buffer, int async) { return p_PQgetCopyData(conn, buffer, async); }
int pgbk_PQputCopyData(PGconn *conn, const char *buffer, int nbytes) { return p_PQputCopyData(conn, buffer, nbytes); }
int pgbk_PQflush(PGconn *conn) { return p_PQflush(conn); }
void pgbk_PQfreemem(void *ptr) { p_PQfreemem(ptr); }
int pgbk_PQsocket(const PGconn *conn) { return p_PQsocket(conn); }
int pgbk_PQconsumeInput(PGconn *conn) { return p_PQconsumeInput(conn); }
int pgbk_PQsetnonblocking(PGconn *conn, int arg) { return p_PQsetnonblocking(conn, arg); }
int pgbk_PQsendQuery(PGconn *conn, const char *query) { return p_PQsendQuery(conn, query); }
int pgbk_PQputCopyEnd(PGconn *conn, const char *errormsg) { return p_PQputCopyEnd(conn, errormsg); }
