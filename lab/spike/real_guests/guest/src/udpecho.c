/* rg17 guest responder: UDP port 7, replies "<payload> n=<replies so far> boot=<random id>"
   so a prober sees both that the guest answers and that its state survived a move. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
int main(void) {
    unsigned int boot = 0; int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) { if (read(fd, &boot, sizeof boot) < 0) boot = getpid(); close(fd); }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a; memset(&a, 0, sizeof a);
    a.sin_family = AF_INET; a.sin_port = htons(7); a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("udpecho"); return 1; }
    printf("udpecho: ready boot=%08x\n", boot); fflush(stdout);
    char in[512], out[640]; unsigned long n = 0;
    for (;;) {
        struct sockaddr_in p; socklen_t pl = sizeof p;
        ssize_t r = recvfrom(s, in, sizeof in - 1, 0, (struct sockaddr *)&p, &pl);
        if (r < 0) continue;
        in[r] = 0; n++;
        int l = snprintf(out, sizeof out, "%s n=%lu boot=%08x", in, n, boot);
        sendto(s, out, l, 0, (struct sockaddr *)&p, pl);
    }
}
