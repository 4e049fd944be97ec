/*
 * What the two yardstick relays (minimal-relay.c, minimal-udp-relay.c) share: the command line
 * as docker-proxy takes it, the stop signals, and the wait for events, polling epoll first for
 * MINIMAL_RELAY_BUSY_POLL_US microseconds (yielding) when that is set.
 */
#ifndef MINIMAL_H
#define MINIMAL_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;
static void on_signal(int sig) { (void)sig; stopping = 1; }

/* -host-port N -container-port M (both on 127.0.0.1) into host and backend; SIGINT and SIGTERM
 * end the loop. Says "1\nusage" on fd 3 and returns -1 when a port is missing. */
static int minimal_start(int argc, char **argv, struct sockaddr_in *host, struct sockaddr_in *backend)
{
    int host_port = -1, container_port = -1;
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "-host-port") == 0) host_port = atoi(argv[i + 1]);
        if (strcmp(argv[i], "-container-port") == 0) container_port = atoi(argv[i + 1]);
    }
    if (host_port < 0 || container_port < 0) { (void)!write(3, "1\nusage\n", 8); return -1; }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    *host = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((unsigned short)host_port) };
    inet_pton(AF_INET, "127.0.0.1", &host->sin_addr);
    *backend = *host;
    backend->sin_port = htons((unsigned short)container_port);
    return 0;
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The next events: polled for MINIMAL_RELAY_BUSY_POLL_US first (if set), then slept for. */
static int minimal_wait(int epoll, struct epoll_event *events, int max)
{
    static long long busy_ns = -1;
    if (busy_ns < 0) {
        const char *poll_us = getenv("MINIMAL_RELAY_BUSY_POLL_US");
        busy_ns = poll_us ? atoll(poll_us) * 1000LL : 0;
    }
    int n = epoll_wait(epoll, events, max, 0);
    if (n == 0 && busy_ns > 0) {
        long long deadline = now_ns() + busy_ns;
        while (n == 0 && !stopping && now_ns() < deadline) {
            sched_yield();
            n = epoll_wait(epoll, events, max, 0);
        }
    }
    return n != 0 ? n : epoll_wait(epoll, events, max, -1);
}

#endif
