/* Keeps queries off the main loop's UDP socket when worker threads share its address. */
#pragma once

/* fd: the first socket bound in a SO_REUSEPORT group (the main loop's), family AF_INET or
 * AF_INET6. From now on the kernel hands each datagram to one of the n sockets bound after it,
 * chosen by the client's address and port, so one client socket always lands on one worker.
 * 0, or a negative errno (then the kernel spreads datagrams over all the sockets, as before). */
int steer_attach(int fd, int family, unsigned n);
