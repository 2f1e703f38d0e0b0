#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--health") == 0) { puts("ok"); return 0; }
    printf("hello, %s (uid %u)\n", argc > 1 ? argv[1] : "nobody", (unsigned)getuid());
    return 0;
}
