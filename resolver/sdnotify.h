/* What systemd hands a service in its environment: the notification socket (sd_notify(3), one
 * datagram per state change to the AF_UNIX socket named by $NOTIFY_SOCKET), the watchdog
 * interval ($WATCHDOG_USEC) and the journal stream on stderr ($JOURNAL_STREAM). */
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
/* $JOURNAL_STREAM ("DEVICE:INODE", both decimal) -> *dev, *ino. 0, or -EINVAL. */
int sdnotify_journal_stream(const char *s, uint64_t *dev, uint64_t *ino);
