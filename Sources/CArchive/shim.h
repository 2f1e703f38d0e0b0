// libarchive from Debian's libarchive-dev, reached only through this module.
#include <archive.h>
#include <archive_entry.h>
// setxattr for overlay opaque whiteouts written next to unpacked layers (not exported by Glibc's Swift module).
#include <sys/xattr.h>
