/*
 * minimal-relay: the least a TCP port relay can do on Linux, as a yardstick for the benchmark
 * (build/bench/floor.py), not a product. One thread, one epoll set, edge-triggered; accept4,
 * a non-blocking connect to the backend, recv/send through a 16 KiB buffer per direction, FIN
 * passed on as shutdown(SHUT_WR). No options, no logs, no limits, no keepalive, no splice.
 * With MINIMAL_RELAY_BUSY_POLL_US=N it polls epoll for N microseconds (yielding) before it sleeps.
 *
 * Started as docker-proxy is: -host-port N -container-port M (both on 127.0.0.1), "0\n" on fd 3
 * once listening; SIGINT or SIGTERM ends it with status 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "minimal.h"

#define BUFFER 16384

struct conn;
struct side { struct conn *conn; int index; };
struct conn {
    int fd[2];                 /* 0: client, 1: backend */
    struct side side[2];
    char buf[2][BUFFER];       /* buf[d]: bytes read from fd[d], not yet sent to fd[1 - d] */
    int len[2], off[2];
    int eof[2], done[2];
    int connecting, closed;
};


static struct conn *dead[1024];
static int ndead;

/* Moves what can be moved from fd[d] to fd[1 - d] now. A short read drains the socket: with
 * edge-triggered epoll the next byte raises a new event, so no read that ends in EAGAIN is made,
 * unless the event said the peer's FIN (or an error) came: then read on to it. */
static void pump(struct conn *c, int d, int ended)
{
    while (!c->done[d]) {
        if (c->off[d] < c->len[d]) {
            ssize_t n = send(c->fd[1 - d], c->buf[d] + c->off[d], c->len[d] - c->off[d], MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EAGAIN) return;
                c->done[d] = 1;
                shutdown(c->fd[d], SHUT_RD);
                return;
            }
            c->off[d] += (int)n;
            continue;
        }
        if (c->eof[d]) {
            shutdown(c->fd[1 - d], SHUT_WR);
            c->done[d] = 1;
            return;
        }
        ssize_t n = recv(c->fd[d], c->buf[d], BUFFER, MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) { c->eof[d] = 1; continue; }
        c->len[d] = (int)n;
        c->off[d] = 0;
        if (n < BUFFER && !ended) {
            ssize_t m = send(c->fd[1 - d], c->buf[d], (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (m == n) { c->len[d] = 0; return; }
            if (m > 0) c->off[d] = (int)m;
        }
    }
}

static void finish(struct conn *c)
{
    if (c->closed || !c->done[0] || !c->done[1] || ndead == (int)(sizeof dead / sizeof dead[0])) return;
    close(c->fd[0]);
    close(c->fd[1]);
    c->closed = 1;
    dead[ndead++] = c;   /* freed after the batch: a later event of it may still be in the batch */
}

static void accept_all(int listener, int epoll, const struct sockaddr_in *backend)
{
    for (;;) {
        int client = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client < 0) return;
        struct conn *c = calloc(1, sizeof *c);
        int one = 1;
        if (c == NULL) { close(client); continue; }
        c->fd[0] = client;
        c->fd[1] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd[1] < 0) { close(client); free(c); continue; }
        setsockopt(c->fd[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->side[0] = (struct side){ c, 0 };
        c->side[1] = (struct side){ c, 1 };
        c->connecting = 1;
        if (connect(c->fd[1], (const struct sockaddr *)backend, sizeof *backend) < 0 && errno != EINPROGRESS) {
            close(c->fd[0]); close(c->fd[1]); free(c);
            continue;
        }
        for (int i = 0; i < 2; i++) {
            struct epoll_event e = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = &c->side[i] };
            epoll_ctl(epoll, EPOLL_CTL_ADD, c->fd[i], &e);
        }
    }
}

int main(int argc, char **argv)
{
    struct sockaddr_in host, backend;
    if (minimal_start(argc, argv, &host, &backend) < 0) return 2;

    int one = 1;
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(listener, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (bind(listener, (struct sockaddr *)&host, sizeof host) < 0 || listen(listener, 4096) < 0) {
        write(3, "1\nlisten failed\n", 16);
        return 1;
    }
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event le = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &le);
    write(3, "0\n", 2);
    close(3);

    struct epoll_event events[64];
    while (!stopping) {
        int n = minimal_wait(epoll, events, 64);
        for (int i = 0; i < n; i++) {
            struct side *s = events[i].data.ptr;
            if (s == NULL) { accept_all(listener, epoll, &backend); continue; }
            struct conn *c = s->conn;
            if (c->closed) continue;
            if (c->connecting) {
                if (s->index != 1 || !(events[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) continue;
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len);
                c->connecting = 0;
                if (err != 0) { shutdown(c->fd[0], SHUT_WR); c->done[0] = c->done[1] = 1; }
                pump(c, 0, 1);
                pump(c, 1, 1);
            } else {
                int ended = (events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
                if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) pump(c, s->index, ended);
                if (events[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) pump(c, 1 - s->index, 1);
            }
            finish(c);
        }
        for (int i = 0; i < ndead; i++) free(dead[i]);
        ndead = 0;
    }
    return 0;
}
