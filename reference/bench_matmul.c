/* Single-precision GEMM throughput of the BLAS libraries Debian ships, and the machine's FMA peak,
 * for reference/bench_matmul.py (which runs candle's gemm beside it and prints the comparison).
 *
 * Usage: bench_matmul THREADS REPEATS M,N,K:XY ...   C (M, N) = op(A) op(B) with K inner; X says
 * how A is stored (N: (M, K); T: (K, M)), Y how B is (N: (K, N); T: (N, K)). A forward x W^T is
 * NT, the input gradient dY W is NN, the weight gradient dY^T X is TN. Prints one JSON line per
 * library and shape, then the FMA peak.
 * Libraries are opened with dlopen, so a missing one is reported and skipped:
 *   libopenblas.so.0 (libopenblas0-pthread), libblis.so.4 (libblis4-pthread), libdnnl.so.2 (libdnnl2).
 * Build: gcc -O2 -march=native -o bench_matmul reference/bench_matmul.c -ldl -lpthread
 */
#include <dlfcn.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef void (*cblas_sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                               float *, int);
typedef int (*dnnl_sgemm_fn)(char, char, long, long, long, float, const float *, long, const float *, long, float,
                             float *, long);
enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* FMA peak: 12 independent accumulator chains, named one by one so they stay in registers, and
 * the FMA units never wait on a result (4-cycle latency, 2 units). */
#ifdef __AVX512F__
typedef __m512 vec;
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define STORE _mm512_storeu_ps
#define LANES 16
#else
typedef __m256 vec;
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
#define STORE _mm256_storeu_ps
#define LANES 8
#endif
#define CHAINS 12
static void *fma_loop(void *arg) {
  long iters = *(long *)arg;
  vec x = SET1(1.0000001f), y = SET1(0.9999999f);
  vec a0 = SET1(0), a1 = SET1(1), a2 = SET1(2), a3 = SET1(3), a4 = SET1(4), a5 = SET1(5);
  vec a6 = SET1(6), a7 = SET1(7), a8 = SET1(8), a9 = SET1(9), a10 = SET1(10), a11 = SET1(11);
  for (long i = 0; i < iters; i++) {
    a0 = FMA(a0, x, y); a1 = FMA(a1, x, y); a2 = FMA(a2, x, y); a3 = FMA(a3, x, y);
    a4 = FMA(a4, x, y); a5 = FMA(a5, x, y); a6 = FMA(a6, x, y); a7 = FMA(a7, x, y);
    a8 = FMA(a8, x, y); a9 = FMA(a9, x, y); a10 = FMA(a10, x, y); a11 = FMA(a11, x, y);
  }
  vec sum = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));
  sum = ADD(sum, ADD(ADD(a8, a9), ADD(a10, a11)));
  float out[LANES];
  STORE(out, sum);
  /* Returned so the compiler cannot drop the loop. */
  return (void *)(long)out[0];
}

static double fma_peak(int threads) {
  const double flops_per_fma = 2 * LANES;
  long iters = 20000000;
  double best = 0;
  for (int rep = 0; rep < 5; rep++) {
    pthread_t t[64];
    double start = now();
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, fma_loop, &iters);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    double gflops = threads * (double)iters * CHAINS * flops_per_fma / (now() - start) / 1e9;
    if (gflops > best) best = gflops;
  }
  return best;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s THREADS REPEATS M,N,K[:T] ...\n", argv[0]);
    return 2;
  }
  int threads = atoi(argv[1]), repeats = atoi(argv[2]);
  const char *libs[] = {"libopenblas.so.0", "libblis.so.4", "libdnnl.so.2"};
  const char *names[] = {"openblas", "blis", "onednn"};
  for (int l = 0; l < 3; l++) {
    void *h = dlopen(libs[l], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      printf("{\"library\": \"%s\", \"missing\": \"%s\"}\n", names[l], libs[l]);
      continue;
    }
    cblas_sgemm_fn cblas = (cblas_sgemm_fn)dlsym(h, "cblas_sgemm");
    dnnl_sgemm_fn dnnl = (dnnl_sgemm_fn)dlsym(h, "dnnl_sgemm");
    void (*set_openblas)(int) = (void (*)(int))dlsym(h, "openblas_set_num_threads");
    void (*set_blis)(long) = (void (*)(long))dlsym(h, "bli_thread_set_num_threads");
    if (set_openblas) set_openblas(threads);
    if (set_blis) set_blis(threads);
    /* oneDNN's CPU runtime is OpenMP: OMP_NUM_THREADS, set by the driver. */
    for (int s = 3; s < argc; s++) {
      int m, n, k;
      char ta = 'N', tb = 'T';
      if (sscanf(argv[s], "%d,%d,%d:%c%c", &m, &n, &k, &ta, &tb) < 3) return 2;
      float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n), *c = malloc(sizeof(float) * m * n);
      for (long i = 0; i < (long)m * k; i++) a[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
      for (long i = 0; i < (long)k * n; i++) b[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
      int lda = ta == 'T' ? m : k, ldb = tb == 'T' ? k : n;
      double times[64];
      for (int r = 0; r <= repeats && r < 64; r++) {
        double start = now();
        if (cblas)
          cblas(ROW_MAJOR, ta == 'T' ? TRANS : NO_TRANS, tb == 'T' ? TRANS : NO_TRANS, m, n, k, 1.0f, a, lda, b, ldb,
                0.0f, c, n);
        else
          dnnl(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
        if (r > 0) times[r - 1] = now() - start; /* the first call warms up */
      }
      qsort(times, repeats, sizeof(double), cmp);
      double median = times[repeats / 2];
      printf("{\"library\": \"%s\", \"shape\": \"%s\", \"median_s\": %.6f, \"gflops\": %.2f}\n", names[l], argv[s],
             median, 2.0 * m * n * k / median / 1e9);
      fflush(stdout);
      free(a);
      free(b);
      free(c);
    }
  }
  printf("{\"fma_peak_gflops\": %.2f, \"threads\": %d}\n", fma_peak(threads), threads);
  return 0;
}
