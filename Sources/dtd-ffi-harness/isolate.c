/**
 * isolate.c : every check group runs in a forked child; the parent keeps the score.
 *
 * Protocol, one line per record on a pipe from child to parent (fields tab-separated, with tabs
 * and newlines inside fields replaced by spaces):
 *   P <fn> <what>            a check passed
 *   F <fn> <what> <detail>   a check failed
 *   C <fn> <arguments>       the child is about to ffi_call <fn> (crash attribution, call count)
 *   c <fn> <arguments>       the same for a set-up call (fixtures): attribution only
 * The child's stderr (where the Swift runtime writes a fatal error) goes to a temporary file that
 * the parent quotes when the child dies. The parent never calls libdtd itself, so a crash, a trap
 * or a hang in the library costs one child, and the run goes on.
 */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/** Seconds a check group may run before it counts as hung. */
#define CHILD_TIME_LIMIT 120

static int report_fd = -1; /* the pipe in a child; -1 in the parent */

typedef struct {
    char name[96];
    long passed, failed, calls;
} Tally;

static Tally *tallies;
static int tally_count, tally_capacity;

static Tally *tally_of(const char *fn) {
    for (int i = 0; i < tally_count; i++)
        if (strcmp(tallies[i].name, fn) == 0) return &tallies[i];
    if (tally_count == tally_capacity) {
        tally_capacity = tally_capacity ? 2 * tally_capacity : 128;
        Tally *grown = realloc(tallies, (size_t)tally_capacity * sizeof(Tally));
        if (!grown) {
            fprintf(stderr, "dtd-ffi-harness: out of memory\n");
            exit(2);
        }
        tallies = grown;
    }
    Tally *t = &tallies[tally_count++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", fn);
    return t;
}

static void clean_field(char *s) {
    for (; *s; s++)
        if (*s == '\t' || *s == '\n' || *s == '\r') *s = ' ';
}

static void record(char type, const char *fn, const char *what, const char *detail) {
    Tally *t = tally_of(fn);
    if (type == 'P') t->passed++;
    if (type == 'C') t->calls++;
    if (type == 'F') {
        t->failed++;
        printf("FAIL %s: %s: %s\n", fn, what, detail);
        fflush(stdout);
    }
}

/** Writes the whole buffer to the pipe (a child has nothing better to do if the parent left). */
static void write_all(int fd, const char *data, size_t size) {
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) _exit(3);
        data += n;
        size -= (size_t)n;
    }
}

static void send_record(char type, const char *fn, const char *what, const char *detail) {
    char a[128], b[512], c[2048], line[2800];
    snprintf(a, sizeof a, "%s", fn);
    snprintf(b, sizeof b, "%s", what);
    snprintf(c, sizeof c, "%s", detail);
    clean_field(a);
    clean_field(b);
    clean_field(c);
    int n = snprintf(line, sizeof line, "%c\t%s\t%s\t%s\n", type, a, b, c);
    if (n < 0) return;
    if ((size_t)n >= sizeof line) {
        n = (int)sizeof line - 1;
        line[n - 1] = '\n';
    }
    write_all(report_fd, line, (size_t)n);
}

void check(int ok, const char *fn, const char *what, const char *detail, ...) {
    char text[2048] = "";
    if (!ok) {
        va_list ap;
        va_start(ap, detail);
        vsnprintf(text, sizeof text, detail, ap);
        va_end(ap);
    }
    if (report_fd >= 0)
        send_record(ok ? 'P' : 'F', fn, what, text);
    else
        record(ok ? 'P' : 'F', fn, what, text);
}

static int setup_mode;

void set_setup_mode(int on) { setup_mode = on; }
int in_setup_mode(void) { return setup_mode; }

void note_call(const char *fn, const char *args_text) {
    char type = setup_mode ? 'c' : 'C';
    if (report_fd >= 0) send_record(type, fn, args_text, "");
    else record(type, fn, args_text, "");
}

/** Splits the child's stream into records and applies them; returns the number of checks. */
typedef struct {
    char buffer[8192];
    size_t used;
    long checks;
    char last_call[700];
} Reader;

static void apply_line(Reader *r, char *line) {
    char *fields[4] = {line, NULL, NULL, NULL};
    for (int i = 1; i < 4; i++) {
        char *tab = fields[i - 1] ? strchr(fields[i - 1], '\t') : NULL;
        if (!tab) break;
        *tab = '\0';
        fields[i] = tab + 1;
    }
    if (!fields[1] || !fields[2]) return;
    char type = fields[0][0];
    if (type == 'C' || type == 'c') {
        snprintf(r->last_call, sizeof r->last_call, "%s(%s)%s", fields[1], fields[2], type == 'c' ? " [set-up]" : "");
        record(type, fields[1], fields[2], "");
        return;
    }
    if (type == 'P' || type == 'F') {
        r->checks++;
        record(type, fields[1], fields[2], fields[3] ? fields[3] : "");
    }
}

static void feed(Reader *r, const char *data, size_t size) {
    for (size_t i = 0; i < size; i++) {
        char c = data[i];
        if (c == '\n') {
            r->buffer[r->used] = '\0';
            apply_line(r, r->buffer);
            r->used = 0;
        } else if (r->used + 1 < sizeof r->buffer) {
            r->buffer[r->used++] = c;
        }
    }
}

