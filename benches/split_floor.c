/* The floor of the STAR particle job's reading and writing: the least a program does to
 * write a particle file's kept and rejected rows when the decision is known in advance.
 *
 *   split_floor [--writev | --copy-range | --mmap] INPUT.star KEEP.npy KEPT.star REJECTED.star
 *
 * KEEP.npy holds one bool per particle row (numpy's .npy). The input is mapped; the rows of
 * its particle loop (block data_particles of a RELION 3.1+ file, else the first loop) are
 * found by their line feeds on two threads; then two threads write at once, one the kept
 * and one the rejected output, each the header (the bytes before the rows) and its rows.
 * Nothing is parsed and nothing decided: `cp` of the input plus finding the rows and
 * writing them to two files instead of one. benches/run_all.py builds it with gcc and times
 * it beside the job (issue 43).
 *
 * How the rows are written (the default was the fastest on the 1M and 10M files; the
 * others are kept to show it, benches/RESULTS.md):
 *   (default)     runs of adjacent rows copied into a 1 MB buffer, written with write
 *   --writev      runs written straight from the map, 1024 to a writev
 *   --copy-range  each run copied by the kernel from the input file (copy_file_range, as cp)
 *   --mmap        the output sized, mapped and populated (MADV_POPULATE_WRITE), runs copied in
 * The outputs hold the same bytes as the job's but for its last line feed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define IOV_BATCH 1024
#define BUFFER (1 << 20)

enum way { BUFFERED, WRITEV, COPY_RANGE, MAPPED };

static void die(const char *what, const char *path) {
    fprintf(stderr, "split_floor: %s: %s (%s)\n", path, what, strerror(errno));
    exit(1);
}

static const char *map_file(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) die("cannot open", path);
    *len = (size_t)st.st_size;
    const char *data = mmap(NULL, *len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (data == MAP_FAILED) die("cannot map", path);
    madvise((void *)data, *len, MADV_SEQUENTIAL);
    close(fd);
    return data;
}

/* The first row of the particle loop: the line after the last "_label" line of the block
 * data_particles (of the file's first loop for a file without that block). */
static size_t rows_start(const char *data, size_t len) {
    size_t head = len < (1 << 20) ? len : (1 << 20);
    const char *block = memmem(data, head, "data_particles", 14);
    size_t start = 0, at = block ? (size_t)(block - data) : 0;
    while (at < len) {
        const char *nl = memchr(data + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - data) + 1 : len;
        if (data[at] == '_') start = end;
        else if (start && end - at > 1 && data[at] != '#') break; /* the first row */
        at = end;
    }
    return start;
}

struct finder {
    const char *data;
    size_t from, to;
    uint64_t *ends; /* the end (one past its line feed) of each line found */
    size_t n;
};

static void *find_rows(void *arg) {
    struct finder *f = arg;
    size_t at = f->from, cap = 1 << 20;
    f->ends = malloc(cap * sizeof *f->ends);
    while (at < f->to) {
        const char *nl = memchr(f->data + at, '\n', f->to - at);
        size_t end = nl ? (size_t)(nl - f->data) + 1 : f->to;
        if (f->n == cap) f->ends = realloc(f->ends, (cap *= 2) * sizeof *f->ends);
        f->ends[f->n++] = end;
        at = end;
    }
    return NULL;
}

/* One output: the rows whose mask value is `want`, in runs of adjacent rows. */
struct writer {
    const char *data, *input, *path;
    size_t header;         /* the bytes before the first row */
    const uint64_t *ends;  /* ends[k]: one past row k's line feed; row 0 starts at `header` */
    size_t n;
    const uint8_t *keep;
    uint8_t want;
    enum way way;
    size_t at, row;        /* the next run: where it starts, and its first row */
};

/* The next run of rows of `w`'s output, as a byte range; 0 once there is none. */
static size_t next_run(struct writer *w, size_t *from) {
    while (w->row < w->n && w->keep[w->row] != w->want) w->at = w->ends[w->row++];
    *from = w->at;
    while (w->row < w->n && w->keep[w->row] == w->want) w->at = w->ends[w->row++];
    return w->at - *from;
}

static void write_all(int fd, struct iovec *iov, int n, const char *path) {
    while (n > 0) {
        ssize_t done = writev(fd, iov, n);
        if (done < 0) die("cannot write", path);
        while (n > 0 && (size_t)done >= iov->iov_len) done -= (ssize_t)iov->iov_len, iov++, n--;
        if (n > 0) iov->iov_base = (char *)iov->iov_base + done, iov->iov_len -= (size_t)done;
    }
}

static void write_bytes(int fd, const void *bytes, size_t len, const char *path) {
    struct iovec one = {(void *)bytes, len};
    write_all(fd, &one, 1, path);
}

static void buffered(struct writer *w, int fd) {
    char *buf = malloc(BUFFER);
    size_t used = 0, from, len;
    write_bytes(fd, w->data, w->header, w->path);
    while ((len = next_run(w, &from)) > 0) {
        if (used + len > BUFFER) write_bytes(fd, buf, used, w->path), used = 0;
        if (len >= BUFFER) write_bytes(fd, w->data + from, len, w->path);
        else memcpy(buf + used, w->data + from, len), used += len;
    }
    write_bytes(fd, buf, used, w->path);
    free(buf);
}

