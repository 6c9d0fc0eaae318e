/* Placeholder: being written. */
#include "lemu/util/json.h"
