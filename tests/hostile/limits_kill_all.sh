# Attack: `kill -9 -1` from inside — SIGKILL to every process the program may signal. Run bare
# as root this kills the machine's processes; in the sandbox it must reach only the sandbox's
# own processes (here: a background sleep), never the host, the supervisor or the caller.
sleep 100 &
bg=$!
kill -9 -1
echo "after kill -1: alive"
wait $bg
echo "background sleep: $?"
