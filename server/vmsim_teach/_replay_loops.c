/* The reference-string loops of replay_fast.py in C, built by setuptools at install time.
 *
 * Each function reads a C-contiguous int64 buffer of page numbers (checked against nr_pages
 * before anything is indexed) and writes into int64 buffers the caller allocated, so no
 * numpy headers are needed: the buffer protocol is enough. The GIL is released while a
 * loop runs (the server computes miss-ratio curves in worker threads).
 *
 * The algorithms are replay_fast.py's, which documents them; the Python policies
 * (vmsim_kernel/mm/policies.py) remain the reference, and the tests compare all paths.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MT_N 624
#define MT_M 397
#define KEY_BITS 21 /* OPT heap keys: next use << 21 | (2**21 - 1 - page) */
#define NOT_SIMPLE (-1)

/* ---- argument checking ---------------------------------------------------------------------- */

/* The trace as n int64 pages, every one in 0 .. nr_pages - 1; 0 on success, -1 with an error. */
static int
check_pages(Py_buffer *pages, Py_ssize_t nr_pages, Py_ssize_t *n)
{
    if (pages->len % (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError, "pages must be an int64 buffer");
        return -1;
    }
    if (nr_pages < 1) {
        PyErr_SetString(PyExc_ValueError, "nr_pages must be >= 1");
        return -1;
    }
    *n = pages->len / (Py_ssize_t)sizeof(int64_t);
    const int64_t *values = (const int64_t *)pages->buf;
    for (Py_ssize_t i = 0; i < *n; i++) {
        if (values[i] < 0 || values[i] >= nr_pages) {
            PyErr_Format(PyExc_ValueError, "page %lld at %zd is outside 0 .. %zd",
                         (long long)values[i], i, nr_pages - 1);
            return -1;
        }
    }
    return 0;
}

/* An output buffer that holds at least n int64 values. */
static int
check_output(Py_buffer *out, Py_ssize_t n, const char *name)
{
    if (out->len < n * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_Format(PyExc_ValueError, "%s must hold at least %zd int64 values", name, n);
        return -1;
    }
    return 0;
}

/* Buffers of the loops that produce fault positions and victims. */
typedef struct {
    Py_buffer pages, faults_at, victims;
    Py_ssize_t n;
} Outcome;

static void
release(Outcome *o)
{
    PyBuffer_Release(&o->pages);
    PyBuffer_Release(&o->faults_at);
    PyBuffer_Release(&o->victims);
}

static int
check_outcome(Outcome *o, Py_ssize_t frames, Py_ssize_t nr_pages)
{
    if (frames < 1) {
        PyErr_SetString(PyExc_ValueError, "frames must be >= 1");
        return -1;
    }
    if (check_pages(&o->pages, nr_pages, &o->n) < 0 ||
        check_output(&o->faults_at, o->n, "faults_at") < 0 ||
        check_output(&o->victims, o->n, "victims") < 0)
        return -1;
    return 0;
}

/* ---- LRU and MRU: a doubly linked list over page numbers, head the coldest, tail the hottest */

static int
recency_loop(const int64_t *pages, Py_ssize_t n, Py_ssize_t frames, Py_ssize_t nr_pages,
             int hottest_first, int64_t *faults_at, int64_t *victims, Py_ssize_t *nr_faults,
             Py_ssize_t *nr_victims)
{
    int64_t *previous = malloc(nr_pages * sizeof(int64_t));
    int64_t *following = malloc(nr_pages * sizeof(int64_t));
    char *resident = calloc(nr_pages, 1);
    if (!previous || !following || !resident) {
        free(previous), free(following), free(resident);
        return -1;
    }
    int64_t head = -1, tail = -1;
    Py_ssize_t count = 0, faults = 0, evicted = 0;
    for (Py_ssize_t position = 0; position < n; position++) {
        int64_t page = pages[position];
        if (resident[page]) {
            if (page == tail)
                continue;
            int64_t before = previous[page], after = following[page];
            if (before >= 0)
                following[before] = after;
            else
                head = after;
            previous[after] = before; /* page is not the tail: after exists */
        } else {
            faults_at[faults++] = position;
            if (count >= frames && hottest_first) { /* MRU: the tail goes */
                int64_t victim = tail;
                tail = previous[victim];
                if (tail >= 0)
                    following[tail] = -1;
                else
                    head = -1;
                resident[victim] = 0;
                count--;
                victims[evicted++] = victim;
            } else if (count >= frames) { /* LRU: the head goes */
                int64_t victim = head;
                head = following[victim];
                if (head >= 0)
                    previous[head] = -1;
                else
                    tail = -1;
                resident[victim] = 0;
                count--;
                victims[evicted++] = victim;
            }
            resident[page] = 1;
            count++;
        }
        previous[page] = tail;
        following[page] = -1;
        if (tail >= 0)
            following[tail] = page;
        else
            head = page;
        tail = page;
    }
    free(previous), free(following), free(resident);
    *nr_faults = faults, *nr_victims = evicted;
    return 0;
}

