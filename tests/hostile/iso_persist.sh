# Attack: leave files behind for the next run (the next student) in every writable place —
# /tmp, /dev/shm, /var/tmp and the work dir. "plant TOKEN" writes a file named TOKEN in each;
# "look TOKEN" (a later run) reports whether each is still there: all must be absent.
mode=$1
token=$2
for dir in /tmp /dev/shm /var/tmp /work "$HOME"; do
    f="$dir/$token"
    if [ "$mode" = plant ]; then
        if echo "left by an earlier run" > "$f" && echo hidden > "$dir/.$token"; then
            echo "planted $dir"
        else
            echo "cannot write $dir"
        fi
    elif [ -e "$f" ] || [ -e "$dir/.$token" ]; then
        echo "FOUND $dir"
    else
        echo "absent $dir"
    fi
done
