/* Placeholder: being written. */
#include "monitor/monitor-internal.h"
