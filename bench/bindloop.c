/* The cost the event programs add to each bind()/listen(): N rounds of socket, bind to
 * 127.0.0.1:0, (listen,) close, timed with CLOCK_MONOTONIC. Run with and without
 * `portscope watch --events bpf` attached (bench/events.py does both).
 * Usage: bindloop tcp|udp N   -> prints ns per round */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int tcp = strcmp(argv[1], "tcp") == 0;
    long n = atol(argv[2]);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        int s = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
        if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0) return 1;
        if (tcp && listen(s, 1) != 0) return 1;
        close(s);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
    printf("%.0f\n", ns / n);
    return 0;
}
