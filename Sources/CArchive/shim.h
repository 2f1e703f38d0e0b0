// libarchive from Debian's libarchive-dev, reached only through this module.
#include <archive.h>
#include <archive_entry.h>
// Extended attributes (not in Swift's Glibc module): archive code reads and writes them with entries.
#include <sys/xattr.h>
