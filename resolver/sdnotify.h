/* The service manager's notification protocol (sd_notify(3)): one datagram per state change to
 * the AF_UNIX socket named by $NOTIFY_SOCKET, and the watchdog interval from $WATCHDOG_USEC. */
#pragma once
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* "/run/systemd/notify" or "@abstract" -> *sa, *len. -EINVAL for anything else (relative,
 * empty, too long). */
int sdnotify_addr(const char *name, struct sockaddr_un *sa, socklen_t *len);
/* Sends state ("READY=1\nSTATUS=...") to $NOTIFY_SOCKET without blocking. 0 when sent or when
 * no service manager listens (no $NOTIFY_SOCKET), else a negative errno. */
int sdnotify_send(const char *state);
/* The watchdog interval in microseconds from usec ($WATCHDOG_USEC) and pid ($WATCHDOG_PID, may
 * be NULL) for the process mypid; 0 when there is no valid one meant for this process. */
uint64_t sdnotify_watchdog_usec(const char *usec, const char *pid, long mypid);
