// libpng (apt: libpng-dev): its simplified read API decodes any PNG to 8-bit gray or RGB.
#include <png.h>
