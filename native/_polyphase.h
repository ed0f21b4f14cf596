/* The resampler's inner loop, in C so it can be compiled twice: for the
 * x86-64 baseline and for AVX2/FMA machines (x86-64-v3), picked at load time.
 *
 * Each output is one dot product of a table row with the input history, in
 * eight running sums (one vector) combined in a fixed order: no reassociation, so the
 * result of an output never depends on where its input sits in memory. */
#ifndef MEDIASERVER_POLYPHASE_H
#define MEDIASERVER_POLYPHASE_H

#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

/* Eight lanes: one AVX register, or two SSE registers on the baseline. */
typedef float ms_v8 __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MS_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define MS_CLONES
#endif

typedef struct {
    const float *table; /* up rows of `taps` coefficients, oldest input first */
    int taps, up, down_whole, down_frac;
} ms_polyphase;

/* Computes every output whose newest input is before buf[end]; returns the
 * count and advances *pos / *phase. Writes out_f if not NULL, else out_i. */
MS_CLONES
static ptrdiff_t ms_polyphase_run(const ms_polyphase *p, const float *buf, ptrdiff_t end,
                                  ptrdiff_t *pos_io, int *phase_io, float *out_f, int16_t *out_i)
{
    ptrdiff_t pos = *pos_io, count = 0;
    int phase = *phase_io;
    const int taps = p->taps;
    while (pos < end) {
        const float *c = p->table + (ptrdiff_t)phase * taps;
        const float *x = buf + pos - taps + 1;
        ms_v8 a = {0, 0, 0, 0, 0, 0, 0, 0}, cv, xv;
        for (ptrdiff_t k = 0; k < taps; k += 8) {
            memcpy(&cv, c + k, sizeof cv);
            memcpy(&xv, x + k, sizeof xv);
            a += cv * xv;
        }
        float acc = ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7]));
        if (out_f)
            out_f[count] = acc;
        else
            out_i[count] = (int16_t)(acc >= 32767.0f ? 32767 : acc <= -32768.0f ? -32768 : lrintf(acc));
        count++;
        pos += p->down_whole;
        phase += p->down_frac;
        if (phase >= p->up) {
            phase -= p->up;
            pos++;
        }
    }
    *pos_io = pos;
    *phase_io = phase;
    return count;
}

#endif
