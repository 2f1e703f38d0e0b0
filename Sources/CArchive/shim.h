// libarchive from Debian's libarchive-dev, reached only through this module.
#include <archive.h>
#include <archive_entry.h>
