// OpenBLAS's CBLAS interface plus openblas_set_num_threads (declared in cblas.h by OpenBLAS).
#include <cblas.h>
