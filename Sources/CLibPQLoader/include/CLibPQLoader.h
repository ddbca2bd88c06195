#ifndef PGBK_LIBPQ_LOADER_H
#define PGBK_LIBPQ_LOADER_H
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#else
#include <postgresql/libpq-fe.h>
#endif

/* libpq is loaded with dlopen the first time a command connects to a server, not when pgbk
 * starts: archive-push and archive-get, which PostgreSQL runs once per WAL segment, never
 * talk to a server, and loading libpq with its TLS, Kerberos and LDAP libraries cost about
 * 4 ms of every process start. Returns NULL once libpq is loaded, else why it cannot be. */
const char *pgbk_libpq_load(void);

/* The libpq functions pgbk uses, valid after pgbk_libpq_load() returned NULL. */
PGconn *pgbk_PQconnectdbParams(const char *const *keywords, const char *const *values, int expand_dbname);
ConnStatusType pgbk_PQstatus(const PGconn *conn);
char *pgbk_PQerrorMessage(const PGconn *conn);
void pgbk_PQfinish(PGconn *conn);
PQnoticeProcessor pgbk_PQsetNoticeProcessor(PGconn *conn, PQnoticeProcessor proc, void *arg);
PGresult *pgbk_PQexecParams(PGconn *conn, const char *command, int nParams, const Oid *paramTypes,
                            const char *const *paramValues, const int *paramLengths, const int *paramFormats, int resultFormat);
void pgbk_PQclear(PGresult *res);
ExecStatusType pgbk_PQresultStatus(const PGresult *res);
int pgbk_PQnfields(const PGresult *res);
int pgbk_PQntuples(const PGresult *res);
char *pgbk_PQfname(const PGresult *res, int field_num);
int pgbk_PQgetisnull(const PGresult *res, int tup_num, int field_num);
char *pgbk_PQgetvalue(const PGresult *res, int tup_num, int field_num);
int pgbk_PQserverVersion(const PGconn *conn);
char *pgbk_PQresultErrorField(const PGresult *res, int fieldcode);
/* The replication protocol: simple queries and COPY BOTH. */
PGresult *pgbk_PQexec(PGconn *conn, const char *query);
PGresult *pgbk_PQgetResult(PGconn *conn);
int pgbk_PQgetCopyData(PGconn *conn, char **buffer, int async);
int pgbk_PQputCopyData(PGconn *conn, const char *buffer, int nbytes);
int pgbk_PQflush(PGconn *conn);
void pgbk_PQfreemem(void *ptr);
int pgbk_PQsocket(const PGconn *conn);
int pgbk_PQconsumeInput(PGconn *conn);
/* BASE_BACKUP: several result sets and COPY OUT after one command (PQexec keeps only the
 * last), and UPLOAD_MANIFEST's COPY IN. */
int pgbk_PQsendQuery(PGconn *conn, const char *query);
int pgbk_PQputCopyEnd(PGconn *conn, const char *errormsg);
int pgbk_PQsetnonblocking(PGconn *conn, int arg);

#endif
