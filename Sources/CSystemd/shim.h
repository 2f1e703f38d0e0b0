// libsystemd from Debian's libsystemd-dev, reached only through this module (imported by Systemd alone).
// The location macros would stamp this header's file and line on every journal entry: the callers set CODE_FILE and
// CODE_LINE themselves (the Dockerfile instruction's), so the plain functions are used.
#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <systemd/sd-bus.h>
