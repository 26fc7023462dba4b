#ifndef LANDSCRIBE_CCAIRO_SHIM_H
#define LANDSCRIBE_CCAIRO_SHIM_H
#include <cairo.h>
#endif