/* A loop of (pages, frames, nr_pages) -> fault positions and victims; *variant* picks one of
 * the two policies it runs (LRU or MRU, FIFO or CLOCK, OPT or its inverse). */
typedef int (*OutcomeLoop)(const int64_t *, Py_ssize_t, Py_ssize_t, Py_ssize_t, int, int64_t *,
                           int64_t *, Py_ssize_t *, Py_ssize_t *);

/* The parsed (pages, frames, nr_pages, faults_at, victims) -> (nr_faults, nr_victims) through
 * *loop*, for page numbers up to *largest_nr_pages*; releases the buffers. */
static PyObject *
finish_outcome_loop(Outcome *o, Py_ssize_t frames, Py_ssize_t nr_pages, OutcomeLoop loop,
                    int variant, Py_ssize_t largest_nr_pages)
{
    Py_ssize_t nr_faults = 0, nr_victims = 0;
    int failed = check_outcome(o, frames, nr_pages);
    if (!failed && nr_pages > largest_nr_pages) {
        PyErr_Format(PyExc_ValueError, "nr_pages must be at most %zd", largest_nr_pages);
        failed = 1;
    }
    if (!failed) {
        Py_BEGIN_ALLOW_THREADS
        failed = loop(o->pages.buf, o->n, frames, nr_pages, variant, o->faults_at.buf,
                      o->victims.buf, &nr_faults, &nr_victims);
        Py_END_ALLOW_THREADS
        if (failed)
            PyErr_NoMemory();
    }
    release(o);
    return failed ? NULL : Py_BuildValue("nn", nr_faults, nr_victims);
}

/* (pages, frames, nr_pages, faults_at, victims) through *loop* as *variant*. */
static PyObject *
run_outcome_loop(PyObject *args, OutcomeLoop loop, int variant, Py_ssize_t largest_nr_pages)
{
    Outcome o;
    Py_ssize_t frames, nr_pages;
    if (!PyArg_ParseTuple(args, "y*nnw*w*", &o.pages, &frames, &nr_pages, &o.faults_at,
                          &o.victims))
        return NULL;
    return finish_outcome_loop(&o, frames, nr_pages, loop, variant, largest_nr_pages);
}

static PyObject *
lru(PyObject *Py_UNUSED(self), PyObject *args)
{
    return run_outcome_loop(args, recency_loop, 0, PY_SSIZE_T_MAX);
}

static PyObject *
mru(PyObject *Py_UNUSED(self), PyObject *args)
{
    return run_outcome_loop(args, recency_loop, 1, PY_SSIZE_T_MAX);
}

/* ---- FIFO, and CLOCK with second_chance: a ring with the hand at its front ----------------- */

static int
ring_loop(const int64_t *pages, Py_ssize_t n, Py_ssize_t frames, Py_ssize_t nr_pages,
          int second_chance, int64_t *faults_at, int64_t *victims, Py_ssize_t *nr_faults,
          Py_ssize_t *nr_victims)
{
    char *resident = calloc(nr_pages, 1);
    char *referenced = calloc(nr_pages, 1);
    int64_t *ring = malloc(frames * sizeof(int64_t));
    if (!resident || !referenced || !ring) {
        free(resident), free(referenced), free(ring);
        return -1;
    }
    Py_ssize_t head = 0, count = 0, faults = 0, evicted = 0;
    for (Py_ssize_t position = 0; position < n; position++) {
        int64_t page = pages[position];
        if (!resident[page]) {
            faults_at[faults++] = position;
            if (count >= frames) {
                int64_t candidate;
                for (;;) {
                    candidate = ring[head];
                    head = (head + 1) % frames;
                    if (!referenced[candidate])
                        break;
                    referenced[candidate] = 0; /* a second chance: to the back */
                    ring[(head + count - 1) % frames] = candidate;
                }
                count--;
                resident[candidate] = 0;
                victims[evicted++] = candidate;
            }
            ring[(head + count) % frames] = page;
            count++;
            resident[page] = 1;
        }
        if (second_chance)
            referenced[page] = 1;
    }
    free(resident), free(referenced), free(ring);
    *nr_faults = faults, *nr_victims = evicted;
    return 0;
}

