/* Showing the configuration: --help from the key table (config_get, config_origin_text and
 * config_print in config.h are here too). */
#pragma once

/* Prints --help, each key with its default, to stdout. */
void configprint_help(const char *prog);
