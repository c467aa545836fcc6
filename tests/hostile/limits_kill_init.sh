# Attack: signal the sandbox's pid 1 (its init) — SIGKILL and SIGTERM — hoping to kill the
# init and with it the run's supervision. The init is invisible (hidepid) and owned by
# another uid: the kills must fail and the program keep running.
kill -9 1 2>/dev/null
echo "kill -9 1: $?"
kill -TERM 1 2>/dev/null
echo "kill -TERM 1: $?"
ls /proc | grep -qx 1 && echo "pid 1 visible" || echo "pid 1 invisible"
echo "still alive"
