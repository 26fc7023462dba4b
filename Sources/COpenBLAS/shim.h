#ifndef LANDSCRIBE_COPENBLAS_SHIM_H
#define LANDSCRIBE_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
