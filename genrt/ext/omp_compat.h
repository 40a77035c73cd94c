/* OpenMP queries that also compile without OpenMP (the serial build). */
#ifndef GENRT_OMP_COMPAT_H
#define GENRT_OMP_COMPAT_H

#ifdef _OPENMP
#include <omp.h>
static int genrt_openmp_enabled(void) { return 1; }
static int genrt_openmp_max_threads(void) { return omp_get_max_threads(); }
#else
static int genrt_openmp_enabled(void) { return 0; }
static int genrt_openmp_max_threads(void) { return 1; }
#endif

#endif
