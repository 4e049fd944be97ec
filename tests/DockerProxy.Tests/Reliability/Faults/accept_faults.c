/*
 * accept_faults.c: an LD_PRELOAD shim that makes accept4(2) and accept(2) fail as if the system
 * were out of resources, for the first N calls that would otherwise have succeeded.
 *
 *   FAULT_ACCEPT_ENFILE=N   the first N such calls fail with ENFILE (system file table full)
 *   FAULT_ACCEPT_ENOBUFS=N  then N more with ENOBUFS
 *   FAULT_ACCEPT_ENOMEM=N   then N more with ENOMEM
 *   FAULT_ACCEPT_AFTER=K    inject only once K connections were really accepted (default 0)
 *   FAULT_ACCEPT_LOG=path   one line per event: "loaded", the errno name of each injected
 *                           failure, "accepted" for each connection really accepted
 *
 * A call "would succeed" when a connection waits in the listener's queue (poll says POLLIN). An
 * injected failure does not call the real accept, so the waiting connection stays queued and is
 * accepted by a later call, once the injected failures are used up. A call with nothing waiting
 * goes to the real accept unchanged (EAGAIN on a non-blocking listener).
 *
 * Build: gcc -shared -fPIC -O2 -o libfaults.so accept_faults.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);
typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);

#define KINDS 3
static const char *const variables[KINDS] = {"FAULT_ACCEPT_ENFILE", "FAULT_ACCEPT_ENOBUFS", "FAULT_ACCEPT_ENOMEM"};
static const char *const names[KINDS] = {"ENFILE", "ENOBUFS", "ENOMEM"};
static const int codes[KINDS] = {ENFILE, ENOBUFS, ENOMEM};

static int budget[KINDS];
static int accepts_before_faults;
static char log_path_buffer[4096];
static const char *log_path;

/* Opens, appends and closes each time: the shim holds no fd of its own between calls, so it
 * neither takes a number the process expects (fd 3, 4) nor shows in the process's fd count. */
static void record(const char *event)
{
    if (log_path == NULL) {
        return;
    }

    int saved = errno;
    char line[32];
    size_t length = strlen(event);
    if (length > sizeof line - 2) {
        length = sizeof line - 2;
    }

    memcpy(line, event, length);
    line[length] = '\n';
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ssize_t ignored = write(fd, line, length + 1); /* O_APPEND: one write, one whole line */
        (void)ignored;
        close(fd);
    }

    errno = saved;
}

__attribute__((constructor)) static void faults_init(void)
{
    for (int i = 0; i < KINDS; i++) {
        const char *value = getenv(variables[i]);
        budget[i] = value == NULL ? 0 : atoi(value);
    }

    const char *after = getenv("FAULT_ACCEPT_AFTER");
    accepts_before_faults = after == NULL ? 0 : atoi(after);

    const char *path = getenv("FAULT_ACCEPT_LOG");
    if (path != NULL && path[0] != '\0' && strlen(path) < sizeof log_path_buffer) {
        strcpy(log_path_buffer, path); /* a copy: the environment may change later */
        log_path = log_path_buffer;
    }

    record("loaded");
}

/* Whether a connection waits to be accepted: the real accept would succeed. */
static int connection_waiting(int fd)
{
    int saved = errno;
    struct pollfd p = {.fd = fd, .events = POLLIN, .revents = 0};
    int ready = poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
    errno = saved;
    return ready;
}

/* Takes one injected failure if any is left and a connection waits; sets errno and returns 1. */
static int inject(int fd)
{
    if (__atomic_load_n(&accepts_before_faults, __ATOMIC_SEQ_CST) > 0 || !connection_waiting(fd)) {
        return 0;
    }

    for (int i = 0; i < KINDS; i++) {
        int left = __atomic_load_n(&budget[i], __ATOMIC_SEQ_CST);
        while (left > 0) {
            if (__atomic_compare_exchange_n(&budget[i], &left, left - 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
                record(names[i]);
                errno = codes[i];
                return 1;
            }
        }
    }

    return 0;
}

int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags)
{
    static accept4_fn real;
    if (real == NULL) {
        real = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
    }

    if (inject(fd)) {
        return -1;
    }

    int accepted = real(fd, address, length, flags);
    if (accepted >= 0) {
        if (__atomic_load_n(&accepts_before_faults, __ATOMIC_SEQ_CST) > 0) {
            __atomic_fetch_sub(&accepts_before_faults, 1, __ATOMIC_SEQ_CST);
        }

        record("accepted");
    }

    return accepted;
}

int accept(int fd, struct sockaddr *address, socklen_t *length)
{
    static accept_fn real;
    if (real == NULL) {
        real = (accept_fn)dlsym(RTLD_NEXT, "accept");
    }

    if (inject(fd)) {
        return -1;
    }

    int accepted = real(fd, address, length);
    if (accepted >= 0) {
        if (__atomic_load_n(&accepts_before_faults, __ATOMIC_SEQ_CST) > 0) {
            __atomic_fetch_sub(&accepts_before_faults, 1, __ATOMIC_SEQ_CST);
        }

        record("accepted");
    }

    return accepted;
}
