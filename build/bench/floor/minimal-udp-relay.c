/*
 * minimal-udp-relay: the least a UDP port relay with NAT-style sessions can do on Linux, as a
 * yardstick for build/bench/floor.py, not a product. One thread, one level-triggered epoll set:
 * the listener is read with recvmmsg (16 datagrams a call), each datagram is sent on its client's
 * session socket (connected to the backend, its own source port, made on the first datagram), a
 * readable session gives one reply, and the replies of one wake-up leave together with sendmmsg
 * from the listener. No expiry, no limits, no source-address control messages (it binds one
 * address), no logs. With MINIMAL_RELAY_BUSY_POLL_US=N it polls for N microseconds (yielding)
 * before it sleeps.
 *
 * Started as docker-proxy is: -proto udp -host-port N -container-port M (both on 127.0.0.1),
 * "0\n" on fd 3 once listening; SIGINT or SIGTERM ends it with status 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "minimal.h"

#define BATCH 16
#define SLOTS 65536            /* open addressing; at most SLOTS / 2 sessions */
#define DATAGRAM 65536
#define REPLIES 64

struct session { int fd; struct sockaddr_in client; };

static struct session *table[SLOTS];
static int sessions;

static unsigned slot_of(const struct sockaddr_in *a)
{
    unsigned h = a->sin_addr.s_addr * 2654435761u ^ a->sin_port * 40503u;
    return h % SLOTS;
}

static struct session *session_for(const struct sockaddr_in *client, int epoll, const struct sockaddr_in *backend)
{
    unsigned i = slot_of(client);
    for (; table[i] != NULL; i = (i + 1) % SLOTS)
        if (table[i]->client.sin_addr.s_addr == client->sin_addr.s_addr && table[i]->client.sin_port == client->sin_port)
            return table[i];
    if (sessions >= SLOTS / 2) return NULL;
    struct session *s = malloc(sizeof *s);
    if (s == NULL) return NULL;
    s->client = *client;
    s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0 || connect(s->fd, (const struct sockaddr *)backend, sizeof *backend) < 0) {
        if (s->fd >= 0) close(s->fd);
        free(s);
        return NULL;
    }
    struct epoll_event e = { .events = EPOLLIN, .data.ptr = s };
    epoll_ctl(epoll, EPOLL_CTL_ADD, s->fd, &e);
    table[i] = s;
    sessions++;
    return s;
}

int main(int argc, char **argv)
{
    struct sockaddr_in host, backend;
    if (minimal_start(argc, argv, &host, &backend) < 0) return 2;

    int listener = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int size = 4 << 20;
    setsockopt(listener, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    setsockopt(listener, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
    if (bind(listener, (struct sockaddr *)&host, sizeof host) < 0) { (void)!write(3, "1\nbind failed\n", 14); return 1; }
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event le = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &le);
    (void)!write(3, "0\n", 2);
    close(3);

    static char rx[BATCH][DATAGRAM];
    static struct sockaddr_in rx_from[BATCH];
    static struct iovec rx_iov[BATCH];
    static struct mmsghdr rx_msg[BATCH];
    static char tx[REPLIES][2048];
    static struct iovec tx_iov[REPLIES];
    static struct mmsghdr tx_msg[REPLIES];
    int replies = 0;
    struct epoll_event events[64];
    while (!stopping) {
        int n = minimal_wait(epoll, events, 64);
        for (int i = 0; i < n; i++) {
            struct session *s = events[i].data.ptr;
            if (s == NULL) {
                for (int k = 0; k < BATCH; k++) {
                    rx_iov[k] = (struct iovec){ rx[k], DATAGRAM };
                    rx_msg[k].msg_hdr = (struct msghdr){ .msg_name = &rx_from[k], .msg_namelen = sizeof rx_from[k], .msg_iov = &rx_iov[k], .msg_iovlen = 1 };
                }
                int got = recvmmsg(listener, rx_msg, BATCH, MSG_DONTWAIT, NULL);
                for (int k = 0; k < got; k++) {
                    struct session *t = session_for(&rx_from[k], epoll, &backend);
                    if (t != NULL) (void)send(t->fd, rx[k], rx_msg[k].msg_len, MSG_DONTWAIT);
                }
                continue;
            }
            if (replies == REPLIES) continue;   /* level-triggered: taken at the next wake-up */
            ssize_t len = recv(s->fd, tx[replies], sizeof tx[replies], MSG_DONTWAIT);
            if (len < 0) continue;
            tx_iov[replies] = (struct iovec){ tx[replies], (size_t)len };
            tx_msg[replies].msg_hdr = (struct msghdr){ .msg_name = &s->client, .msg_namelen = sizeof s->client, .msg_iov = &tx_iov[replies], .msg_iovlen = 1 };
            replies++;
        }
        if (replies > 0) {
            (void)sendmmsg(listener, tx_msg, (unsigned)replies, MSG_DONTWAIT);
            replies = 0;
        }
    }
    return 0;
}
