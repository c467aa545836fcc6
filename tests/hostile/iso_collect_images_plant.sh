# Attack: after a run the supervisor reads the images a program drew back from /work
# (RunSpec::collect with a name filter) — plant things with image names that a naive reader
# would follow or hang on: symlinks named *.png to /etc/shadow, to /proc/1/environ (the init's
# copy of the server's environment), to a host file (argv[1]) and to directories; FIFOs named
# *.png that block whoever opens them; hardlinks to files outside the work dir; a directory
# named like an image. Only the regular files a.png, big.png (listed, too big to read),
# sub/b.svg and trap.png/inner.gif may come back.
sentinel=$1
printf 'png-a' > /work/a.png
head -c 2000 /dev/zero > /work/big.png
mkdir /work/sub /work/trap.png
printf '<svg/>' > /work/sub/b.svg
printf 'gif' > /work/trap.png/inner.gif
echo notes > /work/notes.txt
ln -s /etc/shadow /work/shadow.png
ln -s /proc/1/environ /work/environ.png
ln -s "$sentinel" /work/sentinel.png
ln -s / /work/root.png
ln -s /etc /work/sub/etc.png
ln -s ../../../../../etc/passwd /work/sub/relative.svg
mkfifo /work/fifo.png
mkfifo /work/sub/fifo.jpg
for target in /etc/passwd /etc/ld.so.cache "$sentinel"; do
    if ln "$target" "/work/hard_$(basename "$target").png" 2>/dev/null; then
        echo "hardlink $target CREATED"
    else
        echo "hardlink $target refused"
    fi
done
ls /work | tr '\n' ' '
echo
