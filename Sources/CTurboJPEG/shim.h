// libjpeg-turbo's TurboJPEG API (apt: libturbojpeg0-dev): JPEG header and decode to gray or RGB.
#include <turbojpeg.h>
