#!/usr/bin/python3
"""A stand-in for the systemd user manager's D-Bus API, for SystemdTests only.

The real user manager cannot run on the test machines (PID 1 is not systemd, there is no session bus), so this
serves the few calls idpbuild makes on a private dbus-daemon: the Manager's Version property, StartTransientUnit,
KillUnit, and each unit's ActiveState and ControlGroup. Every call is appended as a JSON line to the file named by
its first argument. Behaviours the tests need: a unit whose name contains "fails" ends up "failed"; a MemoryMax of
exactly 7 MiB is refused with InvalidArgs, as a manager refuses a value it cannot apply.
Uses Debian's python3-gi (GLib's GDBus) with /usr/bin/python3.
"""
import json
import sys

from gi.repository import Gio, GLib

LOG = open(sys.argv[1], "a", buffering=1)
INTROSPECTION = """
<node>
  <interface name="org.freedesktop.systemd1.Manager">
    <property name="Version" type="s" access="read"/>
    <method name="StartTransientUnit">
      <arg name="name" type="s" direction="in"/><arg name="mode" type="s" direction="in"/>
      <arg name="properties" type="a(sv)" direction="in"/><arg name="aux" type="a(sa(sv))" direction="in"/>
      <arg name="job" type="o" direction="out"/>
    </method>
    <method name="KillUnit">
      <arg name="name" type="s" direction="in"/><arg name="whom" type="s" direction="in"/>
      <arg name="signal" type="i" direction="in"/>
    </method>
  </interface>
  <interface name="org.freedesktop.systemd1.Unit">
    <property name="ActiveState" type="s" access="read"/>
  </interface>
  <interface name="org.freedesktop.systemd1.Scope">
    <property name="ControlGroup" type="s" access="read"/>
  </interface>
</node>
"""
NODE = Gio.DBusNodeInfo.new_for_xml(INTROSPECTION)
UNITS = {}  # unit name -> state
connection = None


def escape(name):
    # sd_bus_path_encode: every byte outside [A-Za-z0-9] becomes _XX.
    return "".join(c if c.isalnum() else "_%02x" % ord(c) for c in name)


def log(entry):
    LOG.write(json.dumps(entry) + "\n")


def manager_call(conn, sender, path, interface, method, params, invocation):
    args = params.unpack()
    if method == "StartTransientUnit":
        name, mode, properties, aux = args
        props = {key: value for key, value in properties}
        log({"call": method, "name": name, "mode": mode, "properties": props, "aux": len(aux)})
        if props.get("MemoryMax") == 7 << 20:
            invocation.return_dbus_error("org.freedesktop.DBus.Error.InvalidArgs", "Invalid MemoryMax value for this scope")
            return
        UNITS[name] = "failed" if "fails" in name else "active"
        register_unit(name)
        invocation.return_value(GLib.Variant("(o)", ("/org/freedesktop/systemd1/job/1",)))
    elif method == "KillUnit":
        name, whom, signal = args
        log({"call": method, "name": name, "whom": whom, "signal": signal})
        if name not in UNITS:
            invocation.return_dbus_error("org.freedesktop.systemd1.NoSuchUnit", "Unit %s not loaded." % name)
            return
        invocation.return_value(None)


def manager_property(conn, sender, path, interface, name):
    return GLib.Variant("s", "252 (fake for idpbuild tests)")


def register_unit(name):
    path = "/org/freedesktop/systemd1/unit/" + escape(name)

    def get(conn, sender, object_path, interface, prop):
        if prop == "ActiveState":
            return GLib.Variant("s", UNITS.get(name, "inactive"))
        return GLib.Variant("s", "/user.slice/user-0.slice/user@0.service/" + name)

    for interface in NODE.interfaces[1:]:
        connection.register_object(path, interface, None, get, None)


def on_bus(conn, name):
    global connection
    connection = conn
    conn.register_object("/org/freedesktop/systemd1", NODE.interfaces[0], manager_call, manager_property, None)


def on_name(conn, name):
    log({"ready": name})


Gio.bus_own_name(Gio.BusType.SESSION, "org.freedesktop.systemd1", Gio.BusNameOwnerFlags.NONE, on_bus, on_name, None)
GLib.MainLoop().run()
