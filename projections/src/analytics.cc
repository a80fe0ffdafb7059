// placeholder: being written
#include "projections/projections.h"
