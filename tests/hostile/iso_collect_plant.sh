# Attack: the supervisor reads build outputs back from /work after the run (RunSpec::collect)
# — plant things there that a naive reader would follow or hang on: symlinks to /etc/shadow,
# to /proc/1/environ (the init's copy of the server's environment), to a host file (argv[1])
# and to directories (/, /etc); a FIFO that blocks whoever opens it; hardlinks to files
# outside the work dir. Only out.txt and sub/inner.txt, the regular files, may come back.
sentinel=$1
echo built > /work/out.txt
mkdir /work/sub
echo inner > /work/sub/inner.txt
ln -s /etc/shadow /work/shadow_link
ln -s /proc/1/environ /work/environ_link
ln -s "$sentinel" /work/sentinel_link
ln -s / /work/root_link
ln -s /etc /work/sub/etc_link
ln -s ../../../../../etc/passwd /work/sub/relative_link
mkfifo /work/fifo
mkfifo /work/sub/fifo2
for target in /etc/passwd /etc/ld.so.cache /usr/bin/true "$sentinel"; do
    if ln "$target" "/work/hard_$(basename "$target")" 2>/dev/null; then
        echo "hardlink $target CREATED"
    else
        echo "hardlink $target refused"
    fi
done
ls /work | tr '\n' ' '
echo