static PyObject *
ring(PyObject *Py_UNUSED(self), PyObject *args)
{
    Outcome o;
    Py_ssize_t frames, nr_pages;
    int second_chance;
    if (!PyArg_ParseTuple(args, "y*nnpw*w*", &o.pages, &frames, &nr_pages, &second_chance,
                          &o.faults_at, &o.victims))
        return NULL;
    return finish_outcome_loop(&o, frames, nr_pages, ring_loop, second_chance, PY_SSIZE_T_MAX);
}

/* ---- RANDOM: RandomPolicy's list of keys, victims drawn as random.Random.randrange ---------- */

typedef struct {
    uint32_t state[MT_N];
    int cursor;
} Mersenne;

/* genrand_uint32 of CPython's Modules/_randommodule.c */
static uint32_t
mt_next(Mersenne *mt)
{
    if (mt->cursor >= MT_N) {
        for (int k = 0; k < MT_N; k++) {
            uint32_t y = (mt->state[k] & 0x80000000u) | (mt->state[(k + 1) % MT_N] & 0x7FFFFFFFu);
            uint32_t value = mt->state[(k + MT_M) % MT_N] ^ (y >> 1);
            if (y & 1u)
                value ^= 0x9908B0DFu;
            mt->state[k] = value;
        }
        mt->cursor = 0;
    }
    uint32_t y = mt->state[mt->cursor++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9D2C5680u;
    y ^= (y << 15) & 0xEFC60000u;
    y ^= y >> 18;
    return y;
}

/* random.Random.randrange(n) for 1 <= n < 2**32: getrandbits(n.bit_length()) until below n */
static uint32_t
randbelow(Mersenne *mt, uint32_t n)
{
    int bits = 0;
    while (bits < 32 && ((uint64_t)1 << bits) <= n)
        bits++;
    uint32_t value = mt_next(mt) >> (32 - bits);
    while (value >= n)
        value = mt_next(mt) >> (32 - bits);
    return value;
}

static int
random_loop(const int64_t *pages, Py_ssize_t n, Py_ssize_t frames, Py_ssize_t nr_pages,
            Mersenne *mt, int64_t *faults_at, int64_t *victims, Py_ssize_t *nr_faults,
            Py_ssize_t *nr_victims)
{
    int64_t *index = malloc(nr_pages * sizeof(int64_t));
    int64_t *keys = malloc((frames + 1) * sizeof(int64_t));
    if (!index || !keys) {
        free(index), free(keys);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nr_pages; i++)
        index[i] = -1;
    Py_ssize_t count = 0, faults = 0, evicted = 0;
    for (Py_ssize_t position = 0; position < n; position++) {
        int64_t page = pages[position];
        if (index[page] >= 0)
            continue;
        faults_at[faults++] = position;
        if (count >= frames) {
            int64_t victim = keys[randbelow(mt, (uint32_t)count)];
            int64_t slot = index[victim];
            index[victim] = -1;
            count--;
            int64_t last = keys[count];
            if (last != victim) { /* swap-with-last removal, as RandomPolicy */
                keys[slot] = last;
                index[last] = slot;
            }
            victims[evicted++] = victim;
        }
        index[page] = count;
        keys[count++] = page;
    }
    free(index), free(keys);
    *nr_faults = faults, *nr_victims = evicted;
    return 0;
}

static PyObject *
random_replay(PyObject *Py_UNUSED(self), PyObject *args)
{
    Outcome o;
    Py_buffer state;
    Py_ssize_t frames, nr_pages, cursor, nr_faults = 0, nr_victims = 0;
    if (!PyArg_ParseTuple(args, "y*nny*nw*w*", &o.pages, &frames, &nr_pages, &state, &cursor,
                          &o.faults_at, &o.victims))
        return NULL;
    Mersenne mt;
    int failed = check_outcome(&o, frames, nr_pages);
    if (!failed && (state.len != MT_N * (Py_ssize_t)sizeof(int64_t) || cursor < 0 ||
                    cursor > MT_N || frames >= ((Py_ssize_t)1 << 32))) {
        PyErr_SetString(PyExc_ValueError,
                        "state must be 624 int64 words, cursor 0 .. 624, frames below 2**32");
        failed = 1;
    }
    if (!failed) {
        const int64_t *words = state.buf;
        for (int k = 0; k < MT_N; k++)
            mt.state[k] = (uint32_t)words[k];
        mt.cursor = (int)cursor;
        Py_BEGIN_ALLOW_THREADS
        failed = random_loop(o.pages.buf, o.n, frames, nr_pages, &mt, o.faults_at.buf,
                             o.victims.buf, &nr_faults, &nr_victims);
        Py_END_ALLOW_THREADS
        if (failed)
            PyErr_NoMemory();
    }
    PyBuffer_Release(&state);
    release(&o);
    return failed ? NULL : Py_BuildValue("nn", nr_faults, nr_victims);
}

/* A draw of randbelow for the check that this build matches random.Random (tests). */
static PyObject *
random_draws(PyObject *Py_UNUSED(self), PyObject *args)
{
    Py_buffer state, bounds, out;
    Py_ssize_t cursor;
    if (!PyArg_ParseTuple(args, "y*ny*w*", &state, &cursor, &bounds, &out))
        return NULL;
    Py_ssize_t n = bounds.len / (Py_ssize_t)sizeof(int64_t);
    int failed = state.len != MT_N * (Py_ssize_t)sizeof(int64_t) || cursor < 0 ||
                 cursor > MT_N || out.len < n * (Py_ssize_t)sizeof(int64_t);
    const int64_t *limits = bounds.buf;
    for (Py_ssize_t i = 0; !failed && i < n; i++)
        failed = limits[i] < 1 || limits[i] >= ((int64_t)1 << 32);
    if (failed) {
        PyErr_SetString(PyExc_ValueError, "state of 624 words, bounds in 1 .. 2**32 - 1");
    } else {
        Mersenne mt;
        const int64_t *words = state.buf;
        for (int k = 0; k < MT_N; k++)
            mt.state[k] = (uint32_t)words[k];
        mt.cursor = (int)cursor;
        int64_t *draws = out.buf;
        for (Py_ssize_t i = 0; i < n; i++)
            draws[i] = randbelow(&mt, (uint32_t)limits[i]);
    }
    PyBuffer_Release(&state), PyBuffer_Release(&bounds), PyBuffer_Release(&out);
    return failed ? NULL : Py_NewRef(Py_None);
}

/* ---- OPT (Belady): the resident page used furthest ahead goes, ties to the smallest page;
 * UNOPT (soonest): the page used soonest goes (never again: last), ties to the smallest page.
 * One max-heap of keys: OPT's next use << 21 | (2**21 - 1 - page), UNOPT's the complement of
 * next use << 21 | page, so that the largest key is the victim either way. */

static inline int64_t
heap_key(int64_t next_use, int64_t page, int soonest, int64_t key_mask)
{
    return soonest ? ~((next_use << KEY_BITS) | page) : (next_use << KEY_BITS) | (key_mask - page);
}

static int
belady_loop(const int64_t *pages, Py_ssize_t n, Py_ssize_t frames, Py_ssize_t nr_pages,
            int soonest, int64_t *faults_at, int64_t *victims, Py_ssize_t *nr_faults,
            Py_ssize_t *nr_victims)
{
    const int64_t never = n; /* beyond every position, like OptPolicy.NEVER */
    const int64_t key_mask = ((int64_t)1 << KEY_BITS) - 1;
    int64_t *next_use = malloc((n + 1) * sizeof(int64_t));
    int64_t *seen = malloc(nr_pages * sizeof(int64_t));
    int64_t *resident_next = malloc(nr_pages * sizeof(int64_t));
    int64_t *heap = malloc((n + 1) * sizeof(int64_t));
    if (!next_use || !seen || !resident_next || !heap) {
        free(next_use), free(seen), free(resident_next), free(heap);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nr_pages; i++)
        seen[i] = never, resident_next[i] = -1;
    for (Py_ssize_t position = n - 1; position >= 0; position--) {
        next_use[position] = seen[pages[position]];
        seen[pages[position]] = position;
    }
    Py_ssize_t size = 0, count = 0, faults = 0, evicted = 0;
    for (Py_ssize_t position = 0; position < n; position++) {
        int64_t page = pages[position];
        if (resident_next[page] < 0) {
            faults_at[faults++] = position;
            if (count >= frames) {
                int64_t victim;
                for (;;) { /* pop the largest key, skipping stale entries */
                    int64_t top = heap[0];
                    int64_t last = heap[--size];
                    Py_ssize_t hole = 0;
                    for (;;) {
                        Py_ssize_t child = 2 * hole + 1;
                        if (child >= size)
                            break;
                        if (child + 1 < size && heap[child + 1] > heap[child])
                            child++;
                        if (heap[child] <= last)
                            break;
                        heap[hole] = heap[child];
                        hole = child;
                    }
                    if (size > 0)
                        heap[hole] = last;
                    int64_t plain = soonest ? ~top : top;
                    victim = soonest ? (plain & key_mask) : key_mask - (plain & key_mask);
                    if (resident_next[victim] == (plain >> KEY_BITS))
                        break;
                }
                resident_next[victim] = -1;
                count--;
                victims[evicted++] = victim;
            }
            count++;
        }
        resident_next[page] = next_use[position];
        int64_t key = heap_key(next_use[position], page, soonest, key_mask);
        Py_ssize_t hole = size++;
        while (hole > 0) {
            Py_ssize_t parent = (hole - 1) / 2;
            if (heap[parent] >= key)
                break;
            heap[hole] = heap[parent];
            hole = parent;
        }
        heap[hole] = key;
    }
    free(next_use), free(seen), free(resident_next), free(heap);
    *nr_faults = faults, *nr_victims = evicted;
    return 0;
}

static PyObject *
opt(PyObject *Py_UNUSED(self), PyObject *args)
{
    return run_outcome_loop(args, belady_loop, 0, (Py_ssize_t)1 << KEY_BITS); /* pages fit a key */
}

static PyObject *
unopt(PyObject *Py_UNUSED(self), PyObject *args)
{
    return run_outcome_loop(args, belady_loop, 1, (Py_ssize_t)1 << KEY_BITS);
}

/* ---- the LRU miss-ratio curve: Mattson's stack distances with a Fenwick tree --------------- */

static int
stack_distance_loop(const int64_t *pages, Py_ssize_t n, Py_ssize_t nr_pages, int64_t *misses,
                    Py_ssize_t *nr_distinct)
{
    int64_t *last = malloc(nr_pages * sizeof(int64_t));
    int64_t *tree = calloc(n + 1, sizeof(int64_t));      /* over positions 1..n */
    int64_t *histogram = calloc(n + 2, sizeof(int64_t)); /* reuses by stack distance */
    if (!last || !tree || !histogram) {
        free(last), free(tree), free(histogram);
        return -1;
    }
    for (Py_ssize_t i = 0; i < nr_pages; i++)
        last[i] = -1;
    Py_ssize_t distinct = 0;
    for (Py_ssize_t position = 0; position < n; position++) {
        int64_t page = pages[position];
        int64_t before = last[page];
        if (before >= 0) {
            /* distinct pages used strictly between the two uses: their last uses lie there */
            int64_t inside = 0;
            for (Py_ssize_t index = position; index > 0; index -= index & -index)
                inside += tree[index];
            for (Py_ssize_t index = before + 1; index > 0; index -= index & -index)
                inside -= tree[index];
            histogram[inside + 1]++;
            for (Py_ssize_t index = before + 1; index <= n; index += index & -index)
                tree[index]--;
        } else {
            distinct++;
        }
        for (Py_ssize_t index = position + 1; index <= n; index += index & -index)
            tree[index]++;
        last[page] = position;
    }
    int64_t hits = 0;
    for (Py_ssize_t frames = 1; frames <= distinct; frames++) {
        hits += histogram[frames];
        misses[frames - 1] = n - hits;
    }
    free(last), free(tree), free(histogram);
    *nr_distinct = distinct;
    return 0;
}

static PyObject *
stack_distance_misses(PyObject *Py_UNUSED(self), PyObject *args)
{
    Py_buffer pages, misses;
    Py_ssize_t nr_pages, n = 0, distinct = 0;
    if (!PyArg_ParseTuple(args, "y*nw*", &pages, &nr_pages, &misses))
        return NULL;
    int failed = check_pages(&pages, nr_pages, &n) < 0 || check_output(&misses, n, "misses") < 0;
    if (!failed) {
        Py_BEGIN_ALLOW_THREADS
        failed = stack_distance_loop(pages.buf, n, nr_pages, misses.buf, &distinct);
        Py_END_ALLOW_THREADS
        if (failed)
            PyErr_NoMemory();
    }
    PyBuffer_Release(&pages), PyBuffer_Release(&misses);
    return failed ? NULL : PyLong_FromSsize_t(distinct);
}

/* ---- the trace parser: decimal and 0x-hex tokens, whitespace or commas, '#' comments ------- */

static int
is_separator(unsigned char byte)
{
    return byte == ' ' || byte == '\t' || byte == '\n' || byte == '\r' || byte == ',';
}

/* The number of values read, or NOT_SIMPLE for anything else (Python's parser then explains):
 * other bases, signs, underscores, leading zeros, numbers of more than 18 digits, odd bytes. */
static Py_ssize_t
parse_loop(const unsigned char *data, Py_ssize_t size, int64_t *values)
{
    Py_ssize_t count = 0, position = 0;
    while (position < size) {
        unsigned char byte = data[position];
        if (is_separator(byte)) {
            position++;
            continue;
        }
        if (byte == '#') { /* to the end of the line */
            while (position < size && data[position] != '\n' && data[position] != '\r')
                position++;
            continue;
        }
        Py_ssize_t start = position;
        while (position < size && !is_separator(data[position]) && data[position] != '#')
            position++;
        Py_ssize_t length = position - start;
        int64_t value = 0;
        if (length > 2 && data[start] == '0' && (data[start + 1] == 'x' || data[start + 1] == 'X')) {
            if (length > 17)
                return NOT_SIMPLE;
            for (Py_ssize_t offset = start + 2; offset < position; offset++) {
                unsigned char digit = data[offset];
                if (digit >= '0' && digit <= '9')
                    value = value * 16 + (digit - '0');
                else if (digit >= 'a' && digit <= 'f')
                    value = value * 16 + (digit - 'a' + 10);
                else if (digit >= 'A' && digit <= 'F')
                    value = value * 16 + (digit - 'A' + 10);
                else
                    return NOT_SIMPLE;
            }
        } else {
            if (length > 18 || (length > 1 && data[start] == '0'))
                return NOT_SIMPLE;
            for (Py_ssize_t offset = start; offset < position; offset++) {
                unsigned char digit = data[offset];
                if (digit < '0' || digit > '9')
                    return NOT_SIMPLE;
                value = value * 10 + (digit - '0');
            }
        }
        values[count++] = value;
    }
    return count;
}

static PyObject *
parse(PyObject *Py_UNUSED(self), PyObject *args)
{
    Py_buffer data, values;
    if (!PyArg_ParseTuple(args, "y*w*", &data, &values))
        return NULL;
    Py_ssize_t count = NOT_SIMPLE;
    int failed = check_output(&values, data.len / 2 + 1, "values") < 0;
    if (!failed) {
        Py_BEGIN_ALLOW_THREADS
        count = parse_loop(data.buf, data.len, values.buf);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&data), PyBuffer_Release(&values);
    return failed ? NULL : PyLong_FromSsize_t(count);
}

/* ---- the module ------------------------------------------------------------------------------ */

static PyMethodDef methods[] = {
    {"lru", lru, METH_VARARGS,
     "lru(pages, frames, nr_pages, faults_at, victims) -> (nr_faults, nr_victims)"},
    {"ring", ring, METH_VARARGS,
     "ring(pages, frames, nr_pages, second_chance, faults_at, victims): FIFO, or CLOCK"},
    {"random", random_replay, METH_VARARGS,
     "random(pages, frames, nr_pages, mt_state, mt_cursor, faults_at, victims)"},
    {"random_draws", random_draws, METH_VARARGS,
     "random_draws(mt_state, mt_cursor, bounds, out): randrange(bound) for each bound"},
    {"mru", mru, METH_VARARGS, "mru(pages, frames, nr_pages, faults_at, victims)"},
    {"opt", opt, METH_VARARGS, "opt(pages, frames, nr_pages, faults_at, victims)"},
    {"unopt", unopt, METH_VARARGS, "unopt(pages, frames, nr_pages, faults_at, victims)"},
    {"stack_distance_misses", stack_distance_misses, METH_VARARGS,
     "stack_distance_misses(pages, nr_pages, misses) -> distinct pages"},
    {"parse", parse, METH_VARARGS, "parse(data, values) -> count, or -1: Python must parse"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_replay_loops",
    .m_doc = "The reference-string loops of replay_fast.py in C (int64 buffers in and out).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__replay_loops(void)
{
    return PyModule_Create(&module);
}
