/* Escalator lab guest program (issue 17; from the feasibility spike's udpecho.c).
 *
 * UDP 7 (echo): replies "<payload> n=<replies so far> boot=<random id>" to the sender, so a prober
 *   sees that the guest answers and that its state (counter, boot id) survived a live migration.
 * UDP 9 (control), accepted only from the controller address (10.218.0.1, the machine's VTEP):
 *   "svc add <ip>"  ip addr add <ip>/32 dev eth0, then 3 gratuitous ARPs (the segment's bridges and
 *                   the machine learn the new holder at once); "ok add <ip>"
 *   "svc del <ip>"  ip addr del <ip>/32 dev eth0; "ok del <ip>"
 *   "svc list"      "ok <ip> <ip> ..." (the service addresses this program added)
 *   "mem busy on|off"  a child process writes a changing non-zero word into every page of a 48 MiB buffer, again
 *                   and again (off: it is killed), so a pre-copy live migration never converges (zero pages
 *                   would be cheap for QEMU); "ok mem busy on|off"
 *   anything else   "err <reason>"
 * Usage: udpecho [controller-ip [echo-port control-port]]; LABGUEST_DRY=1 only records the
 * addresses (no ip/arping: unit tests run it on 127.0.0.1).
 * Built statically (gcc -static), it needs nothing in the guest but busybox's ip and arping. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/time.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_SVC 16
static char svc[MAX_SVC][INET_ADDRSTRLEN];
static int dry;

static int udp_socket(int port) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a; memset(&a, 0, sizeof a);
    a.sin_family = AF_INET; a.sin_port = htons(port); a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("udpecho: bind"); exit(1); }
    return s;
}

static int run(const char *fmt, const char *ip) {
    char cmd[160];
    if (dry) return 0;
    snprintf(cmd, sizeof cmd, fmt, ip, ip);
    return system(cmd);
}

/* a command in the background, not waited for (the main loop reaps it): the gratuitous ARPs that move the
 * traffic to this guest must not find the echo loop busy in system() - measured on the lab, a switchover then cost
 * the VNF up to 0.8 s while the new active, already announced, was not yet answering */
static void spawn(const char *fmt, const char *ip) {
    char cmd[160];
    if (dry) return;
    snprintf(cmd, sizeof cmd, fmt, ip, ip);
    if (fork() == 0) { execl("/bin/sh", "sh", "-c", cmd, (char *)NULL); _exit(127); }
}

static int find(const char *ip) {
    for (int i = 0; i < MAX_SVC; i++) if (svc[i][0] && !strcmp(svc[i], ip)) return i;
    return -1;
}

#define BUSY_BYTES (48u << 20)
static pid_t busy;                 /* the memory-dirtying child, 0 when off */
static int busy_dry;               /* dry mode: only the state */

static void mem_busy(int on) {
    if (on && !busy && !busy_dry) {
        busy = fork();
        if (busy == 0) {           /* the child: dirty every page, forever, at a low priority */
            volatile unsigned long *m = malloc(BUSY_BYTES);
            unsigned long v = 1;
            if (!m) _exit(1);
            if (nice(10) < 0) { /* keep going at the default priority */ }
            for (;;)
                for (size_t i = 0; i < BUSY_BYTES / sizeof *m; i += 4096 / sizeof *m) m[i] = v++ | 1;
        }
        if (busy < 0) busy = 0;
    } else if (!on && busy) {
        kill(busy, SIGKILL); waitpid(busy, NULL, 0); busy = 0;
    }
    if (busy_dry) busy_dry = on ? 2 : 1;
}

