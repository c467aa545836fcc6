# Attack: reach services on the host's loopback (a database, the server's admin port, a
# metrics endpoint). argv[1] is the port of a TCP listener the test opened on the host's
# 127.0.0.1; argv[2] the name of an abstract unix socket it listens on (abstract sockets
# belong to the network namespace). Both connects must be refused, while the program's own
# loopback works.
import errno
import socket
import sys

port = int(sys.argv[1])
abstract = "\0" + sys.argv[2]


def connect(name, family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(addr)
        print(name, "CONNECTED")
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__)
    finally:
        s.close()


connect("host-tcp4", socket.AF_INET, ("127.0.0.1", port))
connect("host-tcp4-localhost", socket.AF_INET, ("localhost", port))
connect("host-abstract-unix", socket.AF_UNIX, abstract)

# Its own loopback is fine: listen and connect inside the box.
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen(1)
connect("own-loopback", socket.AF_INET, srv.getsockname())
