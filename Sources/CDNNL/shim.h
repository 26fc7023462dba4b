#ifndef LANDSCRIBE_CDNNL_SHIM_H
#define LANDSCRIBE_CDNNL_SHIM_H
// oneDNN's C API (Debian: libdnnl-dev, no pkg-config file): dnnl_sgemm and what names the build.
#include <oneapi/dnnl/dnnl.h>
#endif