/* one control request -> reply text */
static void control(char *req, char *out, size_t outl) {
    char verb[8] = "", ip[64] = "", extra[8] = "";
    struct in_addr a;
    if (!strcmp(req, "mem busy on") || !strcmp(req, "mem busy off")) {
        int on = !strcmp(req, "mem busy on");
        mem_busy(on);
        if (!on || busy || busy_dry) snprintf(out, outl, "ok %s", req);
        else snprintf(out, outl, "err mem busy: no child");
        return;
    }
    int n = sscanf(req, "svc %7s %63s %7s", verb, ip, extra);
    if (n == 1 && !strcmp(verb, "list")) {
        size_t l = snprintf(out, outl, "ok");
        for (int i = 0; i < MAX_SVC && l < outl; i++)
            if (svc[i][0]) l += snprintf(out + l, outl - l, " %s", svc[i]);
        return;
    }
    if (n != 2 || (strcmp(verb, "add") && strcmp(verb, "del"))) {
        snprintf(out, outl, "err usage: svc add|del <ipv4> | svc list"); return;
    }
    if (inet_pton(AF_INET, ip, &a) != 1) { snprintf(out, outl, "err bad address %s", ip); return; }
    inet_ntop(AF_INET, &a, ip, sizeof ip);             /* canonical form: safe in a command */
    int i = find(ip);
    if (!strcmp(verb, "add")) {
        /* an address already on eth0 (e.g. added before a restart) is fine: add is idempotent */
        if (run("ip addr add %s/32 dev eth0 2>/dev/null || ip -o addr show dev eth0 | grep -q ' %s/32 '", ip)) {
            snprintf(out, outl, "err ip addr add %s failed", ip); return;
        }
        spawn("arping -U -c 3 -I eth0 %s >/dev/null 2>&1", ip);
        if (i < 0) for (i = 0; i < MAX_SVC; i++) if (!svc[i][0]) { strcpy(svc[i], ip); break; }
        snprintf(out, outl, "ok add %s", ip);
    } else {
        if (run("ip addr del %s/32 dev eth0 2>/dev/null || ! ip -o addr show dev eth0 | grep -q ' %s/32 '", ip)) {
            snprintf(out, outl, "err ip addr del %s failed", ip); return;
        }
        if (i >= 0) svc[i][0] = 0;
        snprintf(out, outl, "ok del %s", ip);
    }
}

int main(int argc, char **argv) {
    const char *ctl_ip = argc > 1 ? argv[1] : "10.218.0.1";
    int echo_port = argc > 3 ? atoi(argv[2]) : 7, ctl_port = argc > 3 ? atoi(argv[3]) : 9;
    struct in_addr ctl;
    if (inet_pton(AF_INET, ctl_ip, &ctl) != 1) { fprintf(stderr, "udpecho: bad controller %s\n", ctl_ip); return 1; }
    dry = getenv("LABGUEST_DRY") != NULL;
    busy_dry = dry;
    unsigned int boot = 0; int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) { if (read(fd, &boot, sizeof boot) < 0) boot = getpid(); close(fd); }
    int se = udp_socket(echo_port), sc = udp_socket(ctl_port);
    printf("udpecho: ready boot=%08x echo=%d control=%d from %s\n", boot, echo_port, ctl_port, ctl_ip);
    fflush(stdout);
    char in[512], out[640]; unsigned long n = 0;
    for (;;) {
        fd_set r; FD_ZERO(&r); FD_SET(se, &r); FD_SET(sc, &r);
        while (waitpid(-1, NULL, WNOHANG) > 0) { /* the spawned commands that ended */ }
        struct timeval tick = {1, 0};    /* wake up now and then to reap them */
        if (select((se > sc ? se : sc) + 1, &r, NULL, NULL, &tick) <= 0) continue;
        for (int k = 0; k < 2; k++) {
            int s = k ? sc : se;
            if (!FD_ISSET(s, &r)) continue;
            struct sockaddr_in p; socklen_t pl = sizeof p;
            ssize_t got = recvfrom(s, in, sizeof in - 1, 0, (struct sockaddr *)&p, &pl);
            if (got < 0) continue;
            in[got] = 0;
            int l;
            if (s == se) {
                n++;
                l = snprintf(out, sizeof out, "%s n=%lu boot=%08x", in, n, boot);
            } else if (p.sin_addr.s_addr != ctl.s_addr) {
                continue;                  /* control only from the controller: drop silently */
            } else {
                while (got > 0 && (in[got - 1] == '\n' || in[got - 1] == '\r')) in[--got] = 0;
                control(in, out, sizeof out);
                printf("udpecho: control '%s' -> %s\n", in, out); fflush(stdout);
                l = strlen(out);
            }
            if (l > (int)sizeof out - 1) l = sizeof out - 1;
            sendto(s, out, l, 0, (struct sockaddr *)&p, pl);
        }
    }
}