/**
 * The gist of the child's stderr on one line: the Swift runtime's "*** ... ***" headline (the
 * failure, e.g. "arithmetic overflow") and the first frames inside libdtd with their source
 * locations; otherwise the first bytes.
 */
static void stderr_gist(FILE *file, char *out, size_t size) {
    static char text[65536], gist[1024];
    out[0] = '\0';
    if (!file || size == 0) return;
    fflush(file);
    if (fseek(file, 0, SEEK_SET) != 0) return;
    size_t n = fread(text, 1, sizeof text - 1, file), used = 0, head = n < size - 1 ? n : size - 1;
    text[n] = '\0';
    memcpy(out, text, head); /* the fallback: the first bytes */
    out[head] = '\0';
    clean_field(out);
    int frames = 0;
    for (char *line = text, *next; line && *line && used + 1 < sizeof gist; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        while (*line == ' ') line++;
        int headline = strncmp(line, "***", 3) == 0 && !strstr(line, "Backtracing");
        int frame = frames < 3 && strstr(line, " in libdtd.so at ") != NULL;
        if (!headline && !frame) continue;
        frames += frame;
        int k = snprintf(gist + used, sizeof gist - used, "%s%s", used ? " | " : "", line);
        if (k < 0) break;
        used += (size_t)k < sizeof gist - used ? (size_t)k : sizeof gist - used - 1;
    }
    if (used > 0) {
        size_t keep = used < size - 1 ? used : size - 1;
        memcpy(out, gist, keep);
        out[keep] = '\0';
        clean_field(out);
    }
}

int isolated(const char *fn, const char *what, void (*body)(void *), void *ctx) {
    fflush(stdout);
    fflush(stderr);
    int fds[2];
    if (pipe(fds) != 0) {
        check(0, fn, what, "pipe() failed: %s", strerror(errno));
        return -1;
    }
    FILE *err = tmpfile();
    pid_t pid = fork();
    if (pid < 0) {
        check(0, fn, what, "fork() failed: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        if (err) fclose(err);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        report_fd = fds[1];
        if (err) dup2(fileno(err), STDERR_FILENO);
        alarm(CHILD_TIME_LIMIT);
        body(ctx);
        call_epilogue();
        _exit(0);
    }
    close(fds[1]);
    Reader *r = calloc(1, sizeof *r);
    if (!r) {
        fprintf(stderr, "dtd-ffi-harness: out of memory\n");
        exit(2);
    }
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fds[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        feed(r, chunk, (size_t)n);
    }
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    char tail[900];
    stderr_gist(err, tail, sizeof tail);
    if (err) fclose(err);
    const char *at = r->last_call[0] ? r->last_call : "(before any libdtd call)";
    int result = 0;
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (sig == SIGALRM)
            check(0, fn, what, "timed out after %d s; last call: %s", CHILD_TIME_LIMIT, at);
        else
            check(0, fn, what, "CRASH: killed by signal %d (%s); last call: %s%s%s", sig, strsignal(sig), at,
                  tail[0] ? "; stderr: " : "", tail);
        result = -1;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        check(0, fn, what, "child exited with status %d; last call: %s%s%s", WEXITSTATUS(status), at,
              tail[0] ? "; stderr: " : "", tail);
        result = -1;
    } else if (r->checks == 0) {
        check(0, fn, what, "the check group reported no result");
        result = -1;
    }
    free(r);
    return result;
}

long calls_of(const char *fn) {
    for (int i = 0; i < tally_count; i++)
        if (strcmp(tallies[i].name, fn) == 0) return tallies[i].calls;
    return 0;
}

int tally_summary(void) {
    long passed = 0, failed = 0;
    printf("\nper function (checks passed / failed, ffi calls):\n");
    /* Table functions first, in table order, then the check groups. */
    for (int i = 0; i < g_table.count; i++) {
        Tally *t = tally_of(g_table.items[i].name);
        printf("  %-36s %5ld passed %4ld failed %6ld calls\n", t->name, t->passed, t->failed, t->calls);
    }
    for (int i = 0; i < tally_count; i++) {
        Tally *t = &tallies[i];
        if (table_find(t->name) || t->passed + t->failed == 0) continue;
        printf("  %-36s %5ld passed %4ld failed\n", t->name, t->passed, t->failed);
    }
    for (int i = 0; i < tally_count; i++) {
        passed += tallies[i].passed;
        failed += tallies[i].failed;
    }
    int exercised = 0, missing = 0;
    for (int i = 0; i < g_table.count; i++) {
        if (calls_of(g_table.items[i].name) > 0) exercised++;
        if (!g_table.items[i].callable) missing++;
    }
    printf("\nexercised %d of the table's %d functions through ffi_call", exercised, g_table.count);
    if (missing) printf(" (%d not callable: missing from the library or unparsable, each reported as a failure above)", missing);
    printf("\n%ld passed, %ld failed\n", passed, failed);
    return (int)(failed > 0 ? (failed > 1000000 ? 1000000 : failed) : 0);
}