static void gathered(struct writer *w, int fd) {
    struct iovec iov[IOV_BATCH];
    int n = 0;
    size_t from, len;
    iov[n++] = (struct iovec){(void *)w->data, w->header};
    while ((len = next_run(w, &from)) > 0) {
        iov[n++] = (struct iovec){(void *)(w->data + from), len};
        if (n == IOV_BATCH) write_all(fd, iov, n, w->path), n = 0;
    }
    write_all(fd, iov, n, w->path);
}

static void copied_by_the_kernel(struct writer *w, int fd) {
    int in = open(w->input, O_RDONLY);
    if (in < 0) die("cannot open", w->input);
    write_bytes(fd, w->data, w->header, w->path);
    size_t from, len;
    while ((len = next_run(w, &from)) > 0) {
        loff_t at = (loff_t)from;
        while (len > 0) {
            ssize_t done = copy_file_range(in, &at, fd, NULL, len, 0);
            if (done <= 0) die("cannot copy", w->path);
            len -= (size_t)done;
        }
    }
    close(in);
}

static void mapped(struct writer *w, int fd) {
    size_t size = w->header, from, len;
    while ((len = next_run(w, &from)) > 0) size += len;
    w->at = w->header, w->row = 0;
    if (ftruncate(fd, (off_t)size) < 0) die("cannot size", w->path);
    char *out = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (out == MAP_FAILED) die("cannot map", w->path);
    madvise(out, size, MADV_POPULATE_WRITE);
    memcpy(out, w->data, w->header);
    size_t at = w->header;
    while ((len = next_run(w, &from)) > 0) memcpy(out + at, w->data + from, len), at += len;
    munmap(out, size);
}

static void *write_output(void *arg) {
    struct writer *w = arg;
    int fd = open(w->path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("cannot create", w->path);
    switch (w->way) {
    case BUFFERED: buffered(w, fd); break;
    case WRITEV: gathered(w, fd); break;
    case COPY_RANGE: copied_by_the_kernel(w, fd); break;
    case MAPPED: mapped(w, fd); break;
    }
    if (close(fd) < 0) die("cannot close", w->path);
    return NULL;
}

/* The mask of a .npy file of bools: its data after the header. */
static const uint8_t *npy_bools(const char *path, size_t *n) {
    size_t len;
    const char *data = map_file(path, &len);
    if (len < 12 || memcmp(data, "\x93NUMPY", 6) != 0) { errno = EINVAL; die("not a .npy file", path); }
    size_t header = data[6] == 1 ? 10 + (uint8_t)data[8] + 256u * (uint8_t)data[9]
                                 : 12 + (uint8_t)data[8] + 256u * (uint8_t)data[9];
    if (header > len || !memmem(data, header, "'|b1'", 5)) { errno = EINVAL; die("not an array of bools", path); }
    *n = len - header;
    return (const uint8_t *)data + header;
}

int main(int argc, char **argv) {
    enum way way = BUFFERED;
    if (argc == 6 && strcmp(argv[1], "--writev") == 0) way = WRITEV;
    else if (argc == 6 && strcmp(argv[1], "--copy-range") == 0) way = COPY_RANGE;
    else if (argc == 6 && strcmp(argv[1], "--mmap") == 0) way = MAPPED;
    else if (argc != 5) {
        fprintf(stderr, "usage: split_floor [--writev | --copy-range | --mmap] INPUT.star KEEP.npy KEPT REJECTED\n");
        return 2;
    }
    char **paths = argv + argc - 4;
    size_t len, n_keep;
    const char *data = map_file(paths[0], &len);
    const uint8_t *keep = npy_bools(paths[1], &n_keep);
    size_t first = rows_start(data, len);
    /* Two halves, the second starting after a line feed. */
    size_t mid = first + (len - first) / 2;
    const char *nl = memchr(data + mid, '\n', len - mid);
    mid = nl ? (size_t)(nl - data) + 1 : len;
    struct finder halves[2] = {{data, first, mid, NULL, 0}, {data, mid, len, NULL, 0}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, find_rows, &halves[i]);
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    size_t n = halves[0].n + halves[1].n;
    uint64_t *ends = realloc(halves[0].ends, n * sizeof *ends);
    memcpy(ends + halves[0].n, halves[1].ends, halves[1].n * sizeof *ends);
    while (n > 0 && ends[n - 1] - (n > 1 ? ends[n - 2] : first) <= 1) n--; /* blank lines at the end */
    if (n != n_keep) {
        fprintf(stderr, "split_floor: %s holds %zu rows, %s %zu values\n", paths[0], n, paths[1], n_keep);
        return 1;
    }
    struct writer outputs[2] = {
        {data, paths[0], paths[2], first, ends, n, keep, 1, way, first, 0},
        {data, paths[0], paths[3], first, ends, n, keep, 0, way, first, 0},
    };
    for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, write_output, &outputs[i]);
    for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    return 0;
}
