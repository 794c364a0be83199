// libarchive (apt: libarchive-dev): reads the datasets' .tar.gz archives.
#include <archive.h>
#include <archive_entry.h>
