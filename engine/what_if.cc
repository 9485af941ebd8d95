#include "engine/what_if.h"
