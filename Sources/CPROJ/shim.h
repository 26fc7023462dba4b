#ifndef LANDSCRIBE_CPROJ_SHIM_H
#define LANDSCRIBE_CPROJ_SHIM_H
#include <geodesic.h>
#endif
