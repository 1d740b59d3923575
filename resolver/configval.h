/*
 * Checking configuration values: each check validates a value as text and may rewrite it in
 * its canonical form. Shared by the configuration's files; knows nothing of struct config.
 */
#pragma once
#include <stddef.h>

/* Fills why (size n) and returns -EINVAL. */
__attribute__((format(printf, 3, 4))) int configval_why(char *why, size_t n, const char *fmt, ...);
/* Copies v into dst (size bytes): 0, or -EINVAL with why filled when it does not fit. */
int configval_copy(char *dst, size_t size, const char *v, char *why, size_t n);
/* A configuration error, as the operator reads it ("file:line: key: problem"): plain on
 * stderr, with journald's error priority when it is listening there. */
__attribute__((format(printf, 1, 2))) void configval_complain(const char *fmt, ...);
/* Logs a warning when path, holding what ("a password"), is readable by group or others. */
void configval_warn_readable(const char *path, const char *what);

/* A DNS name in presentation form: labels of 1..63 letters, digits, '-' or '_'. */
int configval_dns_name(const char *v, char *why, size_t n);
/* A zone name into dst, normalised to lowercase with a trailing dot. */
int configval_zone_name(char *dst, size_t size, const char *v, char *why, size_t n);

/* The checks of the key table: v is the value (size bytes of storage), 0 or -EINVAL with why
 * filled. */
int configval_listen(char *v, size_t size, char *why, size_t n);      /* ADDR:PORT */
int configval_upstream(char *v, size_t size, char *why, size_t n);    /* ADDR[:PORT] */
int configval_cidr(char *v, size_t size, char *why, size_t n);        /* CIDR */
int configval_nacos(char *v, size_t size, char *why, size_t n);       /* file:PATH or URLs */
int configval_hostname(char *v, size_t size, char *why, size_t n);    /* a DNS name */
int configval_readable(char *v, size_t size, char *why, size_t n);    /* "" or a readable file */
int configval_groups(char *v, size_t size, char *why, size_t n);      /* GROUP[,GROUP...] */
int configval_auto_count(char *v, size_t size, char *why, size_t n);  /* auto or 0..1000000 */
int configval_push_listen(char *v, size_t size, char *why, size_t n); /* "" or ADDR:PORT */
int configval_ip(char *v, size_t size, char *why, size_t n);          /* "" or an address */
int configval_dnstap(char *v, size_t size, char *why, size_t n);      /* "" or unix:PATH */
