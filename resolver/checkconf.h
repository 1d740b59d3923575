/* What --check-config checks beyond the syntax and the values: what would otherwise fail only
 * at start (a file: registry that cannot be read, a user that does not exist). */
#pragma once

struct config;

/* 0, or -EINVAL after printing "origin: key: problem" for each failure (config_origin_text). */
int checkconf_start(const struct config *c);
